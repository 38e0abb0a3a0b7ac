import { getHeapStatistics } from 'node:v8';
import type { Broker } from '../broker/broker.js';

/** Everything /metrics and /api/v1/stats report, gathered in one pass over the broker. */
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

/**
 * Process memory. process.memoryUsage() reads /proc and so needs a free file descriptor; when a connection
 * flood has taken the last one it throws EMFILE, and a scrape must not end the broker: the V8 heap figures
 * need no descriptor, RSS is then unknown (NaN).
 */
function memoryUsage(): BrokerSnapshot['memory'] {
  try {
    return process.memoryUsage();
  } catch {
    const heap = getHeapStatistics();
    return {
      rss: Number.NaN,
      heapUsed: heap.used_heap_size,
      heapTotal: heap.total_heap_size,
      external: heap.external_memory,
    };
  }
}

/** Read the broker's counters and walk its sessions once. */
export function takeSnapshot(broker: Broker, loopDelay: LoopDelaySample): BrokerSnapshot {
  const stats = broker.stats;
  const byListener: Record<string, number> = {};
  for (const conn of broker.connections) byListener[conn.listener] = (byListener[conn.listener] ?? 0) + 1;
  let subscriptions = 0;
  let inflight = 0;
  let queued = 0;
  for (const session of broker.sessions.values()) {
    subscriptions += session.subscriptions.size;
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
    retainedMessages: broker.index.retainedCount,
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
    dropped: { ...stats.dropped },
    eventLoopLagSeconds: { mean: ns(loopDelay.mean), p99: ns(loopDelay.p99), max: ns(loopDelay.max) },
    memory: {
      rss: memory.rss,
      heapUsed: memory.heapUsed,
      heapTotal: memory.heapTotal,
      external: memory.external,
    },
  };
}

type MetricType = 'gauge' | 'counter';

/** Builds Prometheus text exposition format (version 0.0.4): HELP, TYPE, then one line per sample. */
class PrometheusText {
  private lines: string[] = [];

  metric(
    name: string,
    type: MetricType,
    help: string,
    samples: readonly [Record<string, string>, number][],
  ): void {
    // The format reserves backslash and newline in HELP text; both must be escaped.
    const escapedHelp = help.replaceAll('\\', '\\\\').replaceAll('\n', '\\n');
    this.lines.push(`# HELP ${name} ${escapedHelp}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples)
      this.lines.push(`${name}${formatLabels(labels)} ${formatValue(value)}`);
  }

  single(name: string, type: MetricType, help: string, value: number): void {
    this.metric(name, type, help, [[{}, value]]);
  }

  toString(): string {
    return `${this.lines.join('\n')}\n`;
  }
}

function formatLabels(labels: Record<string, string>): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  const escapeValue = (v: string): string =>
    v.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
  return `{${entries.map(([k, v]) => `${k}="${escapeValue(v)}"`).join(',')}}`;
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

const byQos = (values: readonly number[]): [Record<string, string>, number][] =>
  values.map((value, qos) => [{ qos: String(qos) }, value]);
const byKey = (label: string, record: Readonly<Record<string, number>>): [Record<string, string>, number][] =>
  Object.entries(record).map(([key, value]) => [{ [label]: key }, value]);

/** The snapshot in Prometheus text format, metric names prefixed `starling_`. */
export function renderPrometheus(s: BrokerSnapshot): string {
  const out = new PrometheusText();
  out.single('starling_uptime_seconds', 'gauge', 'Seconds since the broker started.', s.uptimeSeconds);
  out.metric(
    'starling_connections',
    'gauge',
    'Open network connections, by listener.',
    byKey('listener', s.connectionsByListener),
  );
  out.single('starling_clients_connected', 'gauge', 'Clients past CONNACK.', s.connections.clients);
  out.single(
    'starling_clients_maximum',
    'gauge',
    'Most clients connected at once since start.',
    s.connections.maximum,
  );
  out.single(
    'starling_connections_total',
    'counter',
    'Connections accepted since start.',
    s.connections.total,
  );
  out.single('starling_sessions', 'gauge', 'Sessions held, connected or not.', s.sessions);
  out.single('starling_subscriptions', 'gauge', 'Subscriptions over all sessions.', s.subscriptions);
  out.single('starling_retained_messages', 'gauge', 'Retained messages stored.', s.retainedMessages);
  out.single(
    'starling_inflight_messages',
    'gauge',
    'Outbound QoS 1/2 messages awaiting acknowledgement.',
    s.inflightMessages,
  );
  out.single(
    'starling_queued_messages',
    'gauge',
    'Messages queued for offline or busy sessions.',
    s.queuedMessages,
  );
  out.metric(
    'starling_messages_received_total',
    'counter',
    'PUBLISH packets received, by QoS.',
    byQos(s.messages.receivedByQos),
  );
  out.metric(
    'starling_messages_sent_total',
    'counter',
    'PUBLISH packets sent, by QoS.',
    byQos(s.messages.sentByQos),
  );
  out.metric(
    'starling_payload_bytes_received_total',
    'counter',
    'PUBLISH payload bytes received, by QoS.',
    byQos(s.messages.payloadBytesReceivedByQos),
  );
  out.metric(
    'starling_payload_bytes_sent_total',
    'counter',
    'PUBLISH payload bytes sent, by QoS; a message delivered to n clients counts n times.',
    byQos(s.messages.payloadBytesSentByQos),
  );
  out.single('starling_bytes_received_total', 'counter', 'Bytes read from clients.', s.bytes.received);
  out.single('starling_bytes_sent_total', 'counter', 'Bytes written to clients.', s.bytes.sent);
  out.metric(
    'starling_packets_received_total',
    'counter',
    'MQTT packets received, by type.',
    byKey('type', s.packets.received),
  );
  out.metric(
    'starling_packets_sent_total',
    'counter',
    'MQTT packets sent, by type.',
    byKey('type', s.packets.sent),
  );
  out.metric(
    'starling_messages_dropped_total',
    'counter',
    'Messages not delivered, by reason.',
    byKey('reason', s.dropped),
  );
  out.metric('starling_event_loop_lag_seconds', 'gauge', 'Event-loop delay since the last scrape.', [
    [{ stat: 'mean' }, s.eventLoopLagSeconds.mean],
    [{ stat: 'p99' }, s.eventLoopLagSeconds.p99],
    [{ stat: 'max' }, s.eventLoopLagSeconds.max],
  ]);
  out.metric('starling_memory_bytes', 'gauge', 'Process memory, by kind.', byKey('kind', s.memory));
  return out.toString();
}
