import { createServer, type TLSSocket, type TlsOptions } from 'node:tls';
import type { ConnectionPort } from '../broker/port.js';
import type { ListenerAddress, TlsListenerConfig, TlsMaterial } from './listener.js';
import { SocketListener } from './socket-listener.js';

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
export class TlsListener extends SocketListener {
  readonly kind = 'tls';

  constructor(private readonly config: TlsListenerConfig) {
    super(config, 'tls');
  }

  async start(port: ConnectionPort): Promise<ListenerAddress> {
    const server = createServer(tlsServerOptions(this.config), (socket) => {
      socket.setNoDelay(true);
      port.accept(socket, {
        listener: this.name,
        admission: this,
        remoteAddress: socket.remoteAddress,
        remotePort: socket.remotePort,
        peerCertificate: verifiedPeerCertificate(socket),
      });
    });
    server.on('tlsClientError', (err) =>
      port.logger.debug({ err, listener: this.name }, 'TLS handshake failed'),
    );
    return this.bind(port, server, { port: this.config.port, host: this.config.host ?? '0.0.0.0' });
  }
}
