import type { Server as NetServer } from 'node:net';
import type { Server as TlsServer } from 'node:tls';
import type { ConnectionPort } from '../broker/port.js';
import {
  type CommonListenerConfig,
  ConnectionRateGate,
  type Listener,
  type ListenerAddress,
  type ListenerKind,
} from './listener.js';
import { bindServer, closeServer } from './server-lifecycle.js';

/**
 * What the TCP, TLS and Unix socket listeners share: a name, a connection limit, a connection-rate gate,
 * and the bind/close life of one `net`/`tls` server. Each kind only says how to make its server.
 */
export abstract class SocketListener implements Listener {
  abstract readonly kind: ListenerKind;
  readonly name: string;
  readonly maxConnections: number;
  listening = false;
  private server: NetServer | TlsServer | undefined;
  private readonly gate: ConnectionRateGate;

  constructor(config: CommonListenerConfig, defaultName: string) {
    this.name = config.name ?? defaultName;
    this.maxConnections = config.maxConnections ?? 0;
    this.gate = new ConnectionRateGate(config.connectionRate ?? 0);
  }

  /** Take one token from this listener's connection-rate budget; false when it is spent. */
  admitConnect(): boolean {
    return this.gate.admit();
  }

  abstract start(port: ConnectionPort): Promise<ListenerAddress>;

  /** Bind a server made by `start`, logging its errors; resolves to the bound address. */
  protected async bind(
    port: ConnectionPort,
    server: NetServer | TlsServer,
    where: { port: number; host: string } | { path: string },
  ): Promise<ListenerAddress> {
    server.on('error', (err) => port.logger.error({ err, listener: this.name }, 'listener error'));
    const address = await bindServer(server, where);
    this.server = server;
    this.listening = true;
    return address;
  }

  /** Stop accepting (closing a Unix server also removes its socket file); open connections are the broker's. */
  async close(): Promise<void> {
    this.listening = false;
    if (this.server !== undefined) await closeServer(this.server);
    this.server = undefined;
  }
}
