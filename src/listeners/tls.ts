import { createServer, type Server, type TLSSocket, type TlsOptions } from 'node:tls';
import type { Broker } from '../broker/broker.js';
import {
  ConnectionRateGate,
  type Listener,
  type ListenerAddress,
  type TlsListenerConfig,
  type TlsMaterial,
} from './listener.js';
import { bindServer, closeServer } from './server-lifecycle.js';

/** Node TLS server options for a certificate, key, CA and client-certificate policy. */
export function tlsServerOptions(material: TlsMaterial): TlsOptions {
  const policy = material.clientCertificates ?? 'none';
  return {
    cert: material.cert,
    key: material.key,
    ...(material.ca === undefined ? {} : { ca: material.ca }),
    requestCert: policy !== 'none',
    // With `optional`, unverified clients are let in; their certificate is then not reported as a fact.
    rejectUnauthorized: policy === 'required',
    minVersion: material.minVersion ?? 'TLSv1.2',
  };
}

/** The verified peer certificate of a TLS socket, when the client presented one. */
export function verifiedPeerCertificate(socket: TLSSocket): unknown {
  if (!socket.authorized) return undefined;
  const certificate = socket.getPeerCertificate(false);
  return certificate !== null && Object.keys(certificate).length > 0 ? certificate : undefined;
}

/** MQTT over TLS (`mqtts://`, usually port 8883). */
export class TlsListener implements Listener {
  readonly kind = 'tls';
  readonly name: string;
  readonly maxConnections: number;
  listening = false;
  private server: Server | undefined;
  private readonly gate: ConnectionRateGate;

  constructor(private readonly config: TlsListenerConfig) {
    this.name = config.name ?? 'tls';
    this.maxConnections = config.maxConnections ?? 0;
    this.gate = new ConnectionRateGate(config.connectionRate ?? 0);
  }

  /** Take one token from this listener's connection-rate budget; false when it is spent. */
  admitConnect(): boolean {
    return this.gate.admit();
  }

  async start(broker: Broker): Promise<ListenerAddress> {
    const server = createServer(tlsServerOptions(this.config), (socket) => {
      socket.setNoDelay(true);
      broker.handleConnection(socket, {
        listener: this.name,
        remoteAddress: socket.remoteAddress,
        remotePort: socket.remotePort,
        peerCertificate: verifiedPeerCertificate(socket),
      });
    });
    server.on('tlsClientError', (err) =>
      broker.logger.debug({ err, listener: this.name }, 'TLS handshake failed'),
    );
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
