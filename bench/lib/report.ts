/** Plain-text tables for the broker benchmark. */
import type { WorkloadResult } from './load.js';

function fixed(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '-';
}

function thousands(value: number): string {
  return Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '-';
}

function renderTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(' | ')} |`;
  const rule = `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

/** What a non-ok run achieved, in words. */
export function statusText(result: WorkloadResult): string {
  const lost = result.lostConnections > 0 ? `, ${result.lostConnections} connections lost` : '';
  if (result.status === 'ok') return `ok${lost}`;
  const error = result.error === undefined ? '' : ` (${result.error.split('\n')[0]})`;
  return `${result.status}, delivered ${result.delivered} of ${result.expected}${lost}${error}`;
}

/** The table of one workload, the reference broker's throughput ratios below it. */
export function workloadTable(title: string, results: WorkloadResult[], reference = 'starling'): string {
  const rows = results.map((r) => [
    r.broker,
    thousands(r.throughput),
    fixed(r.p50Ms, 2),
    fixed(r.p99Ms, 2),
    fixed(r.brokerCpuPct, 0),
    fixed(r.generatorCpuPct, 0),
    statusText(r),
  ]);
  const table = renderTable(
    ['broker', 'delivered msgs/s', 'p50 ms', 'p99 ms', 'broker CPU %', 'generator CPU %', 'status'],
    rows,
  );
  const starling = results.find((r) => r.broker === reference);
  const ratios: string[] = [];
  if (starling !== undefined) {
    for (const other of results) {
      if (other === starling) continue;
      const ratio = starling.throughput / other.throughput;
      const perCpu = starling.throughput / starling.brokerCpuPct / (other.throughput / other.brokerCpuPct);
      ratios.push(
        `${reference}/${other.broker}: throughput x${fixed(ratio, 2)}, p99 ${fixed(starling.p99Ms, 2)} vs ${fixed(other.p99Ms, 2)} ms, msgs per broker CPU-second x${fixed(perCpu, 2)}`,
      );
    }
  }
  const whole = results.filter((r) => r.p99WholeRunMs !== undefined);
  if (whole.length > 0)
    ratios.push(
      `whole run, warm-up included: p99 ${whole.map((r) => `${r.broker} ${fixed(r.p99WholeRunMs as number, 2)} ms`).join(', ')}`,
    );
  return [title, table, ...ratios].join('\n');
}

/** One line per workload and broker, for a compact summary of repeated runs. */
export function summaryTable(results: WorkloadResult[][], brokers: string[], workloads: string[]): string {
  const rows = workloads.map((w) => [
    w,
    ...brokers.map((b) => {
      const values = results
        .map((run) => run.find((r) => r.workload === w && r.broker === b))
        .filter((r): r is WorkloadResult => r !== undefined && r.status === 'ok')
        .map((r) => r.throughput)
        .sort((a, c) => a - c);
      if (values.length === 0) return '-';
      const middle = Math.floor(values.length / 2);
      const median =
        values.length % 2 === 1
          ? (values[middle] as number)
          : ((values[middle - 1] as number) + (values[middle] as number)) / 2;
      if (values.length === 1) return thousands(median);
      return `${thousands(median)} (${thousands(values[0] as number)}..${thousands(values[values.length - 1] as number)})`;
    }),
  ]);
  return renderTable(['workload (median, min..max msgs/s)', ...brokers], rows);
}
