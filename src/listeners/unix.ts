import { createServer } from 'node:net';
import type { ConnectionPort } from '../broker/port.js';
import type { ListenerAddress, UnixListenerConfig } from './listener.js';
import { SocketListener } from './socket-listener.js';

/** MQTT over a Unix domain socket: local clients without a TCP port (mosquitto_sub --unix). */
export class UnixListener extends SocketListener {
  readonly kind = 'unix';

  constructor(private readonly config: UnixListenerConfig) {
    super(config, 'unix');
  }

  async start(port: ConnectionPort): Promise<ListenerAddress> {
    const server = createServer((socket) => {
      // A Unix socket has no remote address; the path tells where the client came in.
      port.accept(socket, { listener: this.name, remoteAddress: this.config.path, admission: this });
    });
    return this.bind(port, server, { path: this.config.path });
  }
}
