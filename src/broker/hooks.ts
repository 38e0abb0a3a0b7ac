import type {
  ConnectPacket,
  Packet,
  Properties,
  PublishPacket,
  QoS,
  Subscription,
} from '../packets/types.js';
import type { Message } from './message.js';

/** What the broker tells hooks about a connected (or connecting) client. */
export interface ClientInfo {
  readonly clientId: string;
  readonly username: string | undefined;
  readonly protocolVersion: 3 | 4 | 5;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly listener: string;
  /** True for the inline client and clients made with `broker.createClient`. */
  readonly inline: boolean;
}

/** A hook's answer to a PUBLISH: pass it on (possibly changed) or refuse it with a reason code. */
export type PublishVerdict =
  | { readonly action: 'continue'; readonly packet?: PublishPacket }
  | { readonly action: 'reject'; readonly reasonCode: number };

/** A hook's answer to one SUBSCRIBE filter: keep (possibly changed options) or refuse with a reason code. */
export type SubscribeVerdict =
  | { readonly action: 'continue'; readonly subscription?: Subscription }
  | { readonly action: 'reject'; readonly reasonCode: number };

export type MaybePromise<T> = T | Promise<T>;

export type AclAccess = 'read' | 'write';

/** The result of an AUTH step driven by a hook (MQTT 5 enhanced authentication). */
export type AuthStep =
  | { readonly action: 'continue'; readonly data?: Buffer }
  | { readonly action: 'success'; readonly data?: Buffer }
  | { readonly action: 'fail'; readonly reasonCode: number };

/** Why a message was not delivered to a client. */
export type DropReason =
  /** The session's queue is at its message or byte limit. */
  | 'queue-full'
  /** A QoS 0 message for a reader that fell behind. */
  | 'slow-client'
  /** The Message Expiry Interval ran out before it could be sent. */
  | 'expired'
  /** Larger than the client's Maximum Packet Size. */
  | 'packet-too-large'
  /** An `onPacketEncode` hook declined the message for this client, or threw. */
  | 'encode-hook';

/** Why a PUBLISH from a client was refused (acknowledged with a failure, or the v3 client closed) and not delivered. */
export type RefuseReason =
  /** A `$SYS/` topic: only the broker publishes there. */
  | 'sys-topic'
  /** More topic levels than `maxTopicLevels`. */
  | 'topic-levels'
  /** QoS 1/2 while the store cannot commit or is low on space. */
  | 'store-unavailable'
  /** An `onPublish` hook rejected it (the publish rate limiter is one). */
  | 'hook'
  /** The ACL (`onAclCheck` hooks) did not allow the client to write the topic. */
  | 'not-authorized';

/** Why a subscription filter from a client was refused (its SUBACK code a failure). */
export type SubscribeRefuseReason =
  /** Not a valid topic filter. */
  | 'invalid-filter'
  /** More topic levels than `maxTopicLevels`. */
  | 'topic-levels'
  /** Shared or wildcard subscriptions are not available on this broker. */
  | 'not-supported'
  /** An `onSubscribe` hook rejected it. */
  | 'hook'
  /** The ACL (`onAclCheck` hooks) did not allow the client to read the filter. */
  | 'not-authorized'
  /** The session holds `maxSubscriptions` already. */
  | 'quota'
  /** The commit holding it failed (the store cannot write). */
  | 'store-unavailable';

/** Why a connection was refused before it was established (CONNACK with a failure, or closed). */
export type ConnectRefuseReason =
  /** Bad user name or password, not authorized, or an authentication method the broker does not take. */
  | 'not-authorized'
  /** A client identifier the broker does not accept. */
  | 'client-id'
  /** A protocol version the broker does not speak. */
  | 'protocol-version'
  /** A connection limit or rate (`maxConnections`, a listener's), or the server busy. */
  | 'limits'
  /** A will it cannot take (topic, QoS, retain). */
  | 'will'
  /** A first packet that is not a CONNECT it can read: closed without CONNACK. */
  | 'malformed'
  /** No CONNECT within the connect timeout. */
  | 'connect-timeout'
  /** Any other reason code (from a hook, the server unavailable). */
  | 'other';

export interface DisconnectInfo {
  /** The reason code sent or received (0 for a normal DISCONNECT). */
  readonly reasonCode: number;
  /** Who ended it. */
  readonly by: 'client' | 'server' | 'network';
  readonly error?: Error;
}

/**
 * A broker hook: every method is optional; the broker builds one array per event when a hook is added,
 * so events nobody implements cost nothing. Hooks run in the order added. Each method says how the
 * results of several hooks combine. A method may return a Promise; the broker then waits for it, and
 * only then (per connection, in order) processes that client's next packet.
 */
export interface Hook {
  /** A name for logs. */
  readonly id?: string;
  /** Called once by `addHook` with the config given there. */
  init?(config: unknown): MaybePromise<void>;

  onStarted?(): void;
  onStopped?(): void;

  /** Combine: allow if ANY hook returns true; deny when none does. With no such hook, everyone is allowed. */
  onConnectAuthenticate?(client: ClientInfo, connect: ConnectPacket): MaybePromise<boolean>;
  /**
   * Combine: allow if ANY hook returns true; deny when none does. With no such hook, everything is allowed.
   * Asked for `write` on each PUBLISH, and on a will's topic both at CONNECT (denied: the CONNECT is refused)
   * and when the will is published.
   */
  onAclCheck?(client: ClientInfo, topic: string, access: AclAccess): MaybePromise<boolean>;
  /** Notification; all hooks called. */
  onConnect?(client: ClientInfo, connect: ConnectPacket): void;
  /** Notification once CONNACK is sent. */
  onSessionEstablished?(client: ClientInfo, sessionPresent: boolean): void;
  /** Notification: the network connection ended. */
  onDisconnect?(client: ClientInfo, info: DisconnectInfo): void;

  /**
   * Chain: each hook gets the previous hook's packet; return undefined to drop the packet silently (a
   * PUBLISH dropped so counts as refused by a hook, `starling_publish_refused_total{reason="hook"}`).
   */
  onPacketRead?(client: ClientInfo, packet: Packet): Packet | undefined;
  /** Chain: may modify a packet about to be encoded; return undefined to not send it. */
  onPacketEncode?(client: ClientInfo, packet: Packet): Packet | undefined;

  /** Chain, stop on the first reject: may modify the packet or refuse it with a reason code. */
  onPublish?(client: ClientInfo, packet: PublishPacket): MaybePromise<PublishVerdict>;
  /**
   * Notification: the message was routed (delivered or queued) to `deliveries` sessions on this broker. Every
   * message goes through here: client publishes, wills (`client` is the departed client), the inline client
   * (`clientId` `$inline`), `$SYS` updates (`$sys`) and, in a cluster, messages from other nodes (`listener`
   * `cluster`).
   */
  onPublished?(client: ClientInfo, message: Message, deliveries: number): void;
  /** Notification: a message was not delivered to `clientId`. */
  onPublishDropped?(clientId: string, message: Message, reason: DropReason): void;

  /** Chain per filter, stop on the first reject. */
  onSubscribe?(client: ClientInfo, subscription: Subscription): MaybePromise<SubscribeVerdict>;
  onSubscribed?(
    client: ClientInfo,
    subscriptions: readonly Subscription[],
    reasonCodes: readonly number[],
  ): void;
  onUnsubscribed?(client: ClientInfo, filters: readonly string[]): void;

  /** Notification: a retained message was stored (or deleted when the payload is empty). */
  onRetainMessage?(message: Message): void;
  onRetainedExpired?(topic: string): void;

  /** Notification: a QoS 1/2 message was sent to a client with this packet id. */
  onQosPublish?(clientId: string, packetId: number, message: Message, qos: QoS): void;
  /** Notification: the QoS flow for that packet id finished (PUBACK / PUBCOMP). */
  onQosComplete?(clientId: string, packetId: number): void;
  onQosDropped?(clientId: string, packetId: number, reason: DropReason): void;

  /** Chain: may modify the will about to be published; return undefined to suppress it. */
  onWill?(clientId: string, will: Message): Message | undefined;
  onWillSent?(clientId: string, will: Message): void;

  /** Notification: a session expired and was removed. */
  onClientExpired?(clientId: string): void;

  /**
   * MQTT 5 enhanced authentication (AUTH exchange): the first hook that returns a step drives it.
   * `reauth` is true for re-authentication after the connection is established.
   */
  onAuthPacket?(
    client: ClientInfo,
    method: string,
    data: Buffer | undefined,
    reauth: boolean,
  ): MaybePromise<AuthStep | undefined>;

  /** Notification every $SYS interval with the broker's counters. */
  onSysInfoTick?(info: Readonly<Record<string, number | string>>): void;

  /** Storage events: each change of durable state, reported once, in the order it happened. */
  onSessionChanged?(
    clientId: string,
    state: { readonly expiryInterval: number; readonly connected: boolean },
  ): void;
  onSessionRemoved?(clientId: string): void;
  onSubscriptionChanged?(clientId: string, filter: string, subscription: Subscription | undefined): void;
  /**
   * An outbound QoS 1/2 message was sent (`stage` `publish`), got its PUBREC (`pubrel`), or finished
   * (message undefined: acknowledged, refused by PUBREC, or dropped).
   */
  onInflightChanged?(
    clientId: string,
    packetId: number,
    message: Message | undefined,
    stage?: 'publish' | 'pubrel',
  ): void;
  /**
   * A retained message was set or deleted (undefined) through this broker. In a cluster, on the node where
   * the change was made only: the copies other nodes take from it do not call their hooks.
   */
  onRetainedChanged?(topic: string, message: Message | undefined): void;
}

export type HookEvent = Exclude<keyof Hook, 'id' | 'init'>;

/** Every event name, so `addHook` can build the per-event arrays without asking per call. */
export const HOOK_EVENTS = [
  'onStarted',
  'onStopped',
  'onConnectAuthenticate',
  'onAclCheck',
  'onConnect',
  'onSessionEstablished',
  'onDisconnect',
  'onPacketRead',
  'onPacketEncode',
  'onPublish',
  'onPublished',
  'onPublishDropped',
  'onSubscribe',
  'onSubscribed',
  'onUnsubscribed',
  'onRetainMessage',
  'onRetainedExpired',
  'onQosPublish',
  'onQosComplete',
  'onQosDropped',
  'onWill',
  'onWillSent',
  'onClientExpired',
  'onAuthPacket',
  'onSysInfoTick',
  'onSessionChanged',
  'onSessionRemoved',
  'onSubscriptionChanged',
  'onInflightChanged',
  'onRetainedChanged',
] as const satisfies readonly HookEvent[];

/** Properties a hook may attach to a CONNACK it refuses (reason string etc.). */
export type HookProperties = Properties;
