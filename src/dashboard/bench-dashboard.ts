import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { isLoopbackAddress } from '../hooks/allow-all.js';
import { bindServer, closeServer } from '../listeners/server-lifecycle.js';
import { isLoopbackHost } from './admin-auth.js';
import type { BenchHistory, BenchLiveAgentRow, BenchLiveSample, BenchState } from './bench-live.js';
import { EventStream, sendError, sendJson } from './http-util.js';
import { StaticAssets } from './static-assets.js';

export interface BenchDashboardOptions {
  /** Address to bind. Default `127.0.0.1`. */
  readonly host?: string;
  /** Port; 0 (the default) picks a free one. */
  readonly port?: number;
  /** Shown as the page's heading. Default `Load run`. */
  readonly title?: string;
  /** Samples kept for the curves; older ones are dropped. Default 86 400 (a day at one a second). */
  readonly maxPoints?: number;
  /** Directory of the bundled page (default: next to this module in dist). */
  readonly assetDir?: string;
}

/** A running load-run dashboard. */
export interface BenchDashboard {
  /** Where the page is, e.g. `http://127.0.0.1:8080/`. */
  readonly url: string;
  /** Add one interval's sample: the page's curves and agent rows update at once. */
  push(sample: BenchLiveSample): void;
  /** Mark the run over; the page shows `summary` (plain text) and stops expecting samples. */
  finish(summary?: string): void;
  /** End the live streams and stop serving. */
  close(): Promise<void>;
}

const MAX_STREAMS = 64;

/**
 * Serve the live page of a load run: throughput, latency percentiles over time, errors and a row per
 * agent, fed by `push`. Read-only and unauthenticated, so it binds loopback unless told otherwise.
 */
export async function startBenchDashboard(options: BenchDashboardOptions = {}): Promise<BenchDashboard> {
  const host = options.host ?? '127.0.0.1';
  const run = new BenchRun(options.title ?? 'Load run', options.maxPoints ?? 86_400);
  const assets = new StaticAssets(options.assetDir);
  const streams = new Set<EventStream>();
  const loopbackOnly = isLoopbackAddress(host) || host === 'localhost';
  const server = createServer((req, res) => serve(req, res));

  function serve(req: IncomingMessage, res: ServerResponse): void {
    // Bound to loopback, a request naming another host is another site's page reached by DNS rebinding.
    if (loopbackOnly && !isLoopbackHost(req.headers.host)) {
      sendError(res, 403, 'requests must name a loopback host');
      return;
    }
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendError(res, 405, `${req.method} is not allowed`, { allow: 'GET, HEAD' });
      return;
    }
    const asset = path === '/' || path === '/index.html' ? 'bench.html' : StaticAssets.fromPath(path);
    if (asset !== undefined) assets.serve(res, asset);
    else if (path === '/api/state') sendJson(res, 200, { state: run.state(), history: run.history() });
    else if (path === '/api/live') {
      if (streams.size >= MAX_STREAMS || req.method === 'HEAD') {
        sendError(res, 503, 'too many live streams open');
        return;
      }
      const stream = new EventStream(res);
      streams.add(stream);
      stream.onClose(() => streams.delete(stream));
      stream.send('snapshot', { state: run.state(), history: run.history() });
    } else sendError(res, 404, `not found: ${path}`);
  }

  const address = await bindServer(server, { host, port: options.port ?? 0 });
  const where =
    typeof address === 'string'
      ? address
      : address.family === 'IPv6'
        ? `[${address.address}]:${address.port}`
        : `${address.address}:${address.port}`;
  let closed = false;
  return {
    url: `http://${where}/`,
    push(sample) {
      if (!(sample.intervalMs > 0)) throw new RangeError(`intervalMs must be > 0, got ${sample.intervalMs}`);
      run.push(sample);
      const state = run.state();
      for (const stream of streams) stream.send('sample', { sample, state });
    },
    finish(summary = '') {
      run.finish(summary);
      for (const stream of streams) stream.send('finish', run.state());
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const stream of streams) stream.close();
      streams.clear();
      await closeServer(server);
    },
  };
}

/** The run as the page sees it: totals, the newest sample, and the curves as columns. */
class BenchRun {
  private latest: BenchLiveSample | undefined;
  private startedAt: number | undefined;
  private finished: { summary: string } | undefined;
  private readonly totals = { sent: 0, received: 0, errors: 0 };
  private readonly columns = {
    elapsedS: [] as number[],
    sentPerS: [] as number[],
    receivedPerS: [] as number[],
    errorsPerS: [] as number[],
    connected: [] as number[],
    p50: [] as (number | null)[],
    p90: [] as (number | null)[],
    p99: [] as (number | null)[],
    p999: [] as (number | null)[],
    max: [] as (number | null)[],
  };

  constructor(
    private readonly title: string,
    private readonly maxPoints: number,
  ) {}

  private readonly agentTotals = new Map<string, BenchLiveAgentRow>();

  push(sample: BenchLiveSample): void {
    this.latest = sample;
    for (const row of sample.agents) {
      const total = this.agentTotals.get(row.name);
      this.agentTotals.set(row.name, {
        name: row.name,
        sent: (total?.sent ?? 0) + row.sent,
        received: (total?.received ?? 0) + row.received,
        errors: (total?.errors ?? 0) + row.errors,
        connected: row.connected,
        state: row.state,
      });
    }
    this.startedAt ??= sample.at - sample.elapsedMs;
    this.totals.sent += sample.sent;
    this.totals.received += sample.received;
    this.totals.errors += sample.errors;
    const perSecond = 1000 / sample.intervalMs;
    const c = this.columns;
    c.elapsedS.push(sample.elapsedMs / 1000);
    c.sentPerS.push(sample.sent * perSecond);
    c.receivedPerS.push(sample.received * perSecond);
    c.errorsPerS.push(sample.errors * perSecond);
    c.connected.push(sample.connected);
    const latency = sample.latencyMs;
    c.p50.push(latency?.p50 ?? null);
    c.p90.push(latency?.p90 ?? null);
    c.p99.push(latency?.p99 ?? null);
    c.p999.push(latency?.p999 ?? null);
    c.max.push(latency?.max ?? null);
    if (c.elapsedS.length > this.maxPoints) for (const column of Object.values(c)) column.shift();
  }

  finish(summary: string): void {
    this.finished = { summary };
  }

  state(): BenchState {
    return {
      title: this.title,
      startedAt: this.startedAt,
      totals: { ...this.totals },
      latest: this.latest,
      agents: [...this.agentTotals.values()],
      finished: this.finished,
    };
  }

  history(): BenchHistory {
    return this.columns;
  }
}
