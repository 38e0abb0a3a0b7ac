/**
 * A scripted MQTT server for client tests: the test reads the client's packets and writes the server's,
 * to produce exact sequences (challenges, duplicates, silence) that a real broker will not.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { encode, PacketParser } from '../../src/packets/index.js';
import type { Packet, PacketOf, PacketTypeName, ProtocolVersionNumber } from '../../src/packets/types.js';

/** One client connection seen by the scripted server. */
export class ScriptedPeer {
  private readonly packets: Packet[] = [];
  private waiter: (() => void) | undefined;
  private readonly parser = new PacketParser({ protocolVersion: 5 });
  /** Resolves when the client's socket closed. */
  readonly closed: Promise<void>;
  /** Set from the CONNECT. */
  version: ProtocolVersionNumber = 5;
  private error: Error | undefined;

  constructor(private readonly socket: Socket) {
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk) => {
      try {
        this.parser.push(chunk, (packet) => {
          if (packet.type === 'connect') this.version = packet.protocolVersion;
          this.packets.push(packet);
        });
      } catch (error) {
        this.error = error as Error;
        socket.destroy();
      }
      this.wake();
    });
    socket.once('close', () => this.wake());
    socket.on('error', () => undefined);
  }

  /** The next packet from the client; rejects after `timeoutMs` or when the connection closed first. */
  async next(timeoutMs = 3000): Promise<Packet> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const packet = this.packets.shift();
      if (packet !== undefined) return packet;
      if (this.error !== undefined) throw this.error;
      if (this.socket.destroyed) throw new Error('connection closed while waiting for a packet');
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`no packet from the client within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
  }

  /** The next packet, which must be of `type`. */
  async expect<T extends PacketTypeName>(type: T, timeoutMs?: number): Promise<PacketOf<T>> {
    const packet = await this.next(timeoutMs);
    if (packet.type !== type) throw new Error(`expected ${type}, got ${JSON.stringify(packet)}`);
    return packet as PacketOf<T>;
  }

  /** Packets received and not yet read. */
  get pending(): readonly Packet[] {
    return this.packets;
  }

  send(packet: Packet): void {
    if (!this.socket.destroyed) this.socket.write(encode(packet, this.version));
  }

  /** Closes the connection abruptly. */
  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    this.waiter?.();
  }
}

/** A listening scripted server. */
export interface ScriptedServer {
  url: string;
  port: number;
  /** The next client connection (waits up to `timeoutMs`). */
  accept(timeoutMs?: number): Promise<ScriptedPeer>;
  stop(): Promise<void>;
}

/** Starts a scripted server on 127.0.0.1 and a free port; with `tls`, a TLS server (`mqtts://`). */
export async function startScriptedServer(tls?: { key: Buffer; cert: Buffer }): Promise<ScriptedServer> {
  const peers: ScriptedPeer[] = [];
  const sockets = new Set<Socket>();
  let waiter: (() => void) | undefined;
  const onSocket = (socket: Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    peers.push(new ScriptedPeer(socket));
    waiter?.();
  };
  const server: Server = tls === undefined ? createServer(onSocket) : createTlsServer(tls, onSocket);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `${tls === undefined ? 'mqtt' : 'mqtts'}://127.0.0.1:${port}`,
    port,
    async accept(timeoutMs = 3000): Promise<ScriptedPeer> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const peer = peers.shift();
        if (peer !== undefined) return peer;
        const remaining = deadline - Date.now();
        if (remaining <= 0) throw new Error(`no client connection within ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, remaining);
          waiter = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        waiter = undefined;
      }
    },
    stop(): Promise<void> {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
