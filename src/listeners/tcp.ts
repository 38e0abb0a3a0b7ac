import { createServer, type Server, type Socket } from 'node:net';
import type { Broker } from '../broker/broker.js';
import {
  ConnectionRateGate,
  type Listener,
  type ListenerAddress,
  type TcpListenerConfig,
} from './listener.js';
import { parseProxyHeader } from './proxy-protocol.js';
import { bindServer, closeServer } from './server-lifecycle.js';

/** Bytes we wait for a PROXY header before giving up on the connection. */
const PROXY_HEADER_LIMIT = 536;
/** Milliseconds a client behind a proxy has to deliver the PROXY header. */
const PROXY_HEADER_TIMEOUT_MS = 5000;

/** Plain MQTT over TCP, optionally behind a load balancer speaking the PROXY protocol. */
export class TcpListener implements Listener {
  readonly kind = 'tcp';
  readonly name: string;
  readonly maxConnections: number;
  listening = false;
  private server: Server | undefined;
  private readonly gate: ConnectionRateGate;

  constructor(private readonly config: TcpListenerConfig) {
    this.name = config.name ?? 'tcp';
    this.maxConnections = config.maxConnections ?? 0;
    this.gate = new ConnectionRateGate(config.connectionRate ?? 0);
  }

  /** Take one token from this listener's connection-rate budget; false when it is spent. */
  admitConnect(): boolean {
    return this.gate.admit();
  }

  async start(broker: Broker): Promise<ListenerAddress> {
    const server = createServer({ noDelay: true }, (socket) => {
      if (this.config.proxyProtocol === true) readProxyHeader(socket, broker, this.name);
      else
        broker.handleConnection(socket, {
          listener: this.name,
          remoteAddress: socket.remoteAddress,
          remotePort: socket.remotePort,
        });
    });
    server.on('error', (err) => broker.logger.error({ err, listener: this.name }, 'listener error'));
    const address = await bindServer(server, { port: this.config.port, host: this.config.host ?? '0.0.0.0' });
    this.server = server;
    this.listening = true;
    return address;
  }

  async close(): Promise<void> {
    this.listening = false;
    if (this.server !== undefined) await closeServer(this.server);
    this.server = undefined;
  }
}

/** Collect the PROXY header, then hand the socket (with the rest of the bytes put back) to the broker. */
function readProxyHeader(socket: Socket, broker: Broker, listener: string): void {
  let buffered: Buffer = Buffer.alloc(0);
  const timer = setTimeout(() => socket.destroy(), PROXY_HEADER_TIMEOUT_MS);
  timer.unref();
  const onData = (chunk: Buffer): void => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    const header = parseProxyHeader(buffered);
    if (header.kind === 'incomplete' && buffered.length < PROXY_HEADER_LIMIT) return;
    socket.off('data', onData);
    clearTimeout(timer);
    if (header.kind === 'incomplete' || header.kind === 'invalid') {
      broker.logger.debug({ listener, remoteAddress: socket.remoteAddress }, 'bad PROXY protocol header');
      socket.destroy();
      return;
    }
    socket.pause();
    const rest = buffered.subarray(header.length);
    if (rest.length > 0) socket.unshift(rest);
    const proxied = header.kind === 'proxied';
    broker.handleConnection(socket, {
      listener,
      remoteAddress: proxied ? header.remoteAddress : socket.remoteAddress,
      remotePort: proxied ? header.remotePort : socket.remotePort,
    });
    socket.resume();
  };
  socket.on('data', onData);
  socket.on('error', () => clearTimeout(timer));
}
