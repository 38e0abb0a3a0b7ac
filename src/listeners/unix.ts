import { createServer } from 'node:net';
import type { Broker } from '../broker/broker.js';
import type { ListenerAddress, UnixListenerConfig } from './listener.js';
import { SocketListener } from './socket-listener.js';

/** MQTT over a Unix domain socket: local clients without a TCP port (mosquitto_sub --unix). */
export class UnixListener extends SocketListener {
  readonly kind = 'unix';

  constructor(private readonly config: UnixListenerConfig) {
    super(config, 'unix');
  }

  async start(broker: Broker): Promise<ListenerAddress> {
    const server = createServer((socket) => {
      // A Unix socket has no remote address; the path tells where the client came in.
      broker.handleConnection(socket, { listener: this.name, remoteAddress: this.config.path });
    });
    return this.bind(broker, server, { path: this.config.path });
  }
}
