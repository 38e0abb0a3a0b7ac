import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import type { Broker } from '../broker/broker.js';
import {
  ConnectionRateGate,
  type HttpListenerConfig,
  type Listener,
  type ListenerAddress,
} from './listener.js';
import { type LoopDelaySample, renderPrometheus, takeSnapshot } from './metrics.js';
import { bindServer, closeServer } from './server-lifecycle.js';
import { attachGateway, WebSocketGateway } from './websocket.js';

/**
 * Routes served on this port ahead of the built-in ones (the dashboard): `handle` returns true when it
 * answered the request; `close` is called before the server closes (to end long-lived streams).
 */
export interface HttpRouteExtension {
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  close?(): void;
}

/** Resolution of the event-loop delay histogram, in ms. */
const LOOP_DELAY_RESOLUTION_MS = 20;

/**
 * Operations endpoints: `GET /healthz` (200 while every listener is up, 503 once shutdown begins),
 * `GET /metrics` (Prometheus text), `GET /api/v1/stats` (JSON). Optionally MQTT over WebSocket on the
 * same port.
 */
export class HttpListener implements Listener {
  readonly kind = 'http';
  readonly name: string;
  readonly maxConnections: number;
  listening = false;
  private server: Server | undefined;
  private gateway: WebSocketGateway | undefined;
  private loopDelay: IntervalHistogram | undefined;
  private readonly gate: ConnectionRateGate;

  constructor(
    private readonly config: HttpListenerConfig,
    private readonly extension?: HttpRouteExtension,
  ) {
    this.name = config.name ?? 'http';
    this.maxConnections = config.maxConnections ?? 0;
    this.gate = new ConnectionRateGate(config.connectionRate ?? 0);
  }

  /** Take one token from the connection-rate budget of MQTT over WebSocket on this port. */
  admitConnect(): boolean {
    return this.gate.admit();
  }

  async start(broker: Broker): Promise<ListenerAddress> {
    const loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
    loopDelay.enable();
    const server = createServer((req, res) => this.route(broker, loopDelay, req, res));
    if (this.config.websocket !== undefined) {
      const gateway = new WebSocketGateway(broker, this.name, this.config.websocket);
      attachGateway(server, gateway);
      this.gateway = gateway;
    }
    server.on('error', (err) => broker.logger.error({ err, listener: this.name }, 'listener error'));
    try {
      const address = await bindServer(server, {
        port: this.config.port,
        host: this.config.host ?? '0.0.0.0',
      });
      this.server = server;
      this.loopDelay = loopDelay;
      this.listening = true;
      return address;
    } catch (err) {
      loopDelay.disable();
      throw err;
    }
  }

  async close(): Promise<void> {
    this.listening = false;
    this.extension?.close?.();
    this.gateway?.close();
    this.loopDelay?.disable();
    if (this.server !== undefined) await closeServer(this.server);
    this.server = undefined;
  }

  private route(
    broker: Broker,
    loopDelay: IntervalHistogram,
    req: IncomingMessage,
    res: ServerResponse,
  ): void {
    if (this.extension?.handle(req, res) === true) return;
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'text/plain', 'method not allowed\n', { allow: 'GET, HEAD' });
      return;
    }
    switch (path) {
      case '/healthz': {
        const up = !broker.shuttingDown && broker.listeners.every((l) => l.listening);
        // During shutdown the connection is not kept alive: it would only hold the server's close open.
        const extra: Record<string, string> = broker.shuttingDown ? { connection: 'close' } : {};
        send(res, up ? 200 : 503, 'text/plain', up ? 'ok\n' : 'unavailable\n', extra);
        return;
      }
      case '/metrics': {
        const snapshot = takeSnapshot(broker, sampleOf(loopDelay));
        // Lag is reported per scrape interval, so a past stall does not haunt every later scrape. A reset
        // also drops the timer interval in progress, so a stall starting within one resolution period
        // after a scrape can go unseen; the price of a per-scrape figure from this histogram.
        loopDelay.reset();
        send(res, 200, 'text/plain; version=0.0.4; charset=utf-8', renderPrometheus(snapshot));
        return;
      }
      case '/api/v1/stats':
        send(res, 200, 'application/json', JSON.stringify(takeSnapshot(broker, sampleOf(loopDelay))));
        return;
      default:
        send(res, 404, 'text/plain', 'not found\n');
    }
  }
}

/**
 * The histogram's figures as lag, in nanoseconds. It records the whole time between two ticks of its
 * timer, so the timer's own period is taken off (an idle loop reads 0, not the resolution). An empty
 * histogram (right after a reset) reads 0 rather than its placeholder values.
 */
function sampleOf(histogram: IntervalHistogram): LoopDelaySample {
  if (histogram.count === 0) return { mean: 0, p99: 0, max: 0 };
  const lag = (recorded: number): number => Math.max(0, recorded - LOOP_DELAY_RESOLUTION_MS * 1e6);
  return { mean: lag(histogram.mean), p99: lag(histogram.percentile(99)), max: lag(histogram.max) };
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
