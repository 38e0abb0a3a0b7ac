/**
 * The cheapest MQTT connection that keeps a session alive: a raw socket, the packet codec, one timer. It
 * sends CONNECT, then PINGREQ every keep-alive period and times each PINGRESP, which the client library
 * does not expose. A full client per idle connection would cost queues, maps and event hubs that an idle
 * connection never uses, and on 20 000 connections the generator's own memory would drown the broker's.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { connect as tlsConnect } from 'node:tls';
import { encode } from '../packets/encode.js';
import { isMqttError } from '../packets/errors.js';
import { PacketParser } from '../packets/parser.js';
import { ConnackReturnCodeV3, reasonCodeText } from '../packets/reason-codes.js';
import type { ConnectPacket, Packet, ProtocolVersionNumber } from '../packets/types.js';

/** Where and how one idle connection connects. */
export interface IdleConnectionOptions {
  readonly host: string;
  readonly port: number;
  /** Use TLS (mqtts); `rejectUnauthorized` and `ca` as for `tls.connect`. */
  readonly tls?: { readonly rejectUnauthorized?: boolean; readonly ca?: string | Buffer };
  /** Local address to bind, spreading connections over source addresses. */
  readonly localAddress?: string;
  readonly protocolVersion: ProtocolVersionNumber;
  readonly clientId: string;
  /** Seconds; 0 sends no PINGREQ at all. */
  readonly keepalive: number;
  readonly username?: string;
  readonly password?: Buffer;
  /** Time allowed from opening the socket to the CONNACK. */
  readonly connectTimeoutMs: number;
}

/**
 * What the connections of a run report. One observer serves every connection, so a connection carries no
 * listeners of its own.
 */
export interface IdleConnectionObserver {
  /** The CONNACK accepted the connection `latencyUs` after the socket was opened. */
  connected(connection: IdleConnection, latencyUs: number): void;
  /** The connection never got an accepting CONNACK. */
  connectFailed(connection: IdleConnection, reason: string): void;
  pingSent(connection: IdleConnection): void;
  /** A PINGRESP arrived `rttUs` after its PINGREQ was written. */
  pingAnswered(connection: IdleConnection, rttUs: number): void;
  /** A connected connection ended without being asked to (server close, DISCONNECT, network, ping timeout). */
  disconnected(connection: IdleConnection, reason: string): void;
}

/** PINGREQ is the same two bytes in every protocol version; encoded once, shared by every connection. */
const PINGREQ_BYTES = encode({ type: 'pingreq' }, 4);

/** How long `close()` waits for the PINGRESP of a PINGREQ in flight before disconnecting anyway. */
const PING_DRAIN_TIMEOUT_MS = 1000;

/** How long `close()` waits for the socket to finish before destroying it. */
const CLOSE_TIMEOUT_MS = 2000;

function v3ConnackText(code: number): string {
  const entry = Object.entries(ConnackReturnCodeV3).find(([, value]) => value === code);
  return entry ? entry[0] : 'reserved return code';
}

/** Error codes like ECONNREFUSED are what a reader of a failure table wants; messages vary per platform. */
function errorReason(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code ?? err.message;
}

/** One idle MQTT connection; open it with {@link IdleConnection.open}. */
export class IdleConnection {
  readonly clientId: string;
  #socket: Socket;
  #parser: PacketParser;
  #observer: IdleConnectionObserver;
  #version: ProtocolVersionNumber;
  #keepaliveMs: number;
  #timer: NodeJS.Timeout | undefined;
  #openedAt: number;
  #pingSentAt = -1;
  #state: 'connecting' | 'connected' | 'closing' | 'closed' = 'connecting';
  #lastError: string | undefined;
  #closed: Promise<void>;
  /** Set while `close()` waits for the answer to a PINGREQ in flight. */
  #pingDrained: (() => void) | undefined;

  private constructor(options: IdleConnectionOptions, observer: IdleConnectionObserver) {
    this.clientId = options.clientId;
    this.#observer = observer;
    this.#version = options.protocolVersion;
    this.#keepaliveMs = options.keepalive * 1000;
    this.#parser = new PacketParser({ protocolVersion: options.protocolVersion });
    this.#openedAt = performance.now();
    const connectPacket: ConnectPacket = {
      type: 'connect',
      protocolName: options.protocolVersion === 3 ? 'MQIsdp' : 'MQTT',
      protocolVersion: options.protocolVersion,
      clean: true,
      keepalive: options.keepalive,
      clientId: options.clientId,
    };
    if (options.username !== undefined) connectPacket.username = options.username;
    if (options.password !== undefined) connectPacket.password = options.password;
    const base = {
      host: options.host,
      port: options.port,
      ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
    };
    const onOpen = (): void => {
      // PINGREQ round trips are the measurement: Nagle would hold each one back behind the previous ACK.
      this.#socket.setNoDelay(true);
      this.#socket.write(encode(connectPacket, this.#version));
    };
    this.#socket =
      options.tls === undefined
        ? netConnect(base, onOpen)
        : tlsConnect(
            {
              ...base,
              rejectUnauthorized: options.tls.rejectUnauthorized ?? true,
              ...(options.tls.ca === undefined ? {} : { ca: options.tls.ca }),
            },
            onOpen,
          );
    this.#closed = new Promise((resolve) => this.#socket.once('close', () => resolve()));
    this.#socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    this.#socket.on('error', (err: Error) => {
      this.#lastError = errorReason(err);
    });
    this.#socket.once('close', () => this.#onClose());
    this.#timer = setTimeout(() => this.#fail('connect timeout (no CONNACK)'), options.connectTimeoutMs);
  }

  /** Opens a connection; its outcome goes to `observer`. Never throws for network failures. */
  static open(options: IdleConnectionOptions, observer: IdleConnectionObserver): IdleConnection {
    return new IdleConnection(options, observer);
  }

  /** True between an accepting CONNACK and the end of the connection. */
  get isConnected(): boolean {
    return this.#state === 'connected';
  }

  /**
   * Ends the connection: DISCONNECT when connected, then the socket is closed (destroyed after a bound).
   * Nothing more is reported to the observer.
   */
  async close(): Promise<void> {
    if (this.#state === 'closed' || this.#state === 'closing') return this.#closed;
    const wasConnected = this.#state === 'connected';
    this.#state = 'closing';
    this.#clearTimer();
    if (wasConnected && this.#pingSentAt >= 0) {
      // A PINGREQ in flight when the run ends still gets its answer counted; otherwise every run would
      // end with a few pings reported as unanswered that the broker was about to answer.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, PING_DRAIN_TIMEOUT_MS);
        this.#pingDrained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#pingDrained = undefined;
    }
    if (wasConnected && this.#socket.writable) {
      this.#socket.end(encode({ type: 'disconnect' }, this.#version));
    } else {
      this.#socket.destroy();
    }
    const guard = setTimeout(() => this.#socket.destroy(), CLOSE_TIMEOUT_MS);
    return this.#closed.finally(() => clearTimeout(guard));
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #onData(chunk: Buffer): void {
    try {
      this.#parser.push(chunk, (packet) => this.#onPacket(packet));
    } catch (err) {
      this.#fail(isMqttError(err) ? `malformed packet from server: ${err.message}` : String(err));
    }
  }

  #onPacket(packet: Packet): void {
    if (this.#state === 'closed') return;
    if (this.#state === 'closing' && packet.type !== 'pingresp') return;
    switch (packet.type) {
      case 'connack':
        this.#onConnack(packet.reasonCode, packet.properties?.serverKeepAlive);
        return;
      case 'pingresp': {
        if (this.#pingSentAt < 0) return;
        const rttUs = (performance.now() - this.#pingSentAt) * 1000;
        this.#pingSentAt = -1;
        this.#observer.pingAnswered(this, rttUs);
        this.#pingDrained?.();
        return;
      }
      case 'disconnect':
        this.#fail(`DISCONNECT ${reasonCodeText(packet.reasonCode ?? 0)}`);
        return;
      default:
        // An idle client subscribes to nothing; anything else is ignored rather than treated as an error.
        return;
    }
  }

  #onConnack(reasonCode: number, serverKeepAlive: number | undefined): void {
    if (this.#state !== 'connecting') return;
    if (reasonCode !== 0) {
      const text =
        this.#version === 5 ? reasonCodeText(reasonCode) : `${reasonCode} ${v3ConnackText(reasonCode)}`;
      this.#fail(`CONNACK refused: ${text}`);
      return;
    }
    this.#clearTimer();
    this.#state = 'connected';
    // [MQTT-3.1.2-21] A Server Keep Alive in CONNACK replaces the value the client sent.
    if (serverKeepAlive !== undefined) this.#keepaliveMs = serverKeepAlive * 1000;
    this.#observer.connected(this, (performance.now() - this.#openedAt) * 1000);
    this.#schedulePing();
  }

  /**
   * An idle client sends nothing but PINGREQ, so one is due every keep-alive period.
   * [MQTT-3.1.2-20] (3.1.1: [MQTT-3.1.2-23]) Without other packets the client must send PINGREQ in time.
   */
  #schedulePing(): void {
    if (this.#keepaliveMs <= 0) return;
    this.#timer = setTimeout(() => this.#ping(), this.#keepaliveMs);
  }

  #ping(): void {
    if (this.#state !== 'connected') return;
    if (this.#pingSentAt >= 0) {
      // A whole keep-alive period without PINGRESP: the server (or the path) is not answering.
      this.#fail('no PINGRESP within the keep alive period');
      return;
    }
    this.#pingSentAt = performance.now();
    this.#socket.write(PINGREQ_BYTES);
    this.#observer.pingSent(this);
    this.#schedulePing();
  }

  /** Ends the connection because of `reason`, reporting it once as a failure or a disconnect. */
  #fail(reason: string): void {
    const state = this.#state;
    if (state === 'closing' || state === 'closed') return;
    this.#state = 'closed';
    this.#clearTimer();
    this.#socket.destroy();
    if (state === 'connecting') this.#observer.connectFailed(this, reason);
    else this.#observer.disconnected(this, reason);
  }

  #onClose(): void {
    this.#pingDrained?.();
    if (this.#state === 'closing') {
      this.#state = 'closed';
      return;
    }
    const reason =
      this.#lastError ?? (this.#state === 'connecting' ? 'closed before CONNACK' : 'closed by the server');
    this.#fail(reason);
  }
}
