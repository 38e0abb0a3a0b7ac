/** `--dashboard [HOST:]PORT` of the bench commands: a live page of the run, fed by the Bench's samples. */
import type { EventEmitter } from 'node:events';
import type { BenchLiveSample } from '../bench/live-sample.js';
import { type BenchDashboard, startBenchDashboard } from '../dashboard/bench-dashboard.js';
import { UsageError } from './usage-error.js';

export const DASHBOARD_FLAG = { dashboard: { type: 'string' } } as const;

export const DASHBOARD_FLAG_HELP = `      --dashboard [HOST:]PORT  serve a live page of the run (throughput, percentiles, errors, agents)
                           at http://HOST:PORT/ (default host 127.0.0.1; port 0 picks one)`;

/** Parse `[HOST:]PORT`. */
export function dashboardAddress(text: string): { host: string; port: number } {
  const at = text.lastIndexOf(':');
  const host = at < 0 ? '127.0.0.1' : text.slice(0, at).replace(/^\[|\]$/g, '');
  const portText = at < 0 ? text : text.slice(at + 1);
  if (!/^\d+$/.test(portText) || Number(portText) > 65_535 || host === '') {
    throw new UsageError(`--dashboard must be [HOST:]PORT, got '${text}'`);
  }
  return { host, port: Number(portText) };
}

/**
 * Start the page when `--dashboard` was given and feed it every `interval` sample of `source`; says where
 * it is on stderr. Resolves to undefined without the flag.
 */
export async function liveDashboard(
  value: string | undefined,
  source: EventEmitter,
  title: string,
): Promise<BenchDashboard | undefined> {
  if (value === undefined) return undefined;
  const dashboard = await startBenchDashboard({ ...dashboardAddress(value), title });
  source.on('interval', (sample: BenchLiveSample) => dashboard.push(sample));
  process.stderr.write(`live dashboard: ${dashboard.url}\n`);
  return dashboard;
}
