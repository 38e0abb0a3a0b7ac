import { HttpListener } from './http.js';
import type { Listener, ListenerConfig } from './listener.js';
import { TcpListener } from './tcp.js';
import { TlsListener } from './tls.js';
import { UnixListener } from './unix.js';
import { WebSocketListener } from './websocket.js';

/** Build the listener a config entry describes (not started yet). */
export function createListener(config: ListenerConfig): Listener {
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
      return new HttpListener(config);
  }
}
