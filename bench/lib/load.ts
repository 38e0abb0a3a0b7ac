/**
 * The load generator: runs one workload against a broker on a loopback port and measures delivered
 * throughput, end-to-end latency, and the CPU both sides spent during the publishing phase.
 *
 * Publishes are pre-encoded with the project codec into one template per publisher holding a whole
 * batch; sending copies the batch, patches timestamps (and packet identifiers at QoS 1) and writes it
 * with one socket.write. Credits come back per received chunk and are spent in one setImmediate pump,
 * so writes stay large under load.
 */
import { performance } from 'node:perf_hooks';
import { encodePublish } from '../../src/packets/index.js';
import { processCpuMs } from './brokers.js';
import { LatencySamples } from './latency-samples.js';
import { RawClient, type ScanSink } from './raw-client.js';
import {
  expectedDeliveries,
  fanoutOf,
  PAYLOAD_SIZE,
  publisherTopic,
  QOS1_INFLIGHT,
  subscriberFilter,
  type Workload,
} from './workloads.js';

/** How a workload run ended. */
export const RunStatus = {
  ok: 'ok',
  timeout: 'timeout',
  stalled: 'stalled',
  crashed: 'crashed',
  error: 'error',
} as const;
export type RunStatus = (typeof RunStatus)[keyof typeof RunStatus];

export interface RunLimits {
  /** Wall-clock limit of the publishing phase. */
  timeLimitMs: number;
  /** End early when nothing was delivered for this long (a broker that dropped messages). */
  stallMs: number;
}

export interface WorkloadResult {
  workload: string;
  broker: string;
  status: RunStatus;
  expected: number;
  delivered: number;
  elapsedMs: number;
  /** Delivered messages per second over the publishing phase. */
  throughput: number;
  p50Ms: number;
  p99Ms: number;
  /** With a warm-up (`Workload.warmupMs`): the p99 of every message, the warm-up's included. */
  p99WholeRunMs?: number;
  /** CPU time / wall time of the broker process; 100 = one core. */
  brokerCpuPct: number;
  /** Same for the generator (this process). */
  generatorCpuPct: number;
  /** Client connections the broker closed during the run. */
  lostConnections: number;
  error?: string;
}

/** Most messages per socket.write. */
const MAX_BATCH = 256;
/** Connections opened concurrently during setup (listen backlogs are small). */
const CONNECT_WAVE = 50;
const HANDSHAKE_TIMEOUT_MS = 10_000;
const WATCHDOG_INTERVAL_MS = 100;

/** One publisher's pre-encoded batch and where to patch it. */
interface Template {
  batch: Buffer;
  packetLength: number;
  payloadOffset: number;
  /** Offset of the packet identifier inside one packet; -1 at QoS 0. */
  idOffset: number;
}

function makeTemplate(workload: Workload, publisher: number): Template {
  const payload = Buffer.alloc(PAYLOAD_SIZE, 0x2e);
  payload.writeDoubleLE(0, 0);
  payload.writeUInt32LE(publisher, 8);
  const { qos } = workload;
  const { header } = encodePublish(
    {
      type: 'publish',
      topic: publisherTopic(workload, publisher),
      payload,
      qos,
      retain: false,
      dup: false,
      ...(qos > 0 ? { packetId: 1 } : {}),
    },
    4,
  );
  const packet = Buffer.concat([header, payload]);
  const batch = Buffer.allocUnsafe(packet.length * MAX_BATCH);
  for (let i = 0; i < MAX_BATCH; i++) packet.copy(batch, i * packet.length);
  return {
    batch,
    packetLength: packet.length,
    payloadOffset: header.length,
    idOffset: qos > 0 ? header.length - 2 : -1,
  };
}

/** Open `count` connections in bounded waves. */
async function connectAll(
  port: number,
  count: number,
  prefix: string,
  setup: (client: RawClient, index: number) => Promise<void>,
  persistent = false,
  v5?: { readonly topicAliasMaximum: number },
): Promise<RawClient[]> {
  const clients: RawClient[] = [];
  for (let start = 0; start < count; start += CONNECT_WAVE) {
    const wave: Promise<RawClient>[] = [];
    for (let i = start; i < Math.min(count, start + CONNECT_WAVE); i++) {
      wave.push(
        RawClient.connect(port, `${prefix}${i}`, HANDSHAKE_TIMEOUT_MS, persistent, v5).then(
          async (client) => {
            await setup(client, i);
            return client;
          },
        ),
      );
    }
    const settled = await Promise.allSettled(wave);
    for (const outcome of settled) if (outcome.status === 'fulfilled') clients.push(outcome.value);
    const failure = settled.find((outcome) => outcome.status === 'rejected');
    if (failure !== undefined) {
      for (const client of clients) client.close();
      throw (failure as PromiseRejectedResult).reason;
    }
  }
  return clients;
}

/**
 * Run one workload against the broker listening on `port` (process `brokerPid`). Never throws for a
 * broker failure: the result says how far it got. `crashed` reports a broker that died mid-run.
 */
export async function runWorkload(
  workload: Workload,
  brokerName: string,
  port: number,
  brokerPid: number,
  limits: RunLimits,
  crashed: () => string | undefined,
): Promise<WorkloadResult> {
  const expected = expectedDeliveries(workload);
  const base = {
    workload: workload.name,
    broker: brokerName,
    expected,
    delivered: 0,
    elapsedMs: 0,
    throughput: 0,
    p50Ms: Number.NaN,
    p99Ms: Number.NaN,
    brokerCpuPct: Number.NaN,
    generatorCpuPct: Number.NaN,
    lostConnections: 0,
  };
  const { qos, publishers: publisherCount, messagesPerPublisher: total, window } = workload;
  const fanout = fanoutOf(workload);
  const inflightLimit = workload.inflight ?? QOS1_INFLIGHT;
  // Pacing: each publisher may have sent at most its share of `ratePerSecond` times the elapsed time.
  const perPublisherRate = workload.ratePerSecond === undefined ? 0 : workload.ratePerSecond / publisherCount;
  let pacedFrom = 0;
  let paceTimer: NodeJS.Timeout | undefined;
  const sent = new Float64Array(publisherCount);
  const acked = new Float64Array(publisherCount);
  const delivered = new Float64Array(publisherCount);
  const dirty = new Uint8Array(publisherCount);
  const dirtyList: number[] = [];
  const templates = Array.from({ length: publisherCount }, (_, i) => makeTemplate(workload, i));
  const warmup = workload.warmupMs ?? 0;
  const latencies = new LatencySamples(Math.min(expected, 4_000_000), warmup > 0);
  let totalDelivered = 0;
  let lastDeliveryMs = 0;
  let nextPacketId = 0;
  let pumpScheduled = false;
  let finish: ((status: RunStatus) => void) | undefined;
  let publisherClients: RawClient[] = [];

  const markDirty = (p: number): void => {
    if (dirty[p] === 0) {
      dirty[p] = 1;
      dirtyList.push(p);
    }
    if (!pumpScheduled) {
      pumpScheduled = true;
      setImmediate(pump);
    }
  };

  const send = (p: number, count: number): void => {
    const template = templates[p] as Template;
    const { packetLength, payloadOffset, idOffset } = template;
    const out = Buffer.allocUnsafe(count * packetLength);
    template.batch.copy(out, 0, 0, count * packetLength);
    const stamp = performance.now();
    for (let i = 0, at = 0; i < count; i++, at += packetLength) {
      out.writeDoubleLE(stamp, at + payloadOffset);
      if (idOffset >= 0) {
        nextPacketId = nextPacketId === 0xffff ? 1 : nextPacketId + 1;
        out.writeUInt16BE(nextPacketId, at + idOffset);
      }
    }
    sent[p] = (sent[p] as number) + count;
    (publisherClients[p] as RawClient).socket.write(out);
  };

  function pump(): void {
    pumpScheduled = false;
    const list = dirtyList.splice(0);
    for (const p of list) {
      dirty[p] = 0;
      const s = sent[p] as number;
      let credit = Math.min(total - s, window - (s - Math.floor((delivered[p] as number) / fanout)));
      if (qos > 0) credit = Math.min(credit, inflightLimit - (s - (acked[p] as number)));
      if (perPublisherRate > 0) {
        const allowed = Math.floor(((performance.now() - pacedFrom) / 1000) * perPublisherRate) + 1;
        if (allowed - s < credit) {
          credit = allowed - s;
          // Come back when the next message is due.
          if (paceTimer === undefined)
            paceTimer = setTimeout(() => {
              paceTimer = undefined;
              for (let q = 0; q < publisherCount; q++) markDirty(q);
            }, 1);
        }
      }
      while (credit > 0) {
        const count = Math.min(credit, MAX_BATCH);
        send(p, count);
        credit -= count;
      }
    }
  }

  const sink: ScanSink = {
    message(stampMs, publisher, nowMs) {
      latencies.add(stampMs, nowMs);
      delivered[publisher] = (delivered[publisher] as number) + 1;
      totalDelivered++;
      lastDeliveryMs = nowMs;
      markDirty(publisher);
      if (totalDelivered >= expected) finish?.('ok');
    },
    acks(client, count) {
      const p = client.publisherIndex;
      acked[p] = (acked[p] as number) + count;
      markDirty(p);
    },
  };

  const prefix = `sb-${workload.name}-${process.pid}-`;
  let subscriberClients: RawClient[] = [];
  try {
    subscriberClients = await connectAll(
      port,
      workload.subscribers,
      `${prefix}s`,
      async (client, i) => {
        await client.subscribe(subscriberFilter(workload, i), qos, HANDSHAKE_TIMEOUT_MS);
        client.startScanning(sink);
      },
      workload.persistent === true,
      workload.subscriberV5,
    );
    publisherClients = await connectAll(
      port,
      publisherCount,
      `${prefix}p`,
      async (client, i) => {
        client.publisherIndex = i;
        client.startScanning(sink);
      },
      workload.persistent === true,
    );
  } catch (err) {
    for (const client of subscriberClients) client.close();
    return { ...base, status: crashed() !== undefined ? 'crashed' : 'error', error: String(err) };
  }

  const cpuBefore = process.cpuUsage();
  const brokerBefore = processCpuMs(brokerPid);
  const startMs = performance.now();
  lastDeliveryMs = startMs;
  const status = await new Promise<RunStatus>((resolve) => {
    let lastCount = 0;
    let lastProgressMs = startMs;
    const watchdog = setInterval(() => {
      const now = performance.now();
      if (totalDelivered !== lastCount) {
        lastCount = totalDelivered;
        lastProgressMs = now;
      }
      if (crashed() !== undefined) finish?.('crashed');
      else if (now - startMs > limits.timeLimitMs) finish?.('timeout');
      else if (now - lastProgressMs > limits.stallMs) finish?.('stalled');
    }, WATCHDOG_INTERVAL_MS);
    finish = (outcome) => {
      finish = undefined;
      clearInterval(watchdog);
      resolve(outcome);
    };
    pacedFrom = performance.now();
    latencies.measuredFrom = pacedFrom + warmup;
    for (let p = 0; p < publisherCount; p++) markDirty(p);
  });
  if (paceTimer !== undefined) clearTimeout(paceTimer);
  const endMs = status === 'ok' ? lastDeliveryMs : performance.now();
  const cpu = process.cpuUsage(cpuBefore);
  const brokerAfter = processCpuMs(brokerPid);
  const elapsedMs = Math.max(endMs - startMs, 0.001);

  const lostConnections = [...subscriberClients, ...publisherClients].filter((c) => c.lost).length;
  for (const client of subscriberClients) client.close();
  for (const client of publisherClients) client.close();
  const crashText = crashed();
  return {
    ...base,
    status,
    delivered: totalDelivered,
    elapsedMs,
    throughput: (totalDelivered * 1000) / elapsedMs,
    ...latencies.summary(),
    brokerCpuPct: ((brokerAfter - brokerBefore) * 100) / elapsedMs,
    generatorCpuPct: (((cpu.user + cpu.system) / 1000) * 100) / elapsedMs,
    lostConnections,
    ...(crashText !== undefined ? { error: crashText.slice(-500) } : {}),
  };
}
