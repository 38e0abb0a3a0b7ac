/**
 * The connection flood: a broker in a child process, a set of publishers measuring their own round-trip
 * latency through it (each subscribes to its own topic and publishes timestamps at QoS 0), then a burst of
 * connection attempts from several processes, half of them never sending CONNECT. Latency is reported
 * before, during and after the burst; the silent connections must be closed by the broker after its connect
 * timeout; the broker must survive running out of descriptors.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { encode, PacketParser } from '../../src/packets/index.js';
import type { FloodWorkerConfig, FloodWorkerReport } from './flood-worker.js';
import { roundTrip } from './probe-client.js';
import { type ChildExit, launchProbeBroker, type ProbeBrokerOptions } from './probe-launcher.js';

export interface FloodOptions {
  readonly attempts: number;
  /** Generator processes (each below the per-process descriptor limit). */
  readonly processes: number;
  readonly publishers: number;
  /** Messages per second per publisher. */
  readonly publishRate: number;
  readonly connectTimeoutMs: number;
  /** Attempts per second over all processes; 0 (default): as fast as they can. */
  readonly attemptRate?: number;
  readonly beforeMs: number;
  readonly afterMs: number;
  /** Longest wait, after the burst, for every silent connection to be closed. */
  readonly settleTimeoutMs: number;
  readonly broker?: ProbeBrokerOptions;
  readonly log?: (line: string) => void;
}

export interface PhaseLatency {
  readonly name: 'before' | 'flood' | 'after';
  readonly durationMs: number;
  readonly sent: number;
  readonly received: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export interface FloodReport {
  readonly phases: readonly PhaseLatency[];
  readonly attempted: number;
  readonly tcpConnected: number;
  readonly connackOk: number;
  readonly connackRefused: number;
  readonly lostBeforeConnack: number;
  readonly droppedAfterConnack: number;
  readonly silentConnected: number;
  /** Per silent connection the broker closed: milliseconds from `connect()` to the close (upper bound). */
  readonly silentClosedAfterMs: readonly number[];
  /** The same from the client's `connect` event (lower bound; late when the generator is busy). */
  readonly silentClosedAfterConnectEventMs: readonly number[];
  /** Silent connections the broker accepted (the others never left the kernel's queues). */
  readonly silentAcceptedByBroker: number;
  /** The worst publisher latencies during the flood: when (ms after the burst began) and how long. */
  readonly spikes: readonly { readonly atMs: number; readonly latencyMs: number }[];
  readonly silentStillOpen: number;
  readonly burstMs: number;
  readonly errors: Readonly<Record<string, number>>;
  /** Publishers whose connection the broker closed during the run (should be 0). */
  readonly publishersLost: number;
  readonly brokerCrash: ChildExit | undefined;
  readonly brokerAliveAfter: boolean;
  readonly roundTripAfterMs: number | undefined;
  readonly listenerErrors: Readonly<Record<string, number>>;
  readonly rssBeforeKiB: number;
  readonly rssPeakKiB: number;
  readonly rssAfterKiB: number;
  /** Most connections the client side saw established at once. */
  readonly peakConnections: number;
  /** Most connections the broker held open at once (sampled), and how many it accepted in all. */
  readonly brokerPeakConnections: number;
  readonly brokerAccepted: number;
}

const FROM_SOURCE = import.meta.url.endsWith('.ts');

/** Latency quantile of a sorted array (nearest rank). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

/** A client that publishes timestamps to its own topic and records how long each took to come back. */
class LatencyPublisher {
  lost = false;
  private readonly parser = new PacketParser({ protocolVersion: 4 });
  private closing = false;

  private constructor(
    private readonly socket: net.Socket,
    private readonly topic: string,
  ) {}

  static async start(
    port: number,
    index: number,
    sink: (latencyMs: number) => void,
  ): Promise<LatencyPublisher> {
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    const topic = `flood/latency/${index}`;
    const publisher = new LatencyPublisher(socket, topic);
    const ready = new Promise<void>((resolve, reject) => {
      let acks = 0;
      const timer = setTimeout(() => reject(new Error(`publisher ${index}: no CONNACK/SUBACK`)), 10_000);
      socket.on('data', (chunk: Buffer) => {
        publisher.parser.push(chunk, (packet) => {
          if (packet.type === 'connack' || packet.type === 'suback') {
            if (++acks === 2) {
              clearTimeout(timer);
              resolve();
            }
          } else if (packet.type === 'publish' && packet.payload.length >= 8) {
            sink(performance.now() - packet.payload.readDoubleBE(0));
          }
        });
      });
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      if (!publisher.closing) publisher.lost = true;
    });
    socket.write(
      encode(
        {
          type: 'connect',
          protocolName: 'MQTT',
          protocolVersion: 4,
          clean: true,
          keepalive: 0,
          clientId: `lat-${index}`,
        },
        4,
      ),
    );
    socket.write(
      encode({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: topic, qos: 0 }] }, 4),
    );
    await ready;
    return publisher;
  }

  publish(): boolean {
    if (this.lost) return false;
    const payload = Buffer.alloc(16);
    payload.writeDoubleBE(performance.now(), 0);
    this.socket.write(
      encode({ type: 'publish', topic: this.topic, payload, qos: 0, retain: false, dup: false }, 4),
    );
    return true;
  }

  close(): void {
    this.closing = true;
    this.socket.destroy();
  }
}

interface Worker {
  readonly child: ChildProcess;
  report(): Promise<FloodWorkerReport>;
}

async function startWorker(config: FloodWorkerConfig): Promise<Worker> {
  const script = fileURLToPath(new URL(`./flood-worker${FROM_SOURCE ? '.ts' : '.js'}`, import.meta.url));
  const child = spawn(
    process.execPath,
    [...(FROM_SOURCE ? ['--import', 'tsx'] : []), script, JSON.stringify(config)],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('flood worker did not start')), 15_000);
    child.once('message', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return {
    child,
    report: () =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('flood worker did not report')), 15_000);
        const onMessage = (message: unknown): void => {
          if ((message as { type?: unknown }).type !== 'report') return;
          clearTimeout(timer);
          child.off('message', onMessage);
          resolve(message as FloodWorkerReport);
        };
        child.on('message', onMessage);
        child.send({ cmd: 'report' });
      }),
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function runFlood(options: FloodOptions): Promise<FloodReport> {
  const log = options.log ?? (() => {});
  const broker = await launchProbeBroker({ connectTimeoutMs: options.connectTimeoutMs, ...options.broker });
  const workers: Worker[] = [];
  const publishers: LatencyPublisher[] = [];
  let burstAt = 0;
  const spikes: { atMs: number; latencyMs: number }[] = [];
  const record = (latencyMs: number): void => {
    phase.latencies.push(latencyMs);
    if (phase.name === 'flood' && latencyMs > 20) {
      spikes.push({ atMs: performance.now() - burstAt, latencyMs });
      if (spikes.length > 1000) spikes.sort((a, b) => b.latencyMs - a.latencyMs).splice(100);
    }
  };
  let phase: { name: PhaseLatency['name']; started: number; sent: number; latencies: number[] } = {
    name: 'before',
    started: performance.now(),
    sent: 0,
    latencies: [],
  };
  const phases: PhaseLatency[] = [];
  const closePhase = (next: PhaseLatency['name'] | undefined): void => {
    const sorted = phase.latencies.sort((a, b) => a - b);
    phases.push({
      name: phase.name,
      durationMs: performance.now() - phase.started,
      sent: phase.sent,
      received: sorted.length,
      p50: quantile(sorted, 0.5),
      p99: quantile(sorted, 0.99),
      max: sorted.at(-1) ?? Number.NaN,
    });
    if (next !== undefined) phase = { name: next, started: performance.now(), sent: 0, latencies: [] };
  };
  let rssPeakKiB = 0;
  let peakConnections = 0;
  let brokerPeakConnections = 0;
  let brokerAccepted = 0;
  let listenerErrors: Readonly<Record<string, number>> = {};
  const rssTimer = setInterval(() => {
    rssPeakKiB = Math.max(rssPeakKiB, broker.rssKiB() || 0);
  }, 250);
  let publishTimer: NodeJS.Timeout | undefined;
  try {
    const perProcess = Math.ceil(options.attempts / options.processes);
    for (let p = 0; p < options.processes; p++) {
      const count = Math.min(perProcess, options.attempts - p * perProcess);
      if (count <= 0) break;
      workers.push(
        await startWorker({
          port: broker.port,
          count,
          localAddress: `127.0.0.${2 + p}`,
          idPrefix: `flood-${p}`,
          attemptRate: (options.attemptRate ?? 0) / options.processes,
        }),
      );
    }
    for (let i = 0; i < options.publishers; i++) {
      publishers.push(await LatencyPublisher.start(broker.port, i, record));
    }
    const rssBeforeKiB = broker.rssKiB();
    publishTimer = setInterval(() => {
      for (const publisher of publishers) if (publisher.publish()) phase.sent++;
    }, 1000 / options.publishRate);
    await sleep(options.beforeMs);
    closePhase('flood');
    log(`burst: ${options.attempts} attempts from ${workers.length} processes`);
    burstAt = performance.now();
    for (const worker of workers) worker.child.send({ cmd: 'go' });
    const deadline = burstAt + options.settleTimeoutMs;
    let reports: FloodWorkerReport[] = [];
    let settledAt: number | undefined;
    for (;;) {
      await sleep(500);
      if (broker.crashed() !== undefined) break;
      reports = await Promise.all(workers.map((w) => w.report()));
      const held = await broker.probe({}, 5000).catch(() => undefined);
      const connected = reports.reduce((total, r) => total + r.tcpConnected, 0);
      const failed = reports.reduce(
        (total, r) => total + Object.values(r.errors).reduce((a, b) => a + b, 0),
        0,
      );
      const stillOpen = reports.reduce((total, r) => total + r.silentStillOpen, 0);
      const acked = reports.reduce((total, r) => total + r.connackOk, 0);
      peakConnections = Math.max(peakConnections, connected);
      if (held !== undefined) {
        brokerPeakConnections = Math.max(brokerPeakConnections, held.connections);
        brokerAccepted = held.connectionsTotal;
        listenerErrors = held.listenerErrors;
      }
      log(
        `  ${((performance.now() - burstAt) / 1000).toFixed(1)} s: client side established ${connected}, failed ${failed}, ` +
          `silent still open ${stillOpen}; broker holds ${held?.connections ?? '?'} (accepted ${held?.connectionsTotal ?? '?'})`,
      );
      // Settled: every attempt resolved, and the broker holds nothing but publishers and CONNACKed clients.
      const brokerDone =
        held !== undefined &&
        connected + failed >= options.attempts &&
        held.connections <= options.publishers + acked &&
        performance.now() - burstAt > options.connectTimeoutMs;
      if (brokerDone && settledAt === undefined) settledAt = performance.now();
      if (connected + failed >= options.attempts) {
        if (stillOpen === 0) break;
        // Silent connections still open on the client side that the broker no longer holds never reached
        // it; a second more lets the generators see the broker's last closes first.
        if (settledAt !== undefined && performance.now() - settledAt >= 1000) break;
      }
      if (performance.now() > deadline) break;
    }
    closePhase('after');
    await sleep(options.afterMs);
    closePhase(undefined);
    clearInterval(publishTimer);
    publishTimer = undefined;
    if (broker.crashed() === undefined) reports = await Promise.all(workers.map((w) => w.report()));
    const crash = broker.crashed();
    let roundTripAfterMs: number | undefined;
    if (crash === undefined) {
      try {
        roundTripAfterMs = await roundTrip(broker.port, 'flood-probe', 4, 5000);
      } catch {
        roundTripAfterMs = undefined;
      }
      const last = await broker.probe();
      listenerErrors = last.listenerErrors;
      brokerAccepted = last.connectionsTotal;
    }
    const sum = (key: keyof FloodWorkerReport): number =>
      reports.reduce((total, r) => total + (typeof r[key] === 'number' ? (r[key] as number) : 0), 0);
    const errors: Record<string, number> = {};
    for (const r of reports)
      for (const [code, n] of Object.entries(r.errors)) errors[code] = (errors[code] ?? 0) + n;
    return {
      phases,
      attempted: sum('attempted'),
      tcpConnected: sum('tcpConnected'),
      connackOk: sum('connackOk'),
      connackRefused: sum('connackRefused'),
      lostBeforeConnack: sum('lostBeforeConnack'),
      droppedAfterConnack: sum('droppedAfterConnack'),
      silentConnected: sum('silentConnected'),
      silentClosedAfterMs: reports.flatMap((r) => r.silentClosedAfterMs),
      silentClosedAfterConnectEventMs: reports.flatMap((r) => r.silentClosedAfterConnectEventMs),
      // Accepted in all, less publishers, the connecting half that reached the broker and the probe client.
      silentAcceptedByBroker:
        brokerAccepted -
        options.publishers -
        sum('connackOk') -
        sum('connackRefused') -
        sum('lostBeforeConnack') -
        1,
      spikes: spikes.sort((a, b) => b.latencyMs - a.latencyMs).slice(0, 5),
      silentStillOpen: sum('silentStillOpen'),
      burstMs: Math.max(0, ...reports.map((r) => r.burstMs)),
      errors,
      publishersLost: publishers.filter((p) => p.lost).length,
      brokerCrash: crash,
      brokerAliveAfter: roundTripAfterMs !== undefined,
      roundTripAfterMs,
      listenerErrors,
      rssBeforeKiB,
      rssPeakKiB,
      rssAfterKiB: broker.rssKiB(),
      peakConnections,
      brokerPeakConnections,
      brokerAccepted,
    };
  } finally {
    if (publishTimer !== undefined) clearInterval(publishTimer);
    clearInterval(rssTimer);
    for (const publisher of publishers) publisher.close();
    for (const worker of workers) worker.child.send({ cmd: 'close' });
    await Promise.all(
      workers.map(
        (w) =>
          new Promise((resolve) => (w.child.exitCode !== null ? resolve(0) : w.child.once('exit', resolve))),
      ),
    );
    await broker.stop();
  }
}
