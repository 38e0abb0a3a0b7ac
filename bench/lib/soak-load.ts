/**
 * The soak's mixed load against one broker, built from the project's own client (and raw sockets where a
 * client must misbehave): publishers at QoS 0/1/2 with some retained messages on a bounded topic set,
 * wildcard and shared subscribers, a steady churn of short-lived clients (clean and persistent sessions,
 * v3.1/3.1.1/5.0, some dropped without DISCONNECT so their wills fire), and a few slow readers: some read
 * in bursts, some stall until the broker gives up on them, then come back.
 *
 * Every count is cumulative; the caller samples it. Everything stops with `stop()`.
 */
import net from 'node:net';
import { type Client, connect } from '../../src/client/index.js';
import { encode, PacketParser } from '../../src/packets/index.js';
import type { ProtocolVersionNumber, QoS } from '../../src/packets/types.js';
import { Rng } from './rng.js';

export interface SoakLoadOptions {
  readonly port: number;
  readonly seed: number;
  /** Publishing clients and messages per second each. */
  readonly publishers: number;
  readonly publishRate: number;
  /** Short-lived clients started per second. */
  readonly churnPerSecond: number;
  /** Slow readers that read in bursts, and readers that stall until disconnected. */
  readonly slowReaders: number;
  readonly stalledReaders: number;
}

export interface SoakCounts {
  published: [number, number, number];
  publishErrors: number;
  received: number;
  /** End-to-end latencies (ms) since the last `takeLatencies`. */
  latencies: number[];
  sharedReceived: number[];
  churnConnects: number;
  churnFailures: number;
  slowReaderBytes: number;
  slowReaderDisconnects: number;
  clientErrors: number;
}

const SITES = 8;
const DEVICES = 16;
const METRICS = ['temp', 'humidity', 'power', 'status'];
const RETAINED_TOPICS = 200;
const SHARED_MEMBERS = 3;
/** Client ids the churn cycles through: each comes back every CHURN_IDS / churnPerSecond seconds. */
const CHURN_IDS = 200;
const PINGREQ = Buffer.from([0xc0, 0x00]);

/** A publish payload: 8 bytes of performance.now() for latency, then filler. */
function payload(rng: Rng): Buffer {
  const out = Buffer.alloc(16 + rng.int(480), 0x61);
  out.writeDoubleBE(performance.now(), 0);
  return out;
}

export class SoakLoad {
  readonly counts: SoakCounts = {
    published: [0, 0, 0],
    publishErrors: 0,
    received: 0,
    latencies: [],
    sharedReceived: new Array<number>(SHARED_MEMBERS).fill(0),
    churnConnects: 0,
    churnFailures: 0,
    slowReaderBytes: 0,
    slowReaderDisconnects: 0,
    clientErrors: 0,
  };
  private readonly rng: Rng;
  private readonly clients: Client[] = [];
  private readonly sockets = new Set<net.Socket>();
  private readonly timers: NodeJS.Timeout[] = [];
  private stopped = false;
  private churnSeq = 0;

  constructor(private readonly options: SoakLoadOptions) {
    this.rng = new Rng(options.seed);
  }

  /** Connect the long-lived clients and start every activity. */
  async start(): Promise<void> {
    const o = this.options;
    // Subscribers first, so they see the publishers' first messages.
    const wildcard: [string, QoS, ProtocolVersionNumber][] = [
      ['soak/+/+/temp', 0, 4],
      ['soak/site-1/#', 1, 5],
      ['soak/+/device-3/+', 2, 5],
      ['soak/retained/#', 1, 4],
      ['soak/wills/#', 1, 5],
      ['soak/#', 0, 3],
    ];
    for (const [i, [filter, qos, version]] of wildcard.entries()) {
      const client = await this.longLived(`soak-sub-${i}`, version);
      await client.subscribe(filter, { qos, maxBuffered: 1 });
      client.onMessage((m) => this.onMessage(m.payload));
    }
    for (let member = 0; member < SHARED_MEMBERS; member++) {
      const client = await this.longLived(`soak-shared-${member}`, 5);
      await client.subscribe('$share/workers/soak/+/+/power', { qos: 1, maxBuffered: 1 });
      client.onMessage(() => {
        (this.counts.sharedReceived[member] as number)++;
        this.counts.received++;
      });
    }
    for (let i = 0; i < o.publishers; i++) {
      const client = await this.longLived(`soak-pub-${i}`, i % 3 === 0 ? 4 : 5);
      this.every(1000 / o.publishRate, () => this.publishFrom(client, i));
    }
    for (let i = 0; i < o.slowReaders; i++) this.slowReader(`soak-slow-${i}`, false);
    for (let i = 0; i < o.stalledReaders; i++) this.slowReader(`soak-stalled-${i}`, true);
    if (o.churnPerSecond > 0) this.every(1000 / o.churnPerSecond, () => void this.churn());
  }

  /** Latencies since the last call (and forget them). */
  takeLatencies(): number[] {
    const out = this.counts.latencies;
    this.counts.latencies = [];
    return out;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    for (const socket of this.sockets) socket.destroy();
    await Promise.all(this.clients.map((c) => c.end({ timeoutMs: 1000 }).catch(() => undefined)));
  }

  private every(ms: number, action: () => void): void {
    this.timers.push(setInterval(action, Math.max(1, ms)));
  }

  private onMessage(body: Buffer): void {
    this.counts.received++;
    if (body.length >= 8) this.counts.latencies.push(performance.now() - body.readDoubleBE(0));
  }

  private async longLived(clientId: string, protocolVersion: ProtocolVersionNumber): Promise<Client> {
    const client = await connect(`mqtt://127.0.0.1:${this.options.port}`, {
      clientId,
      protocolVersion,
      clean: true,
      keepalive: 30,
      reconnect: { initialDelayMs: 200, maxDelayMs: 2000 },
    });
    client.onEvent((event) => {
      if (event.type === 'error') this.counts.clientErrors++;
    });
    this.clients.push(client);
    return client;
  }

  private publishFrom(client: Client, index: number): void {
    if (client.status !== 'connected') return;
    const rng = this.rng;
    const r = rng.int(10);
    const qos: QoS = r < 6 ? 0 : r < 9 ? 1 : 2;
    const retained = rng.chance(0.05);
    const topic = retained
      ? `soak/retained/${rng.int(RETAINED_TOPICS)}`
      : `soak/site-${rng.int(SITES)}/device-${(index + rng.int(2)) % DEVICES}/${rng.pick(METRICS)}`;
    // Now and then a retained topic is cleared (empty payload), so the store churns but stays bounded.
    const body = retained && rng.chance(0.1) ? Buffer.alloc(0) : payload(rng);
    this.counts.published[qos]++;
    client.publish(topic, body, { qos, retain: retained }).catch(() => {
      this.counts.publishErrors++;
    });
  }

  /** One short-lived client: connect, subscribe, publish a little, leave one of several ways. */
  private async churn(): Promise<void> {
    if (this.stopped) return;
    const rng = this.rng;
    const id = `soak-churn-${this.churnSeq++ % CHURN_IDS}`;
    const version = rng.pick<ProtocolVersionNumber>([3, 4, 5, 5]);
    if (rng.chance(0.25)) {
      this.droppedWithWill(id, version);
      return;
    }
    try {
      const persistent = rng.chance(0.4);
      const client = await connect(`mqtt://127.0.0.1:${this.options.port}`, {
        clientId: id,
        protocolVersion: version,
        clean: !persistent,
        ...(version === 5 && persistent ? { sessionExpiryInterval: 10 } : {}),
        reconnect: false,
        connectTimeoutMs: 5000,
      });
      this.counts.churnConnects++;
      // One device's topics: a persistent session that is away queues a bounded number of messages.
      const filter = `soak/site-${rng.int(SITES)}/device-${rng.int(DEVICES)}/#`;
      await client.subscribe(filter, { qos: rng.pick<QoS>([0, 1, 2]), maxBuffered: 1 });
      for (let i = 0; i < 3; i++) {
        await client.publish(`soak/site-${rng.int(SITES)}/churn/status`, payload(rng), {
          qos: rng.pick<QoS>([0, 1, 2]),
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 200 + rng.int(800)));
      await client.end({ timeoutMs: 2000 });
    } catch {
      this.counts.churnFailures++;
    }
  }

  /** A raw client with a will that vanishes without DISCONNECT. */
  private droppedWithWill(clientId: string, version: ProtocolVersionNumber): void {
    const socket = net.connect({ host: '127.0.0.1', port: this.options.port });
    this.sockets.add(socket);
    socket.on('error', () => {});
    socket.on('data', () => {});
    socket.once('close', () => this.sockets.delete(socket));
    socket.once('connect', () => {
      this.counts.churnConnects++;
      socket.write(
        encode(
          {
            type: 'connect',
            protocolName: version === 3 ? 'MQIsdp' : 'MQTT',
            protocolVersion: version,
            clean: true,
            keepalive: 10,
            clientId,
            will: { topic: `soak/wills/${clientId}`, payload: Buffer.from('gone'), qos: 1, retain: false },
          },
          version,
        ),
      );
      setTimeout(() => socket.destroy(), 300 + this.rng.int(700));
    });
  }

  /**
   * A reader subscribed to everything: `stalled` ones stop reading until the broker disconnects them for
   * not reading, then come back; the others read for half a second every five seconds.
   */
  private slowReader(clientId: string, stalled: boolean): void {
    if (this.stopped) return;
    const socket = net.connect({ host: '127.0.0.1', port: this.options.port });
    this.sockets.add(socket);
    const parser = new PacketParser({ protocolVersion: 4 });
    let subscribed = false;
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      this.counts.slowReaderBytes += chunk.length;
      if (subscribed) return;
      try {
        parser.push(chunk, (packet) => {
          if (packet.type !== 'suback') return;
          subscribed = true;
          socket.pause();
          if (!stalled) this.burstReads(socket);
          // A paused socket never reads the broker's FIN: a PINGREQ now and then fails once the broker has
          // closed the connection, which is how a stalled reader learns it was dropped.
          const ping = setInterval(() => {
            if (socket.destroyed) clearInterval(ping);
            else socket.write(PINGREQ);
          }, 5000);
          this.timers.push(ping);
        });
      } catch {
        socket.destroy();
      }
    });
    socket.once('connect', () => {
      socket.write(
        encode(
          { type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean: true, keepalive: 0, clientId },
          4,
        ),
      );
      socket.write(
        encode({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'soak/#', qos: 0 }] }, 4),
      );
    });
    socket.once('close', () => {
      this.sockets.delete(socket);
      if (this.stopped) return;
      this.counts.slowReaderDisconnects++;
      const again = setTimeout(() => this.slowReader(clientId, stalled), 2000);
      this.timers.push(again);
    });
  }

  private burstReads(socket: net.Socket): void {
    const cycle = setInterval(() => {
      if (socket.destroyed) {
        clearInterval(cycle);
        return;
      }
      socket.resume();
      setTimeout(() => socket.pause(), 500);
    }, 5000);
    this.timers.push(cycle);
  }
}
