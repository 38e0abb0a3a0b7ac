import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { ConnectionPort } from '../broker/port.js';
import {
  ConnectionRateGate,
  type HttpListenerConfig,
  type Listener,
  type ListenerAddress,
} from './listener.js';
import { bindServer, closeServer } from './server-lifecycle.js';
import { attachGateway, WebSocketGateway } from './websocket.js';

/** Serves one HTTP request (the operations endpoints, the dashboard); given to the listener by the server. */
export type HttpRequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** What an HTTP listener serves when the server gives it nothing: 404 for every path. */
const notFound: HttpRequestHandler = (_req, res) => {
  res.writeHead(404, { 'content-type': 'text/plain', 'content-length': 10 });
  res.end('not found\n');
};

/**
 * An HTTP port: requests go to the handler the server composed (operations endpoints, dashboard, admin
 * API), and optionally MQTT over WebSocket on the same port.
 */
export class HttpListener implements Listener {
  readonly kind = 'http';
  readonly name: string;
  readonly maxConnections: number;
  listening = false;
  private server: Server | undefined;
  private gateway: WebSocketGateway | undefined;
  private readonly gate: ConnectionRateGate;

  constructor(
    private readonly config: HttpListenerConfig,
    private readonly handler: HttpRequestHandler = notFound,
  ) {
    this.name = config.name ?? 'http';
    this.maxConnections = config.maxConnections ?? 0;
    this.gate = new ConnectionRateGate(config.connectionRate ?? 0);
  }

  /** Take one token from the connection-rate budget of MQTT over WebSocket on this port. */
  admitConnect(): boolean {
    return this.gate.admit();
  }

  async start(port: ConnectionPort): Promise<ListenerAddress> {
    const server = createServer(this.handler);
    if (this.config.websocket !== undefined) {
      const gateway = new WebSocketGateway(port, this, this.config.websocket);
      attachGateway(server, gateway);
      this.gateway = gateway;
    }
    server.on('error', (err) => port.logger.error({ err, listener: this.name }, 'listener error'));
    const address = await bindServer(server, { port: this.config.port, host: this.config.host ?? '0.0.0.0' });
    this.server = server;
    this.listening = true;
    return address;
  }

  async close(): Promise<void> {
    this.listening = false;
    this.gateway?.close();
    if (this.server !== undefined) await closeServer(this.server);
    this.server = undefined;
  }
}
