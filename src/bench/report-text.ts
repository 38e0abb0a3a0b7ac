/**
 * Plain-text bench reports. The per-client and "simple avg" blocks keep mqtt-malaria's exact layout
 * (beem/__init__.py `print_publish_stats`, including its "succes" spelling) so output can be diffed against
 * malaria runs; the blocks after them give the figures malaria should have given: the pooled aggregate,
 * percentiles, a latency histogram and throughput over the wall clock.
 */
import type { BenchResult, ClientResult, LatencyBucket, LatencySummary } from './bench-result.js';
import type { SummaryFigures } from './stats.js';
import type { RateSpread } from './stresser-figures.js';

/** `%.2f` as Python prints it for finite values; `nan`/`inf` like Python for the others. */
export function formatFixed(value: number, digits = 2): string {
  if (Number.isNaN(value)) return 'nan';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  return value.toFixed(digits);
}

/**
 * Integer with comma thousands separators, as the mqtt-stresser comparison tables print rates. NaN (no
 * figure) prints `-`; infinities print as Go's `%.0f` prints them (`+Inf`, `-Inf`), because mqtt-stresser's
 * receive rate is +Inf when every message arrived before publishing ended.
 */
export function formatThousands(value: number): string {
  if (Number.isNaN(value)) return '-';
  if (!Number.isFinite(value)) return value > 0 ? '+Inf' : '-Inf';
  const rounded = Math.round(value);
  const digits = String(Math.abs(rounded)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return rounded < 0 ? `-${digits}` : digits;
}

/** What one malaria block shows. */
export interface MalariaBlockInput {
  readonly label: string;
  readonly messagesOk: number;
  readonly messagesTotal: number;
  readonly timingMs: Pick<SummaryFigures, 'mean' | 'stddev' | 'min' | 'max'>;
}

/** One block in mqtt-malaria's layout, six lines without trailing newline. */
export function formatMalariaBlock(block: MalariaBlockInput): string {
  const rate = (100 * block.messagesOk) / block.messagesTotal;
  return [
    `Clientid: ${block.label}`,
    `Message succes rate: ${formatFixed(rate)}% (${block.messagesOk}/${block.messagesTotal} messages)`,
    `Message timing mean   ${formatFixed(block.timingMs.mean)} ms`,
    `Message timing stddev ${formatFixed(block.timingMs.stddev)} ms`,
    `Message timing min    ${formatFixed(block.timingMs.min)} ms`,
    `Message timing max    ${formatFixed(block.timingMs.max)} ms`,
  ].join('\n');
}

/** A client's block; a failed client gets one more line saying why (malaria had no such case). */
export function formatClientBlock(client: ClientResult): string {
  const block = formatMalariaBlock({ label: client.clientId, ...client });
  return client.failed ? `${block}\nClient failed: ${client.error ?? 'unknown error'}` : block;
}

/** Clients that completed at least one message: the ones malaria's aggregate could average. */
function timedClients(result: BenchResult): number {
  return result.clients.filter((client) => client.timingMs.count > 0).length;
}

/** malaria's misleading aggregate, labelled as malaria labels it. */
export function formatSimpleAverageBlock(result: BenchResult): string {
  return formatMalariaBlock({
    label: `Aggregate stats (simple avg) for ${timedClients(result)} processes`,
    messagesOk: result.aggregate.messagesOk,
    messagesTotal: result.aggregate.messagesTotal,
    timingMs: result.aggregate.simpleAverageMs,
  });
}

/** The correct aggregate in the same layout, so the two can be read line against line. */
export function formatPooledBlock(result: BenchResult): string {
  return formatMalariaBlock({
    label: `Aggregate stats (pooled, correct) for ${timedClients(result)} clients`,
    messagesOk: result.aggregate.messagesOk,
    messagesTotal: result.aggregate.messagesTotal,
    timingMs: result.aggregate.timingMs,
  });
}

/** p50 / p90 / p99 / p99.9 / max of the merged histogram, aligned like malaria's timing lines. */
export function formatPercentiles(latency: LatencySummary): string {
  return [
    `Message timing p50    ${formatFixed(latency.p50Ms)} ms`,
    `Message timing p90    ${formatFixed(latency.p90Ms)} ms`,
    `Message timing p99    ${formatFixed(latency.p99Ms)} ms`,
    `Message timing p99.9  ${formatFixed(latency.p999Ms)} ms`,
    `Message timing max    ${formatFixed(latency.maxMs)} ms`,
  ].join('\n');
}

/** Milliseconds with three significant decimals, wide enough for sub-ms and multi-second latencies. */
function formatMs(ms: number): string {
  return ms < 10 ? ms.toFixed(3) : ms < 1000 ? ms.toFixed(2) : ms.toFixed(0);
}

/**
 * An ASCII bar chart of the latency histogram, one line per bar: `low - high ms | ###### count`. Bars are
 * scaled to the fullest bucket; any non-empty bucket shows at least one mark so outliers stay visible.
 */
export function formatAsciiHistogram(buckets: readonly LatencyBucket[], width = 40): string {
  if (buckets.length === 0) return '(no samples)';
  const fullest = Math.max(...buckets.map((bucket) => bucket.count));
  const lows = buckets.map((bucket) => formatMs(bucket.lowMs));
  const highs = buckets.map((bucket) => formatMs(bucket.highMs));
  const lowWidth = Math.max(...lows.map((text) => text.length));
  const highWidth = Math.max(...highs.map((text) => text.length));
  return buckets
    .map((bucket, i) => {
      const marks = bucket.count === 0 ? 0 : Math.max(1, Math.round((bucket.count / fullest) * width));
      const bar = '#'.repeat(marks).padEnd(width);
      return `${lows[i]!.padStart(lowWidth)} - ${highs[i]!.padStart(highWidth)} ms | ${bar} ${bucket.count}`;
    })
    .join('\n');
}

/** Whole-run throughput: completed messages over the wall clock of the run. */
export function formatThroughput(result: BenchResult): string {
  const { messagesOk, wallClockMs, throughputMsgsPerSec } = result.aggregate;
  return `Throughput (wall clock) ${messagesOk} msgs in ${formatFixed(wallClockMs / 1000)} s = ${formatFixed(throughputMsgsPerSec)} msg/s`;
}

function formatSpread(name: string, spread: RateSpread): string {
  return `${name} fastest ${formatThousands(spread.fastest)} | median ${formatThousands(spread.median)} | slowest ${formatThousands(spread.slowest)} msg/s`;
}

/** Options of {@link renderTextReport}. */
export interface TextReportOptions {
  /** Print at most this many per-client blocks (the aggregates always cover all clients). Default all. */
  readonly maxClientBlocks?: number;
  /** Bar width of the ASCII histogram. Default 40. */
  readonly histogramWidth?: number;
}

/** The full text report of a run, ending with a newline. */
export function renderTextReport(result: BenchResult, options: TextReportOptions = {}): string {
  const sections: string[] = [];
  const limit = options.maxClientBlocks ?? result.clients.length;
  const shown = result.clients.slice(0, Math.max(0, limit));
  for (const client of shown) sections.push(formatClientBlock(client));
  if (shown.length < result.clients.length) {
    sections.push(`(${result.clients.length - shown.length} more clients not shown)`);
  }
  sections.push(formatSimpleAverageBlock(result));
  sections.push(formatPooledBlock(result));
  if (result.latency) {
    sections.push(formatPercentiles(result.latency));
    sections.push(
      `Latency histogram (${result.latency.bucketScale} buckets, ${result.latency.count} messages)\n` +
        formatAsciiHistogram(result.latency.buckets, options.histogramWidth),
    );
  }
  sections.push(formatThroughput(result));
  const stresser = result.aggregate.stresser;
  if (stresser) {
    sections.push(
      [
        'mqtt-stresser figures (per-client rates; not broker throughput)',
        formatSpread('Publish', stresser.publish),
        formatSpread('Receive', stresser.receive),
      ].join('\n'),
    );
  }
  const generator = result.generator;
  if (generator) {
    sections.push(
      `Generator CPU ${formatFixed(generator.cpuPercentOfOneCore, 1)}% of one core ` +
        `(user ${formatFixed(generator.cpuUserMs / 1000)} s, system ${formatFixed(generator.cpuSystemMs / 1000)} s, ` +
        `${generator.processes} generator process${generator.processes === 1 ? '' : 'es'})`,
    );
  }
  return `${sections.join('\n')}\n`;
}

/** One broker's line in the `bench compare` table. */
export interface CompareRow {
  readonly broker: string;
  readonly publish: RateSpread;
  readonly receive: RateSpread;
  /** Delivered over the wall clock of the run: the figure to rank brokers by. */
  readonly aggregateMsgsPerSec: number;
  readonly p99Ms: number;
}

const NO_SPREAD: RateSpread = { fastest: Number.NaN, median: Number.NaN, slowest: Number.NaN };

/** The compare row of a run; rates are NaN (printed `-`) when the run has no mqtt-stresser phases. */
export function compareRowFromResult(result: BenchResult, label?: string): CompareRow {
  const stresser = result.aggregate.stresser;
  return {
    broker: label ?? result.config.brokerLabel ?? result.config.brokerUrl,
    publish: stresser?.publish ?? NO_SPREAD,
    receive: stresser?.receive ?? NO_SPREAD,
    aggregateMsgsPerSec: result.aggregate.throughputMsgsPerSec,
    p99Ms: result.latency?.p99Ms ?? Number.NaN,
  };
}

/** Column titles of the compare table: mqtt-stresser's seven, then the true aggregate and p99. */
export const COMPARE_TABLE_HEADER =
  'Broker | publish fastest | median | slowest | receive fastest | median | slowest | aggregate msg/s | p99 ms |';

/**
 * The markdown-ish table mqtt-stresser comparisons are published in (header, `---|` rule, one line per
 * broker, rates with thousands separators), with two more columns that are meaningful across brokers.
 */
export function renderCompareTable(rows: readonly CompareRow[]): string {
  const rule = `${'---|'.repeat(9)}`;
  const lines = rows.map((row) => {
    const cells = [
      row.broker.replaceAll('|', '\\|'),
      formatThousands(row.publish.fastest),
      formatThousands(row.publish.median),
      formatThousands(row.publish.slowest),
      formatThousands(row.receive.fastest),
      formatThousands(row.receive.median),
      formatThousands(row.receive.slowest),
      formatThousands(row.aggregateMsgsPerSec),
      Number.isFinite(row.p99Ms) ? formatFixed(row.p99Ms) : '-',
    ];
    return `${cells.join(' | ')} |`;
  });
  return `${[COMPARE_TABLE_HEADER, rule, ...lines].join('\n')}\n`;
}
