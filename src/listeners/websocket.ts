import { createServer as createHttpServer, type Server as HttpServer, type IncomingMessage } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex as NetDuplex } from 'node:stream';
import { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import type { ConnectionPort, ListenerAdmission } from '../broker/port.js';
import {
  ConnectionRateGate,
  DEFAULT_WS_PATH,
  type Listener,
  type ListenerAddress,
  type WebSocketOptions,
  type WsListenerConfig,
  type WssListenerConfig,
} from './listener.js';
import { bindServer, closeServer } from './server-lifecycle.js';
import { tlsServerOptions, verifiedPeerCertificate } from './tls.js';

/** Subprotocols we speak, in order of preference: `mqtt` (3.1.1 and 5.0), `mqttv3.1` (3.1). */
const SUBPROTOCOLS = ['mqtt', 'mqttv3.1'] as const;
/** WebSocket close code 1003: the endpoint received data it cannot accept (a text frame). */
const CLOSE_UNSUPPORTED_DATA = 1003;

/**
 * A WebSocket seen as a byte stream: MQTT packets may span frames and frames may carry several packets
 * [MQTT-6.0.0-2], so the broker's parser just gets the frame payloads in order. Writes
 * made in one corked batch go out as one binary frame.
 */
export class WebSocketStream extends Duplex {
  constructor(private readonly ws: WebSocket) {
    super({ allowHalfOpen: false });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) {
        // [MQTT-6.0.0-1] Data not sent in binary frames: the connection is closed.
        ws.close(CLOSE_UNSUPPORTED_DATA, 'MQTT needs binary frames');
        return;
      }
      if (!this.push(data)) ws.pause();
    });
    ws.on('close', () => {
      this.push(null);
      this.destroy();
    });
    ws.on('error', (err) => this.destroy(err));
  }

  override _read(): void {
    this.ws.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.ws.send(chunk, { binary: true }, callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (err?: Error | null) => void): void {
    const joined =
      chunks.length === 1
        ? (chunks[0] as { chunk: Buffer }).chunk
        : Buffer.concat(chunks.map((c) => c.chunk));
    this.ws.send(joined, { binary: true }, callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.ws.close(1000);
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.terminate();
    callback(err);
  }
}

/** The client address: the socket's, or, when trusted, the last hop recorded in X-Forwarded-For. */
export function clientAddress(
  request: IncomingMessage,
  trustForwardedFor: boolean,
): { remoteAddress?: string; remotePort?: number } {
  const forwarded = request.headers['x-forwarded-for'];
  if (trustForwardedFor && forwarded !== undefined) {
    const list = (Array.isArray(forwarded) ? forwarded.join(',') : forwarded).split(',');
    // The rightmost entry was added by the proxy we trust; entries left of it are the client's word.
    const hop = list[list.length - 1]?.trim();
    if (hop !== undefined && hop.length > 0) return { remoteAddress: hop };
  }
  const socket = request.socket;
  return {
    ...(socket.remoteAddress === undefined ? {} : { remoteAddress: socket.remoteAddress }),
    ...(socket.remotePort === undefined ? {} : { remotePort: socket.remotePort }),
  };
}

/** Accepts WebSocket upgrades on one path and hands each socket to the broker as a stream. */
export class WebSocketGateway {
  readonly path: string;
  private readonly wss: WebSocketServer;

  constructor(
    private readonly port: ConnectionPort,
    private readonly listener: ListenerAdmission & { readonly name: string },
    private readonly options: WebSocketOptions,
  ) {
    this.path = options.path ?? DEFAULT_WS_PATH;
    this.wss = new WebSocketServer({
      noServer: true,
      // Several packets may share a frame, so allow some room over one maximum-size packet.
      maxPayload: Math.min(port.maximumPacketSize * 2, 512 * 1024 * 1024),
      perMessageDeflate: false,
      // [MQTT-6.0.0-4] The server selects `mqtt`; `mqttv3.1` only for MQTT 3.1 clients that offer nothing else.
      handleProtocols: (offered) => SUBPROTOCOLS.find((p) => offered.has(p)) ?? false,
    });
  }

  /** Serve the upgrade if it is for our path; false leaves it to the caller. */
  handleUpgrade(request: IncomingMessage, socket: NetDuplex, head: Buffer): boolean {
    const path = (request.url ?? '/').split('?')[0];
    if (path !== this.path) return false;
    this.wss.handleUpgrade(request, socket, head, (ws) => {
      const tlsSocket = request.socket as { authorized?: boolean };
      const peerCertificate =
        tlsSocket.authorized === undefined ? undefined : verifiedPeerCertificate(request.socket as never);
      this.port.accept(new WebSocketStream(ws), {
        listener: this.listener.name,
        admission: this.listener,
        ...clientAddress(request, this.options.trustForwardedFor === true),
        headers: request.headers,
        ...(peerCertificate === undefined ? {} : { peerCertificate }),
      });
    });
    return true;
  }

  close(): void {
    this.wss.close();
  }
}

/** Route `upgrade` events of an HTTP(S) server to a gateway; other paths get 404. */
export function attachGateway(server: HttpServer, gateway: WebSocketGateway): void {
  server.on('upgrade', (request: IncomingMessage, socket: NetDuplex, head: Buffer) => {
    if (!gateway.handleUpgrade(request, socket, head)) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    }
  });
}

/** MQTT over WebSocket (`ws://`) or secure WebSocket (`wss://`) on its own port. */
export class WebSocketListener implements Listener {
  readonly kind: 'ws' | 'wss';
  readonly name: string;
  readonly maxConnections: number;
  listening = false;
  private server: HttpServer | undefined;
  private gateway: WebSocketGateway | undefined;
  private readonly gate: ConnectionRateGate;

  constructor(private readonly config: WsListenerConfig | WssListenerConfig) {
    this.kind = config.type;
    this.name = config.name ?? config.type;
    this.maxConnections = config.maxConnections ?? 0;
    this.gate = new ConnectionRateGate(config.connectionRate ?? 0);
  }

  /** Take one token from this listener's connection-rate budget; false when it is spent. */
  admitConnect(): boolean {
    return this.gate.admit();
  }

  async start(port: ConnectionPort): Promise<ListenerAddress> {
    const config = this.config;
    const onRequest = (_req: IncomingMessage, res: import('node:http').ServerResponse): void => {
      res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
      res.end('MQTT over WebSocket: upgrade required\n');
    };
    const server: HttpServer =
      config.type === 'wss'
        ? (createHttpsServer(tlsServerOptions(config), onRequest) as unknown as HttpServer)
        : createHttpServer(onRequest);
    const gateway = new WebSocketGateway(port, this, config);
    attachGateway(server, gateway);
    server.on('error', (err) => port.logger.error({ err, listener: this.name }, 'listener error'));
    const address = await bindServer(server, { port: config.port, host: config.host ?? '0.0.0.0' });
    this.server = server;
    this.gateway = gateway;
    this.listening = true;
    return address;
  }

  async close(): Promise<void> {
    this.listening = false;
    this.gateway?.close();
    if (this.server !== undefined) await closeServer(this.server);
    this.server = undefined;
  }
}
