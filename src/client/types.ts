/**
 * Public types of the Starling MQTT client: options, messages, events.
 */
import type { MqttError } from '../packets/errors.js';
import type { Packet, Properties, ProtocolVersionNumber, QoS } from '../packets/types.js';

/** The Last Will and Testament the server publishes when the connection ends abnormally. */
export interface WillOptions {
  topic: string;
  payload: Buffer | string;
  /** Default 0. */
  qos?: QoS;
  /** Default false. */
  retain?: boolean;
  /** v5 will properties (willDelayInterval, messageExpiryInterval, contentType, ...). */
  properties?: Properties;
}

/**
 * Reconnect backoff: the n-th attempt waits `min(maxDelayMs, initialDelayMs * factor^(n-1))`, of which the
 * fraction `jitter` is randomised (1 = "full jitter": uniform between 0 and the full delay).
 */
export interface ReconnectOptions {
  /** Default 1000. */
  initialDelayMs?: number;
  /** Default 30000. */
  maxDelayMs?: number;
  /** Default 2. */
  factor?: number;
  /** 0..1, default 1 (full jitter). */
  jitter?: number;
}

/** What the server sent in an AUTH packet during enhanced authentication (v5 section 4.12). */
export interface AuthChallenge {
  /** The authentication method of the exchange. */
  method: string;
  /** The server's authentication data, if any. */
  data?: Buffer;
  /** The AUTH reason code: 0x18 Continue authentication. */
  reasonCode: number;
}

/** Answers one server AUTH challenge with the client's next authentication data. */
export type AuthHandler = (challenge: AuthChallenge) => Promise<Buffer | undefined>;

/** Which way a packet went: `'in'` from the server, `'out'` to it. */
export type PacketDirection = 'in' | 'out';

/**
 * Sees every packet a client sends and receives, CONNECT and CONNACK included. Inbound packets are reported
 * as they are parsed, before the client acts on them (so a PUBLISH comes before the PUBACK it causes);
 * outbound packets once handed to the transport. Called synchronously: keep it fast. The packet must not be kept
 * or changed: the client reuses the object of QoS 0 publishes. A throwing observer is reported as an
 * 'error' event.
 */
export type PacketObserver = (direction: PacketDirection, packet: Packet) => void;

/** Options of {@link connect}. Everything is optional. */
export interface ClientOptions {
  /** 3 (MQTT 3.1, `MQIsdp`), 4 (3.1.1) or 5 (default). */
  protocolVersion?: ProtocolVersionNumber;
  /** Default: a random `starling-xxxxxxxx`. An empty string asks a v5 server to assign one. */
  clientId?: string;
  /** Clean Start / Clean Session, default true. Sent on every connection, reconnects included. */
  clean?: boolean;
  /** Keep alive in seconds, default 60; 0 disables it. A v5 Server Keep Alive overrides it. */
  keepalive?: number;
  /** Overrides the user name of the URL. */
  username?: string;
  /** Overrides the password of the URL. */
  password?: Buffer | string;
  will?: WillOptions;
  /** v5: session expiry interval in seconds (CONNECT property). */
  sessionExpiryInterval?: number;
  /** v5: how many QoS 1/2 messages the server may have in flight towards us (CONNECT property). */
  receiveMaximum?: number;
  /** v5: the largest packet we accept; larger inbound packets close the connection with 0x95. */
  maximumPacketSize?: number;
  /** v5: how many inbound topic aliases we accept (default 0: the server must not use aliases). */
  topicAliasMaximum?: number;
  /** v5: further CONNECT properties (user properties, request response information, ...). */
  properties?: Properties;
  /** Reconnect policy, or false to close the client when the connection drops. Default on. */
  reconnect?: false | ReconnectOptions;
  /** Time allowed for the transport to open and the CONNACK to arrive, default 30000 ms. */
  connectTimeoutMs?: number;
  /** TLS (mqtts, ssl, wss): trusted CA certificates. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** TLS client certificate. */
  cert?: string | Buffer | Array<string | Buffer>;
  /** TLS client private key. */
  key?: string | Buffer | Array<string | Buffer>;
  /** TLS: verify the server certificate, default true. */
  rejectUnauthorized?: boolean;
  /** TLS SNI name; defaults to the URL host when it is not an IP address. */
  servername?: string;
  /** v5 enhanced authentication method sent in CONNECT. */
  authenticationMethod?: string;
  /** v5 initial authentication data sent in CONNECT. */
  authenticationData?: Buffer;
  /** v5 enhanced authentication: answers each AUTH 0x18 (Continue authentication) challenge. */
  auth?: AuthHandler;
  /** v5: replace repeated topic names by topic aliases, within the server's Topic Alias Maximum. */
  autoAssignTopicAlias?: boolean;
  /**
   * Observes the packets on the wire (debug output, tracing, counting). Without it the client does no
   * observation work at all.
   */
  onPacket?: PacketObserver;
}

/** Options of {@link Client.publish}. */
export interface PublishOptions {
  /** Default 0. */
  qos?: QoS;
  /** Default false. */
  retain?: boolean;
  /** v5 publish properties. A topicAlias given here is sent as is (not managed by the client). */
  properties?: Properties;
  /** Force the DUP flag on the first transmission (QoS > 0 only); retransmissions always set it. */
  dup?: boolean;
}

/** Options of {@link Client.subscribe}, applied to every filter of the call. */
export interface SubscribeOptions {
  /** Maximum QoS requested, default 0. */
  qos?: QoS;
  /** v5: do not receive our own publications. */
  noLocal?: boolean;
  /** v5: keep the RETAIN flag of forwarded messages. */
  retainAsPublished?: boolean;
  /** v5: 0 send retained messages (default), 1 only for new subscriptions, 2 never. */
  retainHandling?: 0 | 1 | 2;
  /** v5: subscription identifier (1..268435455) echoed in matching PUBLISH packets. */
  subscriptionIdentifier?: number;
  /** v5: further SUBSCRIBE properties (user properties). */
  properties?: Properties;
  /**
   * How many received messages the subscription's iterator buffers for a slow consumer, default 10000.
   * When full, the oldest buffered message is dropped and `dropped` is incremented; messages are
   * acknowledged to the server on receipt either way.
   */
  maxBuffered?: number;
}

/** Options of {@link Client.end}. */
export interface EndOptions {
  /** v5 DISCONNECT reason code, default 0x00 (0x04 asks the server to publish the will). */
  reasonCode?: number;
  /** v5: a new session expiry interval (not allowed if CONNECT carried 0). */
  sessionExpiryInterval?: number;
  /** v5: further DISCONNECT properties (reason string, user properties). */
  properties?: Properties;
  /** How long to wait for the server to close after DISCONNECT, default 5000 ms. */
  timeoutMs?: number;
}

/** A received application message. */
export interface Message {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly dup: boolean;
  readonly properties?: Properties;
  /** The server's packet identifier (QoS > 0). */
  readonly packetId?: number;
}

/** Where the client is in its lifecycle. */
export type ClientStatus = 'connecting' | 'connected' | 'reconnecting' | 'closing' | 'closed';

/** Lifecycle events of a client. */
export type ClientEvent =
  | { type: 'connected'; sessionPresent: boolean }
  | { type: 'disconnected'; reason?: MqttError | Error }
  | { type: 'reconnecting'; attempt: number; delayMs: number }
  | { type: 'closed'; reason?: MqttError | Error }
  | { type: 'error'; error: MqttError | Error };

/** What the server announced in its CONNACK (v5 properties, defaults for v3). */
export interface ServerCapabilities {
  /** How many QoS 1/2 publishes we may have unacknowledged, default 65535. */
  receiveMaximum: number;
  /** The largest packet the server accepts (bytes); Infinity when not announced. */
  maximumPacketSize: number;
  maximumQoS: QoS;
  retainAvailable: boolean;
  /** How many topic aliases we may use towards the server, default 0. */
  topicAliasMaximum: number;
  wildcardSubscriptionAvailable: boolean;
  subscriptionIdentifiersAvailable: boolean;
  sharedSubscriptionAvailable: boolean;
  /** Server Keep Alive when the server overrode ours. */
  serverKeepAlive?: number;
  /** Every CONNACK property as received (v5). */
  properties?: Properties;
}
