import { createServer, type Server } from 'node:net';
import type { Broker } from '../broker/broker.js';
import {
  ConnectionRateGate,
  type Listener,
  type ListenerAddress,
  type UnixListenerConfig,
} from './listener.js';
import { bindServer, closeServer } from './server-lifecycle.js';

/** MQTT over a Unix domain socket: local clients without a TCP port (mosquitto_sub --unix). */
export class UnixListener implements Listener {
  readonly kind = 'unix';
  readonly name: string;
  readonly maxConnections: number;
  listening = false;
  private server: Server | undefined;
  private readonly gate: ConnectionRateGate;

  constructor(private readonly config: UnixListenerConfig) {
    this.name = config.name ?? 'unix';
    this.maxConnections = config.maxConnections ?? 0;
    this.gate = new ConnectionRateGate(config.connectionRate ?? 0);
  }

  /** Take one token from this listener's connection-rate budget; false when it is spent. */
  admitConnect(): boolean {
    return this.gate.admit();
  }

  async start(broker: Broker): Promise<ListenerAddress> {
    const server = createServer((socket) => {
      // A Unix socket has no remote address; the path tells where the client came in.
      broker.handleConnection(socket, { listener: this.name, remoteAddress: this.config.path });
    });
    server.on('error', (err) => broker.logger.error({ err, listener: this.name }, 'listener error'));
    const address = await bindServer(server, { path: this.config.path });
    this.server = server;
    this.listening = true;
    return address;
  }

  /** Closing a Unix server also removes its socket file. */
  async close(): Promise<void> {
    this.listening = false;
    if (this.server !== undefined) await closeServer(this.server);
    this.server = undefined;
  }
}
