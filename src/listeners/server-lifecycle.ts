import type { AddressInfo } from 'node:net';
import type { ListenerAddress } from './listener.js';

/** What `net.Server`, `tls.Server`, `http.Server` and `https.Server` have in common here. */
interface ListeningServer {
  listen(...args: unknown[]): unknown;
  close(callback?: (err?: Error) => void): unknown;
  closeIdleConnections?(): void;
  closeAllConnections?(): void;
  address(): AddressInfo | string | null;
  once(event: 'error', listener: (err: Error) => void): unknown;
  off(event: 'error', listener: (err: Error) => void): unknown;
}

/**
 * Connections the kernel may complete before the broker accepts them (Linux caps it at
 * `net.core.somaxconn`, 4096 by default). Node's default, 511, overflows in a burst of connections: past
 * it, a SYN-cookie handshake completes on the client side and is dropped on ours, so a client that sends
 * nothing is connected as far as it knows and the broker never sees it, nor closes it at the connect
 * timeout.
 */
export const LISTEN_BACKLOG = 4096;

/** Bind `server` to a port (or a Unix socket path) and resolve to the bound address. */
export function bindServer(
  server: ListeningServer,
  where: { port: number; host: string } | { path: string },
): Promise<ListenerAddress> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const done = (): void => {
      server.off('error', reject);
      const address = server.address();
      if (address === null) reject(new Error('listener has no address after listen'));
      else
        resolve(
          typeof address === 'string'
            ? address
            : { address: address.address, port: address.port, family: address.family },
        );
    };
    if ('path' in where) server.listen({ path: where.path, backlog: LISTEN_BACKLOG }, done);
    else server.listen({ port: where.port, host: where.host, backlog: LISTEN_BACKLOG }, done);
  });
}

/** How long HTTP connections still busy at close (a response being written, a live stream ending) get. */
const HTTP_CLOSE_GRACE_MS = 1_000;

/**
 * Stop accepting; resolves once the server is closed (sockets a TCP server handed out stay open for the
 * broker). An HTTP server's idle keep-alive connections are closed at once and all others after a short
 * grace: Node counts a connection that has not sent a request yet (a browser's preconnected spare socket)
 * as busy, and it would hold the close open until the headers timeout, a minute or more.
 */
export function closeServer(server: ListeningServer): Promise<void> {
  return new Promise((resolve) => {
    let grace: NodeJS.Timeout | undefined;
    server.close(() => {
      if (grace !== undefined) clearTimeout(grace);
      resolve();
    });
    if (server.closeIdleConnections === undefined) return;
    server.closeIdleConnections();
    grace = setTimeout(() => server.closeAllConnections?.(), HTTP_CLOSE_GRACE_MS);
    grace.unref();
  });
}

/** `mqtt://127.0.0.1:1883`-style text for logs. */
export function describeAddress(scheme: string, address: ListenerAddress, path = ''): string {
  if (typeof address === 'string') return `${scheme}://${address}`;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${scheme}://${host}:${address.port}${path}`;
}
