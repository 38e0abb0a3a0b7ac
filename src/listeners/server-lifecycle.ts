import type { AddressInfo } from 'node:net';
import type { ListenerAddress } from './listener.js';

/** What `net.Server`, `tls.Server`, `http.Server` and `https.Server` have in common here. */
interface ListeningServer {
  listen(...args: unknown[]): unknown;
  close(callback?: (err?: Error) => void): unknown;
  closeIdleConnections?(): void;
  address(): AddressInfo | string | null;
  once(event: 'error', listener: (err: Error) => void): unknown;
  off(event: 'error', listener: (err: Error) => void): unknown;
}

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
    if ('path' in where) server.listen(where.path, done);
    else server.listen(where.port, where.host, done);
  });
}

/** Stop accepting; resolves once the server is closed (sockets it handed out stay open for the broker). */
export function closeServer(server: ListeningServer): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    // HTTP keep-alive sockets that carry no request would otherwise hold the close open.
    server.closeIdleConnections?.();
  });
}

/** `mqtt://127.0.0.1:1883`-style text for logs. */
export function describeAddress(scheme: string, address: ListenerAddress, path = ''): string {
  if (typeof address === 'string') return `${scheme}://${address}`;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${scheme}://${host}:${address.port}${path}`;
}
