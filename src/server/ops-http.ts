import type { IncomingMessage, ServerResponse } from 'node:http';
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import type { Engine } from '../broker/engine.js';
import { type LoopDelaySample, takeSnapshot } from '../broker/snapshot.js';
import type { HttpRequestHandler } from '../listeners/http.js';
import { renderPrometheus } from './metrics.js';

/** Resolution of the event-loop delay histogram, in ms. */
const LOOP_DELAY_RESOLUTION_MS = 20;

/**
 * The operations endpoints every HTTP listener serves: `GET /healthz` (200 while every listener is up, 503
 * once shutdown begins), `GET /metrics` (Prometheus text), `GET /api/v1/stats` (JSON).
 */
export class OperationsEndpoints {
  private loopDelay: IntervalHistogram | undefined;
  /** Requests not served here (the dashboard and admin API mount themselves in front of this). */
  readonly handle: HttpRequestHandler = (req, res) => this.route(req, res);

  constructor(
    private readonly engine: Engine,
    private readonly isUp: () => boolean,
    private readonly metricLabels: Readonly<Record<string, string>> = {},
    private readonly extraMetrics?: () => string,
  ) {}

  /** Measure the event loop while an HTTP listener is open. */
  start(): void {
    if (this.loopDelay !== undefined) return;
    this.loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
    this.loopDelay.enable();
  }

  stop(): void {
    this.loopDelay?.disable();
    this.loopDelay = undefined;
  }

  private route(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'text/plain', 'method not allowed\n', { allow: 'GET, HEAD' });
      return;
    }
    switch (path) {
      case '/healthz': {
        const up = this.isUp();
        // During shutdown the connection is not kept alive: it would only hold the server's close open.
        const extra: Record<string, string> = up ? {} : { connection: 'close' };
        send(res, up ? 200 : 503, 'text/plain', up ? 'ok\n' : 'unavailable\n', extra);
        return;
      }
      case '/metrics': {
        const snapshot = takeSnapshot(this.engine, this.sample());
        // Lag is reported per scrape interval, so a past stall does not haunt every later scrape. A reset
        // also drops the timer interval in progress, so a stall starting within one resolution period
        // after a scrape can go unseen; the price of a per-scrape figure from this histogram.
        this.loopDelay?.reset();
        const text = renderPrometheus(snapshot, this.metricLabels) + (this.extraMetrics?.() ?? '');
        send(res, 200, 'text/plain; version=0.0.4; charset=utf-8', text);
        return;
      }
      case '/api/v1/stats':
        send(res, 200, 'application/json', JSON.stringify(takeSnapshot(this.engine, this.sample())));
        return;
      default:
        send(res, 404, 'text/plain', 'not found\n');
    }
  }

  /**
   * The histogram's figures as lag, in nanoseconds. It records the whole time between two ticks of its
   * timer, so the timer's own period is taken off (an idle loop reads 0, not the resolution). An empty
   * histogram (right after a reset) reads 0 rather than its placeholder values.
   */
  private sample(): LoopDelaySample {
    const histogram = this.loopDelay;
    if (histogram === undefined || histogram.count === 0) return { mean: 0, p99: 0, max: 0 };
    const lag = (recorded: number): number => Math.max(0, recorded - LOOP_DELAY_RESOLUTION_MS * 1e6);
    return { mean: lag(histogram.mean), p99: lag(histogram.percentile(99)), max: lag(histogram.max) };
  }
}

function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
