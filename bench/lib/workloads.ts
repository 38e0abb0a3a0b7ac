/**
 * The benchmark workloads, identical for every broker. Topics are `bench/<publisher>/x`, so the fan-in
 * subscriber's `bench/+/x` matches every publisher.
 */
import type { QoS } from '../../src/packets/index.js';

/** The brokers a persistent workload is run against, when they are installed. */
export const DURABLE_BROKERS = ['starling', 'starling-sqlite', 'mosquitto-persist'] as const;

/** How publishers and subscribers are wired. */
export const Topology = {
  /** mqtt-stresser: worker i publishes to its own topic and its own subscriber reads it. */
  pairs: 'pairs',
  /** One publisher, every subscriber on its topic. */
  fanout: 'fanout',
  /** Every publisher on its own topic, one wildcard subscriber. */
  fanin: 'fanin',
} as const;
export type Topology = (typeof Topology)[keyof typeof Topology];

export interface Workload {
  /** Short id used by `--only`. */
  name: string;
  /** One line for the table heading. */
  title: string;
  topology: Topology;
  qos: QoS;
  publishers: number;
  subscribers: number;
  messagesPerPublisher: number;
  /**
   * Flow control, per publisher: at most this many of its messages published and not yet delivered to
   * every subscriber, so latency measures the broker rather than a backlog in the generator's buffers.
   */
  window: number;
  /**
   * Every client keeps a session (Clean Session 0): what a persistent store writes. Run against Starling in
   * memory, Starling with SQLite and Mosquitto with `persistence true`.
   */
  persistent?: boolean;
  /** Unacknowledged QoS 1/2 PUBLISH per publisher; default QOS1_INFLIGHT. 1 is mqtt-stresser's one in flight. */
  inflight?: number;
  /** Messages per second over all publishers (paced); absent: as fast as the windows allow. */
  ratePerSecond?: number;
  /**
   * Latency of the messages sent in the first this many ms is left out of p50/p99: every broker and the
   * generator warm up (JIT, first writes of new connections), and a benchmark measures the steady state, as
   * emqtt-bench and JMH do. The whole run's p99 is reported too (`p99WholeRunMs`).
   */
  warmupMs?: number;
  /** Subscribers speak MQTT 5 with these CONNECT properties (as MQTT.js sends them when set). */
  subscriberV5?: { readonly topicAliasMaximum: number };
}

/** Unacknowledged QoS 1 PUBLISH per publisher (on top of `window`). */
export const QOS1_INFLIGHT = 20;
/** Payload bytes: an 8-byte timestamp, a 4-byte publisher index, filler. */
export const PAYLOAD_SIZE = 64;

/**
 * Every workload of a full run; `quick` divides message counts so a run takes well under a minute, and
 * `factor` multiplies them (longer runs measure less warm-up and noise).
 */
export function workloads(quick: boolean, factor = 1): Workload[] {
  const scale = (n: number): number => Math.max(10, Math.round((quick ? n / 5 : n) * factor));
  const list: Workload[] = [];
  for (const qos of [0, 1] as const) {
    for (const [workers, messages] of [
      [10, 10_000],
      [100, 1_000],
    ] as const) {
      const m = scale(messages);
      list.push({
        name: `pairs-qos${qos}-n${workers}`,
        title: `mqtt-stresser style, QoS ${qos}: ${workers} publisher/subscriber pairs x ${m} messages`,
        topology: 'pairs',
        qos,
        publishers: workers,
        subscribers: workers,
        messagesPerPublisher: m,
        window: 200,
      });
    }
  }
  for (const qos of [0, 1] as const) {
    const m = scale(200);
    list.push({
      name: `fanout-qos${qos}`,
      title: `fan-out, QoS ${qos}: 1 publisher -> 1000 subscribers x ${m} messages`,
      topology: 'fanout',
      qos,
      publishers: 1,
      subscribers: 1000,
      messagesPerPublisher: m,
      window: 20,
    });
  }
  for (const qos of [0, 1] as const) {
    const m = scale(100);
    list.push({
      name: `fanin-qos${qos}`,
      title: `fan-in, QoS ${qos}: 1000 publishers x ${m} messages -> 1 subscriber of bench/+/x`,
      topology: 'fanin',
      qos,
      publishers: 1000,
      subscribers: 1,
      messagesPerPublisher: m,
      window: 10,
    });
  }
  // What durability costs: every client keeps its session, so each QoS 1/2 message is written to the store
  // (in flight) and deleted on its acknowledgement. 100 pairs with several messages in flight (batched
  // commits), and 100 pairs with one message in flight each (a commit per message, at worst).
  for (const qos of [1, 2] as const) {
    for (const window of [20, 1] as const) {
      const m = scale(window === 1 ? 500 : 2000);
      list.push({
        name: `durable-qos${qos}-w${window}`,
        title: `persistent sessions, QoS ${qos}: 100 pairs x ${m} messages, ${window} in flight per publisher`,
        topology: 'pairs',
        qos,
        publishers: 100,
        subscribers: 100,
        messagesPerPublisher: m,
        window,
        inflight: window,
        persistent: true,
      });
    }
  }
  // Fan-out to MQTT 5 subscribers that asked for topic aliases: the shared header is patched per subscriber.
  const v5m = scale(200);
  list.push({
    name: 'fanout-v5-qos0',
    title: `fan-out to MQTT 5 subscribers (Topic Alias Maximum 10), QoS 0: 1 -> 1000 x ${v5m} messages`,
    topology: 'fanout',
    qos: 0,
    publishers: 1,
    subscribers: 1000,
    messagesPerPublisher: v5m,
    window: 20,
    subscriberV5: { topicAliasMaximum: 10 },
  });
  // The per-message path, as mqtt-stresser measures it: one QoS 1 message in flight per publisher, so each
  // PUBACK's latency is the throughput.
  const lone = scale(1000);
  list.push({
    name: 'lone-qos1-n100',
    title: `mqtt-stresser one in flight, QoS 1: 100 pairs x ${lone} messages, 1 unacknowledged per publisher`,
    topology: 'pairs',
    qos: 1,
    publishers: 100,
    subscribers: 100,
    messagesPerPublisher: lone,
    window: 1,
    inflight: 1,
  });
  // Latency at a steady rate rather than at saturation: 10 pairs, 10 000 msg/s in all, QoS 0.
  const paced = scale(20_000);
  list.push({
    name: 'paced-qos0-10k',
    title: `latency at 10 000 msg/s, QoS 0: 10 pairs x ${paced} messages, paced (latency after the first second)`,
    topology: 'pairs',
    qos: 0,
    publishers: 10,
    subscribers: 10,
    messagesPerPublisher: paced,
    window: 50,
    ratePerSecond: 10_000,
    warmupMs: 1000,
  });
  return list;
}

/** Topic a publisher sends to. */
export function publisherTopic(workload: Workload, publisher: number): string {
  return workload.topology === 'fanout' ? 'bench/0/x' : `bench/${publisher}/x`;
}

/** Filter a subscriber subscribes to. */
export function subscriberFilter(workload: Workload, subscriber: number): string {
  switch (workload.topology) {
    case 'pairs':
      return `bench/${subscriber}/x`;
    case 'fanout':
      return 'bench/0/x';
    case 'fanin':
      return 'bench/+/x';
  }
}

/** How many subscribers receive each message of a publisher. */
export function fanoutOf(workload: Workload): number {
  return workload.topology === 'fanout' ? workload.subscribers : 1;
}

/** Deliveries a complete run makes. */
export function expectedDeliveries(workload: Workload): number {
  return workload.publishers * workload.messagesPerPublisher * fanoutOf(workload);
}
