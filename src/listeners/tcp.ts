import { createServer, type Socket } from 'node:net';
import type { ConnectionFacts, ConnectionPort, ListenerAdmission } from '../broker/port.js';
import type { ListenerAddress, TcpListenerConfig } from './listener.js';
import { peerAddress } from './peer-address.js';
import { parseProxyHeader } from './proxy-protocol.js';
import { SocketListener } from './socket-listener.js';

/** Bytes we wait for a PROXY header before giving up on the connection. */
const PROXY_HEADER_LIMIT = 536;
/** Milliseconds a client behind a proxy has to deliver the PROXY header. */
const PROXY_HEADER_TIMEOUT_MS = 5000;

/** Plain MQTT over TCP, optionally behind a load balancer speaking the PROXY protocol. */
export class TcpListener extends SocketListener {
  readonly kind = 'tcp';

  constructor(private readonly config: TcpListenerConfig) {
    super(config, 'tcp');
  }

  async start(port: ConnectionPort): Promise<ListenerAddress> {
    const Facts = factsOf(this.name, this);
    const server = createServer({ noDelay: true }, (socket) => {
      if (this.config.proxyProtocol === true) readProxyHeader(socket, port, this);
      else {
        const peer = peerAddress(socket);
        port.accept(socket, new Facts(peer.address, peer.port));
      }
    });
    return this.bind(port, server, { port: this.config.port, host: this.config.host ?? '0.0.0.0' });
  }
}

/**
 * The facts of this listener's connections: the peer's address and port in each, the listener's name and
 * admission on the prototype they share (an object of two fields where a literal of four took 16 bytes more).
 */
function factsOf(
  listener: string,
  admission: ListenerAdmission,
): new (
  remoteAddress: string | undefined,
  remotePort: number | undefined,
) => ConnectionFacts {
  return class TcpConnectionFacts implements ConnectionFacts {
    constructor(
      readonly remoteAddress: string | undefined,
      readonly remotePort: number | undefined,
    ) {}
    get listener(): string {
      return listener;
    }
    get admission(): ListenerAdmission {
      return admission;
    }
  };
}

/** Collect the PROXY header, then hand the socket (with the rest of the bytes put back) to the broker. */
function readProxyHeader(socket: Socket, port: ConnectionPort, listener: TcpListener): void {
  let buffered: Buffer = Buffer.alloc(0);
  const timer = setTimeout(() => socket.destroy(), PROXY_HEADER_TIMEOUT_MS);
  timer.unref();
  const onData = (chunk: Buffer): void => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    const header = parseProxyHeader(buffered);
    if (header.kind === 'incomplete' && buffered.length < PROXY_HEADER_LIMIT) return;
    socket.off('data', onData);
    clearTimeout(timer);
    if (header.kind === 'incomplete' || header.kind === 'invalid') {
      port.logger.debug({ listener, remoteAddress: socket.remoteAddress }, 'bad PROXY protocol header');
      socket.destroy();
      return;
    }
    socket.pause();
    const rest = buffered.subarray(header.length);
    if (rest.length > 0) socket.unshift(rest);
    const proxied = header.kind === 'proxied';
    port.accept(socket, {
      listener: listener.name,
      admission: listener,
      remoteAddress: proxied ? header.remoteAddress : socket.remoteAddress,
      remotePort: proxied ? header.remotePort : socket.remotePort,
    });
    socket.resume();
  };
  socket.on('data', onData);
  socket.on('error', () => clearTimeout(timer));
}
