/**
 * The cluster benchmark's load: publishers and subscribers on raw connections spread over the nodes so
 * that every delivery crosses nodes (unless there is one node), with end-to-end latency from a timestamp in
 * each payload. Two modes: as fast as a per-publisher window allows (throughput), or at a fixed total rate
 * (latency at that rate).
 */
import { performance } from 'node:perf_hooks';
import { encodePublish, type QoS } from '../../src/packets/index.js';
import { LatencySamples } from './latency-samples.js';
import { RawClient } from './raw-client.js';
import { PAYLOAD_SIZE } from './workloads.js';

export interface ClusterWorkload {
  readonly name: string;
  /** `fanin`: publishers on the other nodes, one `cb/#` subscriber on the first; `fanout`: the reverse. */
  readonly kind: 'fanin' | 'fanout';
  readonly qos: QoS;
  readonly publishers: number;
  readonly subscribers: number;
  /** Messages per publisher. */
  readonly messages: number;
  /** Messages per second over all publishers; undefined: as fast as the window allows. */
  readonly rate: number | undefined;
  /** Messages of one publisher sent and not yet delivered to every subscriber. */
  readonly window: number;
}

export interface ClusterRunResult {
  readonly delivered: number;
  readonly expected: number;
  readonly elapsedMs: number;
  readonly throughput: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Rate rows: the p99 of every message, the first second's (the warm-up) included. */
  readonly p99WholeRunMs?: number;
  readonly complete: boolean;
}

const BATCH = 64;
const STALL_MS = 5000;
/**
 * Rate rows leave the messages of their first second out of p50/p99, as the broker benchmark's paced row
 * does (JIT warm-up, routes settling); the whole run's p99 is reported beside them.
 */
const WARMUP_MS = 1000;

/** Where the clients go: subscribers and publishers over the node ports so deliveries cross nodes. */
function placement(ports: readonly number[], w: ClusterWorkload): { pubs: number[]; subs: number[] } {
  const first = ports[0] as number;
  const others = ports.length > 1 ? ports.slice(1) : [first];
  const spread = (count: number, over: readonly number[]): number[] =>
    Array.from({ length: count }, (_, i) => over[i % over.length] as number);
  return w.kind === 'fanin'
    ? { pubs: spread(w.publishers, others), subs: spread(w.subscribers, [first]) }
    : { pubs: spread(w.publishers, [first]), subs: spread(w.subscribers, others) };
}

/** Run one workload against nodes listening on `ports`. */
export async function runClusterWorkload(
  ports: readonly number[],
  w: ClusterWorkload,
): Promise<ClusterRunResult> {
  const { pubs, subs } = placement(ports, w);
  const expected = w.publishers * w.messages * w.subscribers;
  const latencies = new LatencySamples(Math.min(expected, 4_000_000), w.rate !== undefined);
  let delivered = 0;
  let lastDelivery = performance.now();
  const deliveredBy = new Float64Array(w.publishers);
  const sent = new Float64Array(w.publishers);
  const acked = new Float64Array(w.publishers);
  let wake: (() => void) | undefined;

  const sink = {
    message(stampMs: number, publisher: number, nowMs: number): void {
      delivered++;
      lastDelivery = nowMs;
      deliveredBy[publisher] = (deliveredBy[publisher] ?? 0) + 1;
      latencies.add(stampMs, nowMs);
      wake?.();
    },
    acks(client: RawClient, count: number): void {
      acked[client.publisherIndex] = (acked[client.publisherIndex] ?? 0) + count;
      wake?.();
    },
  };

  const subscribers: RawClient[] = [];
  for (const [i, port] of subs.entries()) {
    const client = await RawClient.connect(port, `cb-sub-${i}`, 10_000);
    await client.subscribe(w.kind === 'fanin' ? 'cb/#' : 'cb/fan', w.qos, 10_000);
    client.startScanning(sink);
    subscribers.push(client);
  }
  const publishers: RawClient[] = [];
  for (const [i, port] of pubs.entries()) {
    const client = await RawClient.connect(port, `cb-pub-${i}`, 10_000);
    client.publisherIndex = i;
    client.startScanning(sink);
    publishers.push(client);
  }
  // Routes travel through Redis: give them a moment to reach every node.
  await new Promise((resolve) => setTimeout(resolve, 300));

  const templates = publishers.map((_, i) => template(w, i));
  const nextId = new Uint16Array(w.publishers).fill(1);
  const started = performance.now();
  latencies.measuredFrom = started + WARMUP_MS;
  const perPublisherRate = w.rate === undefined ? undefined : w.rate / w.publishers;

  const pump = (): boolean => {
    const now = performance.now();
    let remaining = false;
    for (let p = 0; p < w.publishers; p++) {
      const client = publishers[p] as RawClient;
      let budget = w.messages - (sent[p] as number);
      if (budget <= 0) continue;
      remaining = true;
      if (perPublisherRate !== undefined) {
        budget = Math.min(
          budget,
          Math.floor(((now - started) / 1000) * perPublisherRate) - (sent[p] as number),
        );
      }
      const inFlight = (sent[p] as number) - Math.floor((deliveredBy[p] as number) / w.subscribers);
      budget = Math.min(budget, w.window - inFlight, BATCH);
      if (w.qos > 0) budget = Math.min(budget, w.window - ((sent[p] as number) - (acked[p] as number)));
      if (budget <= 0 || client.socket.writableLength > 1 << 20) continue;
      const t = templates[p] as Template;
      const out = Buffer.allocUnsafe(t.packet.length * budget);
      for (let k = 0; k < budget; k++) {
        const at = k * t.packet.length;
        t.packet.copy(out, at);
        out.writeDoubleLE(performance.now(), at + t.payloadOffset);
        if (t.idOffset >= 0) {
          const id = nextId[p] as number;
          out.writeUInt16BE(id, at + t.idOffset);
          nextId[p] = id === 65_535 ? 1 : id + 1;
        }
      }
      client.socket.write(out);
      sent[p] = (sent[p] as number) + budget;
    }
    return remaining;
  };

  await new Promise<void>((resolve) => {
    const timer = setInterval(() => step(), perPublisherRate === undefined ? 5 : 1);
    const step = (): void => {
      const more = pump();
      const now = performance.now();
      if ((!more && delivered >= expected) || now - lastDelivery > STALL_MS) {
        clearInterval(timer);
        wake = undefined;
        resolve();
      }
    };
    wake = perPublisherRate === undefined ? () => setImmediate(step) : undefined;
    step();
  });
  const elapsedMs = lastDelivery - started;
  for (const client of [...publishers, ...subscribers]) client.close();
  return {
    delivered,
    expected,
    elapsedMs,
    throughput: (delivered / elapsedMs) * 1000,
    ...latencies.summary(),
    complete: delivered >= expected,
  };
}

interface Template {
  packet: Buffer;
  payloadOffset: number;
  idOffset: number;
}

function template(w: ClusterWorkload, publisher: number): Template {
  const payload = Buffer.alloc(PAYLOAD_SIZE, 0x2e);
  payload.writeUInt32LE(publisher, 8);
  const topic = w.kind === 'fanin' ? `cb/${publisher}` : 'cb/fan';
  const { header } = encodePublish(
    {
      type: 'publish',
      topic,
      payload,
      qos: w.qos,
      retain: false,
      dup: false,
      ...(w.qos > 0 ? { packetId: 1 } : {}),
    },
    4,
  );
  return {
    packet: Buffer.concat([header, payload]),
    payloadOffset: header.length,
    idOffset: w.qos > 0 ? header.length - 2 : -1,
  };
}
