/**
 * The JSON the admin API sends, shared by the server and the browser page. This file imports nothing, so
 * the page bundle (compiled with the DOM library, without Node's types) can import it too.
 */

/** What a dashboard user may do: `read-only` reads everything, `admin` may also disconnect, publish, delete. */
export type AdminRole = 'admin' | 'read-only';

/** One page of a longer list: `total` counts every item matching the query, not just this page. */
export interface Page<T> {
  readonly items: readonly T[];
  readonly total: number;
  readonly offset: number;
  readonly limit: number;
}

/** A connected client, as the clients list shows it. */
export interface ClientSummary {
  readonly clientId: string;
  readonly username: string | undefined;
  /** Peer address as the listener saw it (a Unix socket path for Unix listeners). */
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly listener: string;
  /** 3 (MQTT 3.1), 4 (3.1.1) or 5. */
  readonly protocolVersion: number;
  /** Keep alive in effect, seconds (0: none). */
  readonly keepAlive: number;
  /** Outbound QoS 1/2 messages sent and not yet acknowledged. */
  readonly inflight: number;
  /** Messages waiting behind the inflight window. */
  readonly queued: number;
  readonly subscriptions: number;
  /** When the connection was opened, ms since the epoch. */
  readonly connectedAt: number;
}

/** A session, connected or not. */
export interface SessionSummary {
  readonly clientId: string;
  readonly connected: boolean;
  /** Session Expiry Interval, seconds; 4294967295 never expires. */
  readonly expiryInterval: number;
  /** When the client went away (ms since the epoch); undefined while connected. */
  readonly disconnectedAt: number | undefined;
  readonly subscriptions: number;
  readonly inflight: number;
  readonly queued: number;
}

/** One subscription of one session, with its options. */
export interface SubscriptionInfo {
  readonly clientId: string;
  /** The filter as the client sent it, `$share/group/` prefix included. */
  readonly topicFilter: string;
  readonly shareGroup: string | undefined;
  readonly qos: number;
  readonly noLocal: boolean;
  readonly retainAsPublished: boolean;
  readonly retainHandling: number;
  readonly subscriptionId: number | undefined;
}

/** One outbound QoS 1/2 message of a session, in flight or queued. */
export interface PendingMessageInfo {
  /** 0 for a queued message (no packet identifier yet). */
  readonly packetId: number;
  readonly topic: string;
  readonly qos: number;
  readonly payloadBytes: number;
  /** `publish`: sent, awaiting PUBACK/PUBREC; `pubrel`: awaiting PUBCOMP; `queued`: not sent yet. */
  readonly state: 'publish' | 'pubrel' | 'queued';
}

/** The will a session would publish, without its payload. */
export interface WillInfo {
  readonly topic: string;
  readonly qos: number;
  readonly retain: boolean;
  readonly payloadBytes: number;
  /** Will Delay Interval, seconds. */
  readonly delaySeconds: number;
  /** True when the client is gone and the will waits for its delay. */
  readonly pending: boolean;
}

/** Everything about one session; the lists hold at most the `maxItems` the caller asked for. */
export interface SessionDetails extends SessionSummary {
  /** The live connection, when connected. */
  readonly client: ClientSummary | undefined;
  /** When an offline session ends, ms since the epoch; undefined while connected or never. */
  readonly expiresAt: number | undefined;
  readonly subscriptionList: readonly SubscriptionInfo[];
  readonly inflightList: readonly PendingMessageInfo[];
  readonly queuedList: readonly PendingMessageInfo[];
  readonly queuedBytes: number;
  readonly will: WillInfo | undefined;
}

/** A retained message in a list: its size, not its payload. */
export interface RetainedSummary {
  readonly topic: string;
  readonly qos: number;
  readonly payloadBytes: number;
}

/** One retained message with its payload. */
export interface RetainedMessage extends RetainedSummary {
  /** The payload, base64-encoded (binary-safe). */
  readonly payloadBase64: string;
  readonly contentType: string | undefined;
  /** When the message expires (v5 Message Expiry Interval), ms since the epoch. */
  readonly expiresAt: number | undefined;
}

/** A retained message as the API returns it: the payload also as text when it is valid UTF-8. */
export interface RetainedMessageView extends RetainedMessage {
  readonly payloadText: string | undefined;
}

/** One level of the topic tree (subscription filters and retained topic names share the tree). */
export interface TopicNodeInfo {
  /** This level alone (may be empty, `+` or `#`). */
  readonly level: string;
  /** The full path from the root: a topic name, or a filter when a level is a wildcard. */
  readonly path: string;
  /** Levels directly below this one. */
  readonly children: number;
  /** A retained message is stored at exactly this topic. */
  readonly retained: boolean;
  /** Retained messages at this level and below. */
  readonly retainedBelow: number;
  /** Subscriptions whose filter is exactly this path (shared members counted one by one). */
  readonly subscriptions: number;
}

/** One listener of the broker. */
export interface ListenerInfo {
  readonly name: string;
  readonly kind: string;
  /** `host:port`, or a socket path; undefined when not known. */
  readonly address: string | undefined;
  readonly listening: boolean;
  /** Open connections accepted by this listener. */
  readonly connections: number;
}

/** One node of a cluster; the list is empty when the broker is not clustered. */
export interface ClusterNodeInfo {
  readonly id: string;
  readonly address: string | undefined;
  readonly state: string;
  /** True for the node that answered. */
  readonly self: boolean;
  readonly clients: number | undefined;
  /** The node's direct link to the other nodes (`host:port`); undefined when it has none (links off). */
  readonly link: string | undefined;
  /**
   * Whether the node that answered has its link to this node up (false: their messages go through Redis);
   * undefined for the node that answered.
   */
  readonly linked: boolean | undefined;
  /** Whether the node's link is TLS (`cluster.linkTls`), as the node says in the registry. */
  readonly linkTls: boolean;
}

/**
 * The curves of the broker dashboard, one value per second each. Rates are per second over the sample's
 * interval; the rest are levels at the sample's time.
 */
export const STATS_SERIES = [
  'clients',
  'connections',
  'sessions',
  'subscriptions',
  'retained',
  'inflight',
  'queued',
  'msgsInQos0',
  'msgsInQos1',
  'msgsInQos2',
  'msgsOutQos0',
  'msgsOutQos1',
  'msgsOutQos2',
  'bytesIn',
  'bytesOut',
  'dropped',
  'refused',
  'lagP99Ms',
  'lagMaxMs',
  'rssBytes',
  'heapUsedBytes',
] as const;
export type StatsSeriesName = (typeof STATS_SERIES)[number];

/** One second of the broker's life. */
export interface StatsPoint {
  /** Sample time, ms since the epoch. */
  readonly t: number;
  /** Connections accepted since start: a change tells the page to re-read the clients page it shows. */
  readonly connectionsTotal: number;
  readonly values: Readonly<Record<StatsSeriesName, number>>;
}

/** The kept samples (last 15 minutes), one array per series, all as long as `t`. */
export interface StatsHistory {
  readonly intervalMs: number;
  readonly t: readonly number[];
  readonly series: Readonly<Record<StatsSeriesName, readonly number[]>>;
}

/** Who the API takes the caller for. */
export interface WhoAmI {
  readonly authenticated: boolean;
  readonly username: string | undefined;
  readonly role: AdminRole | undefined;
  /** `open`: no admin user configured and a loopback caller; `login`: a dashboard session; `basic`: HTTP Basic. */
  readonly mode: 'open' | 'login' | 'basic' | undefined;
  /** Send back as `X-CSRF-Token` on every write. */
  readonly csrfToken: string | undefined;
}

/** The error body of every 4xx/5xx answer. */
export interface ApiError {
  readonly error: string;
}
