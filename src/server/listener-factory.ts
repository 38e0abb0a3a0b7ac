import { HttpListener, type HttpRequestHandler } from '../listeners/http.js';
import type { Listener, ListenerConfig } from '../listeners/listener.js';
import { TcpListener } from '../listeners/tcp.js';
import { TlsListener } from '../listeners/tls.js';
import { UnixListener } from '../listeners/unix.js';
import { WebSocketListener } from '../listeners/websocket.js';

/**
 * Build the listener a config entry describes (not started yet). HTTP listeners serve `http`, the
 * server's composition of operations endpoints.
 */
export function createListener(config: ListenerConfig, http: HttpRequestHandler): Listener {
  switch (config.type) {
    case 'tcp':
      return new TcpListener(config);
    case 'tls':
      return new TlsListener(config);
    case 'ws':
    case 'wss':
      return new WebSocketListener(config);
    case 'unix':
      return new UnixListener(config);
    case 'http':
      return new HttpListener(config, http);
  }
}
