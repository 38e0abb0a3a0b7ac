import type { QoS } from '../packets/types.js';
import { defaultMemoryBudget } from './memory-budget.js';

/** What a Broker can be told at construction. Every option has a documented, safe default. */
export interface BrokerOptions {
  /** Largest packet accepted from a client, in bytes, fixed header included (CONNACK Maximum Packet Size). Default 1 MiB... 256 MiB is the protocol maximum. */
  maximumPacketSize?: number;
  /** How many QoS 1/2 PUBLISH a client may have unacknowledged towards us (CONNACK Receive Maximum). Default 1024. */
  receiveMaximum?: number;
  /** Highest QoS the server supports (CONNACK Maximum QoS). Default 2. */
  maximumQoS?: QoS;
  /** Whether retained messages are supported (CONNACK Retain Available). Default true. */
  retainAvailable?: boolean;
  /** Highest inbound topic alias a client may use (CONNACK Topic Alias Maximum). Default 65535; 0 disables. */
  topicAliasMaximum?: number;
  wildcardSubscriptionAvailable?: boolean;
  subscriptionIdentifiersAvailable?: boolean;
  sharedSubscriptionAvailable?: boolean;
  /** When set, overrides the client's keep alive (sent as Server Keep Alive in v5 CONNACK). */
  serverKeepAlive?: number;
  /** Upper bound on the session expiry interval a client may ask for, in seconds. Default: no cap. */
  maximumSessionExpiryInterval?: number;
  /** Messages queued per offline or slow session (QoS 1/2, and QoS 0 when `queueQos0`). Default 1000 (Mosquitto's max_queued_messages). */
  maxQueuedMessages?: number;
  /** Bytes of payload queued per session; 0 means no byte limit. Default 0 (Mosquitto's max_queued_bytes). */
  maxQueuedBytes?: number;
  /** Queue QoS 0 messages for offline persistent sessions too. Default false (Mosquitto's queue_qos0_messages). */
  queueQos0?: boolean;
  /** Bytes waiting to be written to one client beyond which QoS 0 messages for it are dropped. Default 4 MiB. */
  maxWriteBuffer?: number;
  /**
   * Bytes all slow readers together may hold: output written and not yet taken by the peers, plus messages
   * queued for sessions. Over it, readers holding more than 64 KiB count as slow (QoS 0 to them is dropped,
   * QoS 1/2 waits in their queue). Default a sixty-fourth of the machine's memory, 32 to 64 MiB.
   */
  maxMemory?: number;
  /** Milliseconds a client may stay over `maxWriteBuffer` before it is disconnected. Default 30 000. */
  slowClientTimeoutMs?: number;
  /** Milliseconds a socket may stay open without sending CONNECT. Default 10 000. */
  connectTimeoutMs?: number;
  /** Prefix for server-assigned client identifiers. Default `starling-`. */
  assignedClientIdPrefix?: string;
  /** Response Information returned to v5 clients that ask for it (`%c` is replaced by the client id). Default none. */
  responseInformation?: string;
  /** Accept MQTT 3.1 client identifiers longer than 23 characters (the 3.1 spec's limit). Default false. */
  allowLongV31ClientIds?: boolean;
  /**
   * Levels a topic may have (`a/b/c` has 3) in a PUBLISH, a will or a subscription filter; a deeper one is
   * refused: PUBLISH with v5 0x90 Topic Name invalid (v3: acknowledged and dropped), a subscription with
   * 0x8F (v3: 0x80), a will with CONNACK 0x90. Each level of a stored topic or filter is a node of the topic
   * index, so without a bound one 64 KiB filter costs tens of MiB. Default 200 (Mosquitto refuses deeper
   * ones too, since CVE-2019-11779); 0: no limit.
   */
  maxTopicLevels?: number;
  /**
   * Subscriptions one session may hold (EMQX's `max_subscriptions`); a SUBSCRIBE filter beyond it is refused
   * with 0x97 Quota exceeded (v3: 0x80), on its own: the others of the packet, and a filter the session
   * holds already (a replacement), are taken. 0: no limit. Default 0.
   */
  maxSubscriptions?: number;
  /** Most clients connected at once over all listeners; beyond it CONNECT is refused (v5 0x97, v3 code 3). 0: no limit. Default 0. */
  maxConnections?: number;
  /**
   * Compatibility: answer a v5 subscription refused as Not Authorized (0x87) with Unspecified Error (0x80)
   * instead, which also hides from the client that an ACL exists. Some test clients (the Eclipse Paho
   * interoperability suite) accept only 0x80. Default false.
   */
  compatUnspecifiedSubscribeError?: boolean;
}

/** The options with every default filled in. */
export type ResolvedBrokerOptions = Required<
  Omit<
    BrokerOptions,
    'serverKeepAlive' | 'maximumSessionExpiryInterval' | 'responseInformation' | 'maxMemory'
  >
> &
  Pick<BrokerOptions, 'serverKeepAlive' | 'maximumSessionExpiryInterval' | 'responseInformation'> & {
    readonly maxMemory: number;
  };

export const DEFAULT_BROKER_OPTIONS = {
  maximumPacketSize: 268_435_460,
  receiveMaximum: 1024,
  maximumQoS: 2,
  retainAvailable: true,
  topicAliasMaximum: 65_535,
  wildcardSubscriptionAvailable: true,
  subscriptionIdentifiersAvailable: true,
  sharedSubscriptionAvailable: true,
  maxQueuedMessages: 1000,
  maxQueuedBytes: 0,
  queueQos0: false,
  maxWriteBuffer: 4 * 1024 * 1024,
  slowClientTimeoutMs: 30_000,
  connectTimeoutMs: 10_000,
  assignedClientIdPrefix: 'starling-',
  allowLongV31ClientIds: false,
  maxConnections: 0,
  maxTopicLevels: 200,
  maxSubscriptions: 0,
  compatUnspecifiedSubscribeError: false,
} as const satisfies Partial<BrokerOptions>;

export function resolveBrokerOptions(options: BrokerOptions = {}): ResolvedBrokerOptions {
  const resolved: ResolvedBrokerOptions = { ...DEFAULT_BROKER_OPTIONS, maxMemory: defaultMemoryBudget() };
  for (const [key, value] of Object.entries(options)) {
    if (value !== undefined) (resolved as unknown as Record<string, unknown>)[key] = value;
  }
  checkRange('maximumPacketSize', resolved.maximumPacketSize, 16, 268_435_460);
  checkRange('receiveMaximum', resolved.receiveMaximum, 1, 65_535);
  checkRange('topicAliasMaximum', resolved.topicAliasMaximum, 0, 65_535);
  checkRange('maxQueuedMessages', resolved.maxQueuedMessages, 0, Number.MAX_SAFE_INTEGER);
  checkRange('maxQueuedBytes', resolved.maxQueuedBytes, 0, Number.MAX_SAFE_INTEGER);
  checkRange('maxConnections', resolved.maxConnections, 0, Number.MAX_SAFE_INTEGER);
  checkRange('maxTopicLevels', resolved.maxTopicLevels, 0, 65_535);
  checkRange('maxSubscriptions', resolved.maxSubscriptions, 0, Number.MAX_SAFE_INTEGER);
  checkRange('maxWriteBuffer', resolved.maxWriteBuffer, 1024, Number.MAX_SAFE_INTEGER);
  checkRange('maxMemory', resolved.maxMemory, 1024 * 1024, Number.MAX_SAFE_INTEGER);
  if (resolved.serverKeepAlive !== undefined)
    checkRange('serverKeepAlive', resolved.serverKeepAlive, 0, 65_535);
  if (![0, 1, 2].includes(resolved.maximumQoS)) throw new RangeError('maximumQoS must be 0, 1 or 2');
  return resolved;
}

function checkRange(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
}
