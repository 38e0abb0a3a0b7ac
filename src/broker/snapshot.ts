import type { Engine } from './engine.js';
import { memoryUsage } from './memory-usage.js';

/** Everything /metrics and /api/v1/stats report, gathered in one pass over the engine. */
export interface BrokerSnapshot {
  readonly uptimeSeconds: number;
  readonly connections: {
    readonly open: number;
    readonly clients: number;
    readonly maximum: number;
    readonly total: number;
  };
  readonly connectionsByListener: Readonly<Record<string, number>>;
  readonly sessions: number;
  readonly subscriptions: number;
  readonly retainedMessages: number;
  readonly inflightMessages: number;
  readonly queuedMessages: number;
  readonly messages: {
    readonly receivedByQos: readonly [number, number, number];
    readonly sentByQos: readonly [number, number, number];
    /** PUBLISH payload bytes received, by QoS. */
    readonly payloadBytesReceivedByQos: readonly [number, number, number];
    /** PUBLISH payload bytes sent, by QoS (each delivery counted). */
    readonly payloadBytesSentByQos: readonly [number, number, number];
  };
  readonly bytes: { readonly received: number; readonly sent: number };
  readonly packets: {
    readonly received: Readonly<Record<string, number>>;
    readonly sent: Readonly<Record<string, number>>;
  };
  readonly dropped: Readonly<Record<string, number>>;
  /** PUBLISH packets from clients refused (not delivered), by reason. */
  readonly refused: Readonly<Record<string, number>>;
  /** Subscription filters from clients refused, by reason. */
  readonly subscribeRefused: Readonly<Record<string, number>>;
  /** Connections refused before they were established, by reason. */
  readonly connectRefused: Readonly<Record<string, number>>;
  /** Hooks that threw where the broker went on regardless, by event. */
  readonly hookErrors: Readonly<Record<string, number>>;
  /** What slow readers and waiting commits hold against the memory budget (bytes). */
  readonly memoryBudget: {
    readonly budget: number;
    readonly buffered: number;
    readonly queued: number;
    /** Messages whose acknowledgements wait for a commit. */
    readonly held: number;
    readonly pressure: boolean;
  };
  /** The persistent store; undefined when state lives in memory only. */
  readonly store:
    | {
        readonly name: string;
        readonly commits: number;
        readonly commitFailures: number;
        readonly commitLatencyP99Seconds: number;
        readonly commitRows: number;
        readonly bytes: number | undefined;
        /** The disk is under the store's free-space floor: QoS 1/2 publishes are refused. */
        readonly lowOnSpace: boolean;
      }
    | undefined;
  readonly eventLoopLagSeconds: { readonly mean: number; readonly p99: number; readonly max: number };
  readonly memory: {
    readonly rss: number;
    readonly heapUsed: number;
    readonly heapTotal: number;
    readonly external: number;
  };
}

/** Event-loop delay as measured by the caller (perf_hooks histogram, in nanoseconds). */
export interface LoopDelaySample {
  readonly mean: number;
  readonly p99: number;
  readonly max: number;
}

/** Read the broker's counters and walk its sessions once. */
export function takeSnapshot(broker: Engine, loopDelay: LoopDelaySample): BrokerSnapshot {
  const stats = broker.stats;
  const byListener: Record<string, number> = {};
  for (const conn of broker.connections) byListener[conn.listener] = (byListener[conn.listener] ?? 0) + 1;
  let subscriptions = 0;
  let inflight = 0;
  let queued = 0;
  for (const session of broker.sessions.values()) {
    subscriptions += session.subscriptionCount;
    inflight += session.inflight.size;
    queued += session.queuedCount;
  }
  const memory = memoryUsage();
  const ns = (value: number): number => (Number.isFinite(value) ? value / 1e9 : 0);
  return {
    uptimeSeconds: (Date.now() - stats.startedAt) / 1000,
    connections: {
      open: broker.connections.size,
      clients: stats.clientsConnected,
      maximum: stats.clientsMaximum,
      total: stats.connectionsTotal,
    },
    connectionsByListener: byListener,
    sessions: broker.sessions.size,
    subscriptions,
    retainedMessages: broker.router.count,
    inflightMessages: inflight,
    queuedMessages: queued,
    messages: {
      receivedByQos: [...stats.publishIn],
      sentByQos: [...stats.publishOut],
      payloadBytesReceivedByQos: [...stats.publishPayloadBytesIn],
      payloadBytesSentByQos: [...stats.publishPayloadBytesOut],
    },
    bytes: { received: stats.bytesReceived, sent: stats.bytesSent },
    packets: { received: { ...stats.packetsIn }, sent: { ...stats.packetsOut } },
    // Muted readers' misses are folded into the stats when they come back; until then they are added here.
    dropped: {
      ...stats.dropped,
      'slow-client': stats.dropped['slow-client'] + broker.router.missedWhileMuted(),
    },
    refused: { ...stats.refused },
    subscribeRefused: { ...stats.subscribeRefused },
    connectRefused: { ...stats.connectRefused },
    hookErrors: { ...stats.hookErrors },
    memoryBudget: {
      budget: broker.services.memory.budget,
      buffered: broker.services.memory.buffered,
      queued: broker.services.memory.queued,
      held: broker.services.memory.held,
      pressure: broker.services.memory.pressure,
    },
    store: storeFigures(broker),
    eventLoopLagSeconds: { mean: ns(loopDelay.mean), p99: ns(loopDelay.p99), max: ns(loopDelay.max) },
    memory: {
      rss: memory.rss,
      heapUsed: memory.heapUsed,
      heapTotal: memory.heapTotal,
      external: memory.external,
    },
  };
}

function storeFigures(engine: Engine): BrokerSnapshot['store'] {
  const info = engine.storeInfo();
  if (info === undefined) return undefined;
  const stats = engine.stats;
  return {
    name: info.name,
    commits: stats.commits,
    commitFailures: stats.commitFailures,
    commitLatencyP99Seconds: stats.commitLatencyPercentile(99) / 1000,
    commitRows: stats.commitRows,
    bytes: info.bytes,
    lowOnSpace: info.lowOnSpace,
  };
}
