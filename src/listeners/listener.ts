import type { ConnectionPort, ListenerAdmission } from '../broker/port.js';

/** The transports a listener can speak. */
export const ListenerKind = {
  Tcp: 'tcp',
  Tls: 'tls',
  Ws: 'ws',
  Wss: 'wss',
  Unix: 'unix',
  Http: 'http',
} as const;
export type ListenerKind = (typeof ListenerKind)[keyof typeof ListenerKind];

/** Where a listener ended up: a TCP address, or a Unix socket path. */
export type ListenerAddress =
  | { readonly address: string; readonly port: number; readonly family: string }
  | string;

/**
 * A source of byte streams for the broker. The engine never imports a transport: the server starts each
 * listener with the engine's narrow port, and the listener hands every accepted stream to `port.accept`
 * with the facts it knows (address, TLS identity, WebSocket request) and itself as the admission policy.
 */
export interface Listener extends ListenerAdmission {
  readonly name: string;
  readonly kind: ListenerKind;
  /** True between a successful `start` and `close`. */
  readonly listening: boolean;
  start(port: ConnectionPort): Promise<ListenerAddress>;
  /** Stop accepting; open connections are the broker's to end. */
  close(): Promise<void>;
}

/** Options every listener kind shares. */
export interface CommonListenerConfig {
  /** Name in logs, hooks and metrics; unique per broker. Defaults to the kind. */
  name?: string;
  /** Accept clients without a username on this listener (when auth is configured). */
  allowAnonymous?: boolean;
  /** Most connections admitted at once; beyond it CONNECT is refused (v5 0x97, v3 return code 3). 0: no limit. */
  maxConnections?: number;
  /**
   * CONNECTs admitted per second (fractions allowed: 0.5 is one every two seconds); beyond it the CONNECT
   * is refused with v5 CONNACK 0x9F Connection rate exceeded or v3 return code 3. 0: no limit.
   */
  connectionRate?: number;
}

export interface NetworkListenerConfig extends CommonListenerConfig {
  /** Address to bind. Default `0.0.0.0`. */
  host?: string;
  /** Port; 0 picks a free one. */
  port: number;
}

/** TLS material and client-certificate policy, shared by `tls` and `wss`. */
export interface TlsMaterial {
  /** PEM certificate chain (contents, not a path; the config loader reads files). */
  cert: string | Buffer;
  key: string | Buffer;
  /** PEM CA bundle used to verify client certificates. */
  ca?: string | Buffer;
  /** `none`: do not ask; `optional`: ask and accept without; `required`: refuse clients without a valid one. */
  clientCertificates?: ClientCertificatePolicy;
  /** Oldest TLS version accepted. Default `TLSv1.2`. */
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
}

export const ClientCertificatePolicy = { None: 'none', Optional: 'optional', Required: 'required' } as const;
export type ClientCertificatePolicy = (typeof ClientCertificatePolicy)[keyof typeof ClientCertificatePolicy];

export interface TcpListenerConfig extends NetworkListenerConfig {
  type: 'tcp';
  /** Expect a PROXY protocol v1/v2 header first and take the client address from it. Default false. */
  proxyProtocol?: boolean;
}

export interface TlsListenerConfig extends NetworkListenerConfig, TlsMaterial {
  type: 'tls';
}

/** WebSocket options shared by `ws`, `wss` and an `http` listener that also serves MQTT over WebSocket. */
export interface WebSocketOptions {
  /** Upgrade path. Default `/mqtt`. */
  path?: string;
  /** Take the client address from the X-Forwarded-For header (set only behind a trusted proxy). Default false. */
  trustForwardedFor?: boolean;
}

export interface WsListenerConfig extends NetworkListenerConfig, WebSocketOptions {
  type: 'ws';
}

export interface WssListenerConfig extends NetworkListenerConfig, WebSocketOptions, TlsMaterial {
  type: 'wss';
}

export interface UnixListenerConfig extends CommonListenerConfig {
  type: 'unix';
  /** Filesystem path of the socket. */
  path: string;
}

export interface HttpListenerConfig extends NetworkListenerConfig {
  type: 'http';
  /** Also serve MQTT over WebSocket on this port (upgrade on `websocket.path`). */
  websocket?: WebSocketOptions;
}

/** One listener as written in Broker options or the config file. */
export type ListenerConfig =
  | TcpListenerConfig
  | TlsListenerConfig
  | WsListenerConfig
  | WssListenerConfig
  | UnixListenerConfig
  | HttpListenerConfig;

/** The default upgrade path for MQTT over WebSocket. */
export const DEFAULT_WS_PATH = '/mqtt';

/**
 * Admits at most `perSecond` new connections per second on average (a token bucket refilled
 * continuously, holding at most one second's worth and never less than one token), so a reconnect
 * storm cannot starve the event loop.
 */
export class ConnectionRateGate {
  private tokens: number;
  private readonly capacity: number;
  private last = Date.now();

  constructor(private readonly perSecond: number) {
    // At least one token fits, or a rate below 1/s could never admit anyone.
    this.capacity = Math.max(1, perSecond);
    this.tokens = this.capacity;
  }

  /** True when one more connection may be admitted now (and takes its token). */
  admit(): boolean {
    if (this.perSecond <= 0) return true;
    const now = Date.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) / 1000) * this.perSecond);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
