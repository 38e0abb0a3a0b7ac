/** TLS transport (`mqtts://`, `ssl://`). */
import { isIP } from 'node:net';
import { connect } from 'node:tls';
import type { Endpoint } from './options.js';
import { type TlsOptions, type Transport, whenOpen } from './transport.js';

/** Connects a TLS socket; SNI defaults to the host name (never to an IP address, RFC 6066 section 3). */
export function connectTls(endpoint: Endpoint, tls: TlsOptions, signal: AbortSignal): Promise<Transport> {
  const servername = tls.servername ?? (isIP(endpoint.host) === 0 ? endpoint.host : undefined);
  const socket = connect({
    host: endpoint.host,
    port: endpoint.port,
    ca: tls.ca,
    cert: tls.cert,
    key: tls.key,
    rejectUnauthorized: tls.rejectUnauthorized ?? true,
    servername,
  });
  socket.setNoDelay(true);
  return whenOpen(socket, 'secureConnect', signal);
}
