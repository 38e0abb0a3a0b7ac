/**
 * The lines `starling bench` adds after the text report: per-publisher delivery counts of a subscribe run
 * with publishers, and the whole-run figures of a stress run.
 */
import type { Bench } from '../bench/bench.js';
import type { BenchResult } from '../bench/bench-result.js';
import { formatFixed, formatThousands } from '../bench/report-text.js';

export function deliveryReport(bench: Bench, result: BenchResult, limit = 50): string {
  const lines: string[] = [];
  const totals = result.delivery;
  if (totals !== undefined && totals.streams > 0) {
    lines.push(
      `Delivery totals (${totals.streams} publisher stream${totals.streams === 1 ? '' : 's'}): received ${totals.received} (${totals.unique} distinct), missing ${totals.missing}, duplicated ${totals.duplicated}, out of order ${totals.outOfOrder}`,
    );
  }
  for (const subscriber of bench.deliveries) {
    for (const p of subscriber.publishers) {
      if (lines.length >= limit) break;
      lines.push(
        `Publisher ${p.publisher}: received ${p.received} (${p.unique}/${p.expected} distinct), missing ${p.missing}, duplicated ${p.duplicates}, out of order ${p.outOfOrder}`,
      );
    }
    if (subscriber.foreign > 0)
      lines.push(
        `Subscriber ${subscriber.subscriber}: ${subscriber.foreign} messages without a bench payload`,
      );
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : 'No bench messages received\n';
}

export function stressTruth(result: BenchResult): string {
  const stresser = result.aggregate.stresser;
  const latency = result.latency;
  const delivered = stresser ? formatThousands(stresser.aggregate.deliveredPerSec) : '-';
  const e2e = latency
    ? `end-to-end latency p50 ${formatFixed(latency.p50Ms)} ms, p90 ${formatFixed(latency.p90Ms)} ms, p99 ${formatFixed(latency.p99Ms)} ms, p99.9 ${formatFixed(latency.p999Ms)} ms`
    : 'no end-to-end latency measured';
  return `True figures: delivered ${delivered} msg/s over the whole run (all workers); ${e2e}\n`;
}
