import type { Duplex } from 'node:stream';
import type { BrokerLogger } from './logger.js';

/**
 * A listener's limits as the engine applies them at CONNECT. One object per listener, shared by all of its
 * connections (the facts carry a reference, not a copy).
 */
export interface ListenerAdmission {
  /** Clients past CONNACK at once on this listener (0: no limit). */
  readonly maxConnections: number;
  /** One token of the listener's connection rate; false refuses the CONNECT (v5 0x9F, v3 code 3). */
  admitConnect(): boolean;
}

/** Facts about a connection that the listener knows and the engine does not (the engine imports no transport). */
export interface ConnectionFacts {
  readonly listener: string;
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  /** The TLS peer certificate, when the listener is TLS and the client presented one. */
  readonly peerCertificate?: unknown;
  /** WebSocket upgrade request headers. */
  readonly headers?: Readonly<Record<string, string | string[] | undefined>>;
  /** True for in-process clients made with `broker.createClient` (reported to hooks as `ClientInfo.inline`). */
  readonly inline?: boolean;
  /** The listener's connection limit and rate; absent: none. */
  readonly admission?: ListenerAdmission;
}

/**
 * What a listener may ask of the engine: the narrow port it hands byte streams to (Mochi's `EstablishFn`).
 * Listeners never see the engine or the broker.
 */
export interface ConnectionPort {
  /** Serve one byte stream (TCP, TLS, WebSocket, Unix socket, ...). */
  accept(stream: Duplex, facts: ConnectionFacts): void;
  readonly logger: BrokerLogger;
  /** The largest packet the engine accepts, so a transport can size its frames. */
  readonly maximumPacketSize: number;
}
