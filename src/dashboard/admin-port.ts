import type { BrokerSnapshot } from '../broker/snapshot.js';
import type {
  ClientSummary,
  ClusterNodeInfo,
  ListenerInfo,
  Page,
  RetainedMessage,
  RetainedSummary,
  SessionDetails,
  SessionSummary,
  SubscriptionInfo,
  TopicNodeInfo,
} from './wire-types.js';

/**
 * The broker's counters and levels as the dashboard samples them each second. Event-loop lag and memory
 * are left out: the dashboard measures its own process.
 */
export type AdminStats = Omit<BrokerSnapshot, 'eventLoopLagSeconds' | 'memory'>;

/** Where a page of a list starts and how long it is (the dashboard checks: offset >= 0, 1 <= limit <= 500). */
export interface PageQuery {
  readonly offset: number;
  readonly limit: number;
}

/** Connected clients whose client id, username or remote address contains `search` (case-insensitive). */
export interface ClientQuery extends PageQuery {
  readonly search?: string | undefined;
}

/** Sessions whose client id contains `search` (case-insensitive); `connected` keeps only one kind. */
export interface SessionQuery extends PageQuery {
  readonly search?: string | undefined;
  readonly connected?: boolean | undefined;
}

/** Subscriptions of one client (`clientId`, exact) and/or whose filter contains `search`. */
export interface SubscriptionQuery extends PageQuery {
  readonly clientId?: string | undefined;
  readonly search?: string | undefined;
}

/** Retained messages whose topic matches `filter` (an MQTT topic filter, checked valid by the dashboard). */
export interface RetainedQuery extends PageQuery {
  readonly filter: string;
}

/**
 * The levels directly below `parent` in the topic tree. `parent` undefined is the root; `''` is the empty
 * first level (as in `/a`). `parent` may hold `+` and `#` levels, which name the wildcard nodes.
 */
export interface TopicQuery extends PageQuery {
  readonly parent?: string | undefined;
}

/** A message to publish from the dashboard, as the inline client would (ACL bypassed, topic rules kept). */
export interface AdminPublish {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly qos: 0 | 1 | 2;
  readonly retain: boolean;
}

/**
 * What the dashboard and the admin REST API need from the broker. The broker implements it; the dashboard
 * never touches the engine otherwise. Reads return plain JSON-able data; every list is searched and paged
 * by the implementation, so a big broker never ships a whole list. Lists keep a stable order between calls
 * (insertion order or sorted), so paging through them is meaningful. Methods may throw only for broker
 * failures; "not found" is `undefined` or `false`.
 */
export interface AdminPort {
  /** Counters and levels now; called once a second. */
  stats(): Promise<AdminStats>;
  /** Connected clients (past CONNACK), searched and paged. */
  clients(query: ClientQuery): Promise<Page<ClientSummary>>;
  /**
   * One session by client id, connected or not, with at most `maxItems` entries in each of its lists
   * (subscriptions, inflight, queued); undefined when there is no such session.
   */
  session(clientId: string, maxItems: number): Promise<SessionDetails | undefined>;
  /** Sessions, connected or not, searched and paged. */
  sessions(query: SessionQuery): Promise<Page<SessionSummary>>;
  /** Subscriptions over all sessions, searched and paged. */
  subscriptions(query: SubscriptionQuery): Promise<Page<SubscriptionInfo>>;
  /** Retained messages matching a filter, sorted by topic, paged. */
  retained(query: RetainedQuery): Promise<Page<RetainedSummary>>;
  /** The retained message stored at exactly `topic`. */
  retainedMessage(topic: string): Promise<RetainedMessage | undefined>;
  /** Children of a topic tree node, sorted by level; undefined when `parent` is not in the tree. */
  topicChildren(query: TopicQuery): Promise<Page<TopicNodeInfo> | undefined>;
  listeners(): Promise<readonly ListenerInfo[]>;
  /** The cluster's nodes; empty when the broker is not clustered. */
  clusterNodes(): Promise<readonly ClusterNodeInfo[]>;

  /**
   * Disconnect a connected client (v5 clients get DISCONNECT 0x98 Administrative action); its session then
   * lives on or ends as its expiry says. False when no such client is connected.
   */
  disconnectClient(clientId: string): Promise<boolean>;
  /** End a session (disconnecting its client first when connected). False when there is no such session. */
  deleteSession(clientId: string): Promise<boolean>;
  /** Publish as the broker's inline client; resolves to the number of sessions it went to. */
  publish(message: AdminPublish): Promise<number>;
  /** Delete the retained message at exactly `topic`. False when there was none. */
  deleteRetained(topic: string): Promise<boolean>;
}
