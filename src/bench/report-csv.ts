/**
 * CSV views of a {@link BenchResult} for spreadsheets and plotting scripts: per-client rows, the
 * throughput time series, the latency curve and histogram, and one summary line per run for comparing
 * runs. RFC 4180 quoting, CRLF line ends, a header line first; figures that do not exist (NaN) are empty.
 */
import type { BenchResult } from './bench-result.js';
import { stresserRate } from './stresser-figures.js';

/** A cell: text is quoted as needed, numbers are written plainly. */
type Cell = string | number | boolean | undefined;

/** Characters that make a spreadsheet treat a text cell as a formula. */
const FORMULA_START = /^[=+\-@\t\r]/;

function textCell(text: string): string {
  // A client id like "=HYPERLINK(...)" must stay text when the file is opened in a spreadsheet.
  const safe = FORMULA_START.test(text) ? `'${text}` : text;
  return /[",\r\n]/.test(safe) || safe !== safe.trim() ? `"${safe.replaceAll('"', '""')}"` : safe;
}

function numberCell(value: number): string {
  if (!Number.isFinite(value)) return '';
  // Six decimals is below any clock's resolution here and keeps files short.
  return Number.isInteger(value) ? String(value) : String(Number(value.toFixed(6)));
}

function cell(value: Cell): string {
  if (value === undefined) return '';
  if (typeof value === 'number') return numberCell(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  return textCell(value);
}

/** Joins rows into CSV text (header first), ending with CRLF. */
export function toCsv(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  return [header, ...rows].map((row) => `${row.map(cell).join(',')}\r\n`).join('');
}

/** One row per client: malaria's figures plus mqtt-stresser's per-client rates. */
export function renderClientsCsv(result: BenchResult): string {
  // Distributed runs say which agent ran each client, in one more column.
  const byAgent = result.clients.some((client) => client.agent !== undefined);
  const rows = result.clients.map((client): Cell[] => [
    client.clientId,
    client.messagesOk,
    client.messagesTotal,
    (100 * client.messagesOk) / client.messagesTotal,
    client.timingMs.mean,
    client.timingMs.stddev,
    client.timingMs.min,
    client.timingMs.max,
    client.publish && stresserRate(client.publish),
    client.receive && stresserRate(client.receive),
    client.failed === true,
    client.error,
    ...(byAgent ? [client.agent] : []),
  ]);
  return toCsv(
    [
      'client_id',
      'messages_ok',
      'messages_total',
      'success_rate_pct',
      'mean_ms',
      'stddev_ms',
      'min_ms',
      'max_ms',
      'publish_msgs_per_sec',
      'receive_msgs_per_sec',
      'failed',
      'error',
      ...(byAgent ? ['agent'] : []),
    ],
    rows,
  );
}

/** Throughput per interval; empty (header only) when the run kept no time series. */
export function renderTimeSeriesCsv(result: BenchResult): string {
  const series = result.timeseries;
  const header = ['offset_s', 'sent', 'received', 'sent_per_sec', 'received_per_sec'];
  if (!series) return toCsv(header, []);
  const perSec = 1000 / series.intervalMs;
  return toCsv(
    header,
    series.sent.map((sent, i) => {
      const received = series.received[i] ?? 0;
      return [(i * series.intervalMs) / 1000, sent, received, sent * perSec, received * perSec];
    }),
  );
}

/** The percentile curve, one line per point. */
export function renderPercentilesCsv(result: BenchResult): string {
  return toCsv(
    ['percentile', 'latency_ms'],
    (result.latency?.curve ?? []).map((point) => [point.percentile, point.valueMs]),
  );
}

/** The latency histogram bars. */
export function renderHistogramCsv(result: BenchResult): string {
  return toCsv(
    ['low_ms', 'high_ms', 'count'],
    (result.latency?.buckets ?? []).map((bucket) => [bucket.lowMs, bucket.highMs, bucket.count]),
  );
}

/** One summary line per run, for `bench compare` and for keeping a history of runs. */
export function renderSummaryCsv(results: readonly BenchResult[]): string {
  return toCsv(
    [
      'broker',
      'scenario',
      'started_at',
      'clients',
      'messages_ok',
      'messages_total',
      'wall_clock_s',
      'throughput_msgs_per_sec',
      'mean_ms',
      'stddev_ms',
      'min_ms',
      'max_ms',
      'p50_ms',
      'p90_ms',
      'p99_ms',
      'p99_9_ms',
      'simple_avg_mean_ms',
      'publish_fastest',
      'publish_median',
      'publish_slowest',
      'receive_fastest',
      'receive_median',
      'receive_slowest',
      'generator_cpu_pct',
      'received',
      'missing',
      'duplicated',
      'out_of_order',
    ],
    results.map((result) => {
      const { aggregate, latency } = result;
      const stresser = aggregate.stresser;
      return [
        result.config.brokerLabel ?? result.config.brokerUrl,
        result.scenario,
        result.startedAt,
        result.config.clients,
        aggregate.messagesOk,
        aggregate.messagesTotal,
        aggregate.wallClockMs / 1000,
        aggregate.throughputMsgsPerSec,
        aggregate.timingMs.mean,
        aggregate.timingMs.stddev,
        aggregate.timingMs.min,
        aggregate.timingMs.max,
        latency?.p50Ms,
        latency?.p90Ms,
        latency?.p99Ms,
        latency?.p999Ms,
        aggregate.simpleAverageMs.mean,
        stresser?.publish.fastest,
        stresser?.publish.median,
        stresser?.publish.slowest,
        stresser?.receive.fastest,
        stresser?.receive.median,
        stresser?.receive.slowest,
        result.generator?.cpuPercentOfOneCore,
        // Subscribe runs only; empty for the other scenarios.
        result.delivery?.received,
        result.delivery?.missing,
        result.delivery?.duplicated,
        result.delivery?.outOfOrder,
      ];
    }),
  );
}
