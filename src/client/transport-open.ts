import type { Endpoint } from './options.js';
import type { TlsOptions, Transport } from './transport.js';
import { connectTcp } from './transport-tcp.js';
import { connectTls } from './transport-tls.js';

/**
 * Opens a transport to `endpoint`; rejects on failure or when `signal` aborts. The WebSocket module (and
 * the `ws` library) is loaded only when a ws/wss URL is used.
 */
export async function openTransport(
  endpoint: Endpoint,
  tls: TlsOptions,
  signal: AbortSignal,
): Promise<Transport> {
  switch (endpoint.kind) {
    case 'tcp':
      return connectTcp(endpoint, signal);
    case 'tls':
      return connectTls(endpoint, tls, signal);
    case 'ws':
    case 'wss': {
      const { connectWebSocket } = await import('./transport-ws.js');
      return connectWebSocket(endpoint, tls, signal);
    }
  }
}
