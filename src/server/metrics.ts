import type { BrokerSnapshot } from '../broker/snapshot.js';

type MetricType = 'gauge' | 'counter';

/** Builds Prometheus text exposition format (version 0.0.4): HELP, TYPE, then one line per sample. */
class PrometheusText {
  private lines: string[] = [];

  /** `common`: labels on every sample (a cluster node's `node`). */
  constructor(private readonly common: Readonly<Record<string, string>> = {}) {}

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
      this.lines.push(`${name}${formatLabels({ ...this.common, ...labels })} ${formatValue(value)}`);
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

/** The snapshot in Prometheus text format, metric names prefixed `starling_`; `labels` go on every sample. */
export function renderPrometheus(s: BrokerSnapshot, labels: Readonly<Record<string, string>> = {}): string {
  const out = new PrometheusText(labels);
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
  out.metric(
    'starling_publish_refused_total',
    'counter',
    'PUBLISH packets refused (not delivered), by reason.',
    byKey('reason', s.refused),
  );
  out.metric(
    'starling_connections_refused_total',
    'counter',
    'Connections refused before they were established (CONNACK with a failure, or closed), by reason.',
    byKey('reason', s.connectRefused),
  );
  out.metric(
    'starling_subscriptions_refused_total',
    'counter',
    'Subscription filters refused (a failure code in their SUBACK), by reason.',
    byKey('reason', s.subscribeRefused),
  );
  out.metric('starling_event_loop_lag_seconds', 'gauge', 'Event-loop delay since the last scrape.', [
    [{ stat: 'mean' }, s.eventLoopLagSeconds.mean],
    [{ stat: 'p99' }, s.eventLoopLagSeconds.p99],
    [{ stat: 'max' }, s.eventLoopLagSeconds.max],
  ]);
  out.metric('starling_memory_bytes', 'gauge', 'Process memory, by kind.', byKey('kind', s.memory));
  out.metric(
    'starling_hook_errors_total',
    'counter',
    'Hooks that threw where the broker went on without them, by event.',
    byKey('event', s.hookErrors),
  );
  const budget = s.memoryBudget;
  out.metric(
    'starling_memory_budget_bytes',
    'gauge',
    'The memory budget, and what slow readers and waiting commits hold against it.',
    [
      [{ kind: 'budget' }, budget.budget],
      [{ kind: 'buffered' }, budget.buffered],
      [{ kind: 'queued' }, budget.queued],
      [{ kind: 'held' }, budget.held],
    ],
  );
  out.single(
    'starling_memory_pressure',
    'gauge',
    '1 while slow readers hold more than the budget (QoS 0 to them is dropped).',
    budget.pressure ? 1 : 0,
  );
  const store = s.store;
  if (store !== undefined) {
    const label = { store: store.name };
    out.metric('starling_store_commits_total', 'counter', 'Store commits that returned.', [
      [label, store.commits],
    ]);
    out.metric('starling_store_commit_failures_total', 'counter', 'Store commits that failed.', [
      [label, store.commitFailures],
    ]);
    out.metric(
      'starling_store_commit_latency_seconds',
      'gauge',
      'Commit latency, p99 of the latest commits.',
      [[{ ...label, stat: 'p99' }, store.commitLatencyP99Seconds]],
    );
    if (store.bytes !== undefined)
      out.metric('starling_store_bytes', 'gauge', 'Bytes the store takes on disk.', [[label, store.bytes]]);
    out.metric(
      'starling_store_low_on_space',
      'gauge',
      '1 while the data disk is under its free-space floor (QoS 1/2 publishes are refused).',
      [[label, store.lowOnSpace ? 1 : 0]],
    );
  }
  return out.toString();
}
