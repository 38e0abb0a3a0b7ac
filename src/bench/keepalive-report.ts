/**
 * Reports of a `bench keepalive` run: the plain-text summary, and the run as a {@link BenchResult} so the
 * shared JSON and HTML reports can show it.
 */
import { type BenchResult, BenchScenario, type ClientResult } from './bench-result.js';
import type { LatencyHistogram } from './histogram.js';
import type { KeepaliveResult } from './keepalive-types.js';
import { AGENT_COLUMNS, agentCells } from './report-agents.js';
import { formatFixed } from './report-text.js';
import { buildBenchResult, generatorUsage } from './result-builder.js';

/** Rounds to 3 decimals so JSON and tables show microsecond precision in ms without float noise. */
function ms3(us: number): number {
  return Math.round(us) / 1000;
}

/**
 * The run as a {@link BenchResult}, so the shared text/JSON/CSV/HTML reports can show it. A "message" is a
 * connection: ok = connected, latency = socket open to CONNACK, throughput = connections per second over the
 * ramp. Ping and disconnect figures go in `config.options`.
 */
export function keepaliveBenchResult(result: KeepaliveResult, brokerLabel?: string): BenchResult {
  const clients: ClientResult[] = result.perClient.map((row, i) => {
    const ok = Number.isFinite(row.latencyUs);
    const latencyMs = ok ? row.latencyUs / 1000 : Number.NaN;
    return {
      clientId: `${result.clientIdPrefix}${i}`,
      messagesOk: ok ? 1 : 0,
      messagesTotal: 1,
      timingMs: {
        count: ok ? 1 : 0,
        mean: latencyMs,
        stddev: ok ? 0 : Number.NaN,
        min: latencyMs,
        max: latencyMs,
      },
      ...(row.error === undefined ? {} : { failed: true, error: row.error }),
    };
  });
  const ping = result.pingLatency;
  const options: Record<string, string | number | boolean> = {
    'Connection rate (per s)': result.options.rate,
    'Keep alive (s)': result.options.keepalive,
    'Hold (s)': Math.round(result.holdMs) / 1000,
    Connected: result.connected,
    Failed: result.failed,
    'Unexpected disconnects': result.unexpectedDisconnects,
    'Open at end of hold': result.openAtEnd,
    'PINGREQ sent': result.pingsSent,
    'PINGRESP received': result.pingsAnswered,
    'Source addresses': Math.max(1, result.plan.sourceAddresses.length),
    'Generator RSS per connection (bytes)': Math.round(result.memory.bytesPerConnection),
  };
  if (result.heldAtOnce !== undefined) options['Held at once'] = result.heldAtOnce;
  if (ping.count > 0) {
    options['PINGRESP p50 (ms)'] = ms3(ping.percentile(50));
    options['PINGRESP p99 (ms)'] = ms3(ping.percentile(99));
    options['PINGRESP max (ms)'] = ms3(ping.max);
  }
  for (const [reason, count] of Object.entries(result.failures)) options[`Failure: ${reason}`] = count;
  for (const [reason, count] of Object.entries(result.disconnects)) options[`Disconnect: ${reason}`] = count;
  return buildBenchResult({
    scenario: BenchScenario.Keepalive,
    startedAt: result.startedAt,
    config: {
      brokerUrl: result.url,
      ...(brokerLabel === undefined ? {} : { brokerLabel }),
      clients: result.requested,
      protocolVersion: result.options.protocolVersion ?? 4,
      durationMs: result.options.durationMs,
      options,
    },
    clients,
    wallClockMs: result.rampMs,
    latencyHistogram: result.connectLatency,
    timeseries: result.timeseries,
    ...(result.agents === undefined ? {} : { agents: result.agents }),
    generator: {
      ...generatorUsage([result.cpu], result.wallClockMs, result.memory.rssPeakBytes),
      processes: result.processes ?? 1,
    },
  });
}

function percentileLine(label: string, histogram: LatencyHistogram): string {
  if (histogram.count === 0) return `${label}: no samples`;
  const at = (p: number): string => formatFixed(histogram.percentile(p) / 1000, 3);
  return (
    `${label} (ms): p50 ${at(50)}  p90 ${at(90)}  p99 ${at(99)}  p99.9 ${at(99.9)}` +
    `  max ${formatFixed(histogram.max / 1000, 3)}  (${histogram.count} samples)`
  );
}

function mib(bytes: number): string {
  return `${formatFixed(bytes / (1024 * 1024), 1)} MiB`;
}

function reasonTable(title: string, table: Readonly<Record<string, number>>): string[] {
  const rows = Object.entries(table).sort((a, b) => b[1] - a[1]);
  if (rows.length === 0) return [];
  return [`${title}:`, ...rows.map(([reason, count]) => `  ${String(count).padStart(8)}  ${reason}`)];
}

function processesNote(result: KeepaliveResult): string {
  const processes = result.processes ?? 1;
  return processes > 1 ? ` (${processes} processes)` : '';
}

/** Options of {@link renderKeepaliveText}. */
export interface KeepaliveTextOptions {
  /** Shown after the URL, e.g. `embedded Starling`. */
  readonly brokerLabel?: string;
  /** The generator's RSS includes the broker (embedded in-process): say so next to the figure. */
  readonly brokerInProcess?: boolean;
}

/** The plain-text summary printed at the end of a run. */
export function renderKeepaliveText(result: KeepaliveResult, options: KeepaliveTextOptions = {}): string {
  const o = result.options;
  const rampS = result.rampMs / 1000;
  const achieved = rampS > 0 ? result.attempted / rampS : Number.NaN;
  const cpuMs = (result.cpu.user + result.cpu.system) / 1000;
  const cpuPercent = result.wallClockMs > 0 ? (100 * cpuMs) / result.wallClockMs : Number.NaN;
  const lines = [
    `bench keepalive: ${result.requested} clients against ${result.url}${options.brokerLabel ? ` (${options.brokerLabel})` : ''}` +
      `, keep alive ${o.keepalive} s, ${o.rate} connections/s, hold ${formatFixed(o.durationMs / 1000, 1)} s` +
      (result.aborted ? '  [interrupted: partial results]' : ''),
    `connections: ${result.attempted} attempted, ${result.connected} connected, ${result.failed} failed, ` +
      `${result.unexpectedDisconnects} unexpected disconnects; ${result.openAtEnd} open at the end of the hold (peak ${result.peakOpen})`,
    `ramp: ${formatFixed(rampS, 2)} s (${formatFixed(achieved, 1)} attempts/s); held ${formatFixed(result.holdMs / 1000, 2)} s` +
      (result.plan.sourceAddresses.length > 1
        ? `; from ${result.plan.sourceAddresses.length} source addresses`
        : ''),
    percentileLine('connect latency', result.connectLatency),
    `${percentileLine('PINGRESP latency', result.pingLatency)}; ${result.pingsAnswered} of ${result.pingsSent} PINGREQ answered`,
    ...reasonTable('connect failures', result.failures),
    ...reasonTable('unexpected disconnects', result.disconnects),
    `generator${processesNote(result)}: CPU ${formatFixed(cpuPercent, 1)} % of one core, RSS ${mib(result.memory.rssBeforeBytes)} before, ` +
      `${mib(result.memory.rssPeakBytes)} peak, ~${formatFixed(result.memory.bytesPerConnection / 1024, 2)} KiB per connection` +
      (options.brokerInProcess === true ? ' (includes the embedded broker)' : ''),
  ];
  if (result.heldAtOnce !== undefined && (result.processes ?? 1) > 1) {
    lines.push(
      `held at once: ${result.heldAtOnce} connections open at the same instant (live samples, all processes)`,
    );
  }
  if (result.agents !== undefined && result.agents.length > 0) {
    lines.push('agents (sent = connection attempts, received = CONNACKs, latency = connect latency):');
    const rows = [AGENT_COLUMNS.map(String), ...result.agents.map(agentCells)];
    const widths = AGENT_COLUMNS.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
    for (const row of rows) {
      lines.push(
        `  ${row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ')}`,
      );
    }
    for (const agent of result.agents) {
      if (agent.state === 'lost')
        lines.push(`agent ${agent.name} was lost: ${agent.lostReason ?? 'unknown reason'}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
