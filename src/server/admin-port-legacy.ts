/**
 * The dashboard's AdminPort over today's `Broker` (sessions map, connection set, topic index, counters).
 * It is a stop-gap for tests and screenshots: the reorganized engine implements AdminPort itself, and this
 * file goes. It reads a few private fields through narrow structural views (the topic trie's root, each
 * listener's server) because today's classes expose no walk for them; each place says so.
 */
import type { AddressInfo } from 'node:net';
import type { Broker } from '../broker/broker.js';
import { Connection } from '../broker/connection.js';
import { createMessage, type Message } from '../broker/message.js';
import type { Outbound, Session, SessionSubscription } from '../broker/session.js';
import type {
  AdminPort,
  AdminPublish,
  AdminStats,
  ClientQuery,
  RetainedQuery,
  SessionQuery,
  SubscriptionQuery,
  TopicQuery,
} from '../dashboard/admin-port.js';
import { collectPage, containsFolded } from '../dashboard/paging.js';
import type {
  ClientSummary,
  ListenerInfo,
  Page,
  PendingMessageInfo,
  RetainedMessage,
  RetainedSummary,
  SessionDetails,
  SessionSummary,
  SubscriptionInfo,
  TopicNodeInfo,
} from '../dashboard/wire-types.js';
import { takeSnapshot } from '../listeners/metrics.js';
import { ReasonCode } from '../packets/reason-codes.js';

const NEVER_EXPIRES = 0xffffffff;
const NO_LAG = { mean: 0, p99: 0, max: 0 };

/** The part of a trie node this port reads (TopicIndex keeps its nodes private). */
interface TrieNodeView {
  readonly children: Map<string, TrieNodeView> | undefined;
  readonly plus: TrieNodeView | undefined;
  readonly hash: TrieNodeView | undefined;
  readonly subscribers: { readonly size: number } | undefined;
  readonly shared: { readonly items: readonly { readonly members: { readonly size: number } }[] } | undefined;
  readonly retained: unknown;
  readonly retainedBelow: number;
}

/** An AdminPort reading today's Broker. */
export function legacyAdminPort(broker: Broker): AdminPort {
  const connected = (): Connection[] =>
    [...broker.connections].filter((c) => c.state === 'connected' && c.session !== undefined);
  return {
    async stats(): Promise<AdminStats> {
      const { eventLoopLagSeconds: _lag, memory: _memory, ...rest } = takeSnapshot(broker, NO_LAG);
      return rest;
    },

    async clients(query: ClientQuery): Promise<Page<ClientSummary>> {
      const search = query.search;
      return collectPage(
        connected(),
        query,
        (c) =>
          containsFolded(c.clientId, search) ||
          containsFolded(c.username, search) ||
          containsFolded(c.remoteAddress, search),
        clientSummary,
      );
    },

    async session(clientId: string, maxItems: number): Promise<SessionDetails | undefined> {
      const session = broker.sessions.get(clientId);
      return session === undefined ? undefined : sessionDetails(session, maxItems);
    },

    async sessions(query: SessionQuery): Promise<Page<SessionSummary>> {
      return collectPage(
        broker.sessions.values(),
        query,
        (s) =>
          containsFolded(s.clientId, query.search) &&
          (query.connected === undefined || query.connected === (s.link !== undefined)),
        sessionSummary,
      );
    },

    async subscriptions(query: SubscriptionQuery): Promise<Page<SubscriptionInfo>> {
      const sessions =
        query.clientId === undefined
          ? [...broker.sessions.values()]
          : [broker.sessions.get(query.clientId)].filter((s) => s !== undefined);
      const records = sessions.flatMap((s) => [...s.subscriptions.values()]);
      return collectPage(records, query, (r) => containsFolded(r.key, query.search), subscriptionInfo);
    },

    async retained(query: RetainedQuery): Promise<Page<RetainedSummary>> {
      const found: Message[] = [];
      broker.index.matchRetained(query.filter, (_topic, message) => found.push(message));
      found.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0));
      return collectPage(found, query, () => true, retainedSummary);
    },

    async retainedMessage(topic: string): Promise<RetainedMessage | undefined> {
      const message = broker.index.getRetained(topic);
      if (message === undefined) return undefined;
      return {
        ...retainedSummary(message),
        payloadBase64: message.payload.toString('base64'),
        contentType: message.properties?.contentType,
        expiresAt: message.expiresAt,
      };
    },

    async topicChildren(query: TopicQuery): Promise<Page<TopicNodeInfo> | undefined> {
      // Today's TopicIndex has no public walk: its private root is read through TrieNodeView.
      let node = (broker.index as unknown as { root: TrieNodeView }).root;
      if (query.parent !== undefined) {
        for (const level of query.parent.split('/')) {
          const next = level === '+' ? node.plus : level === '#' ? node.hash : node.children?.get(level);
          if (next === undefined) return undefined;
          node = next;
        }
      }
      const prefix = query.parent === undefined ? '' : `${query.parent}/`;
      const entries: [string, TrieNodeView][] = [...(node.children ?? new Map<string, TrieNodeView>())];
      entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      if (node.plus !== undefined) entries.push(['+', node.plus]);
      if (node.hash !== undefined) entries.push(['#', node.hash]);
      return collectPage(
        entries,
        query,
        () => true,
        ([level, child]) => ({
          level,
          path: prefix + level,
          children: (child.children?.size ?? 0) + (child.plus ? 1 : 0) + (child.hash ? 1 : 0),
          retained: child.retained !== undefined,
          retainedBelow: child.retainedBelow,
          subscriptions:
            (child.subscribers?.size ?? 0) +
            (child.shared?.items.reduce((sum, group) => sum + group.members.size, 0) ?? 0),
        }),
      );
    },

    async listeners(): Promise<readonly ListenerInfo[]> {
      const open = new Map<string, number>();
      for (const conn of broker.connections) open.set(conn.listener, (open.get(conn.listener) ?? 0) + 1);
      return broker.listeners.map((listener) => ({
        name: listener.name,
        kind: listener.kind,
        address: listenerAddress(listener),
        listening: listener.listening,
        connections: open.get(listener.name) ?? 0,
      }));
    },

    async clusterNodes() {
      return [];
    },

    async disconnectClient(clientId: string): Promise<boolean> {
      const link = broker.sessions.get(clientId)?.link;
      if (!(link instanceof Connection) || link.state !== 'connected') return false;
      link.disconnect(ReasonCode.AdministrativeAction, 'disconnected by an administrator');
      return true;
    },

    async deleteSession(clientId: string): Promise<boolean> {
      const session = broker.sessions.get(clientId);
      if (session === undefined) return false;
      const link = session.link;
      if (link instanceof Connection) link.disconnect(ReasonCode.AdministrativeAction, 'session deleted');
      // Closing detached the session; unless it ended with its connection, end it now.
      if (broker.sessions.get(clientId) === session) broker.endSession(session);
      return true;
    },

    async publish(message: AdminPublish): Promise<number> {
      const payload = Buffer.from(message.payload.buffer, message.payload.byteOffset, message.payload.length);
      return broker.publish(message.topic, payload, { qos: message.qos, retain: message.retain });
    },

    async deleteRetained(topic: string): Promise<boolean> {
      if (broker.index.getRetained(topic) === undefined) return false;
      // An empty retained payload deletes, through the same path (and storage hooks) as a client's.
      broker.retain(createMessage(topic, Buffer.alloc(0), 0, true, undefined, undefined, Date.now()));
      return true;
    },
  };
}

function clientSummary(conn: Connection): ClientSummary {
  const session = conn.session;
  return {
    clientId: conn.clientId,
    username: conn.username,
    remoteAddress: conn.remoteAddress,
    remotePort: conn.remotePort,
    listener: conn.listener,
    protocolVersion: conn.protocolVersion,
    keepAlive: conn.keepaliveMs / 1000,
    inflight: session?.inflight.size ?? 0,
    queued: session?.queuedCount ?? 0,
    subscriptions: session?.subscriptions.size ?? 0,
    connectedAt: conn.openedAt,
  };
}

function sessionSummary(session: Session): SessionSummary {
  return {
    clientId: session.clientId,
    connected: session.link !== undefined,
    expiryInterval: session.expiryInterval,
    disconnectedAt: session.link === undefined ? session.disconnectedAt : undefined,
    subscriptions: session.subscriptions.size,
    inflight: session.inflight.size,
    queued: session.queuedCount,
  };
}

function sessionDetails(session: Session, maxItems: number): SessionDetails {
  const link = session.link instanceof Connection ? session.link : undefined;
  const offline = session.link === undefined;
  const will = link?.will ?? session.pendingWill?.will;
  const pending = (out: Outbound, state: PendingMessageInfo['state']): PendingMessageInfo => ({
    packetId: state === 'queued' ? 0 : out.packetId,
    topic: out.message.topic,
    qos: out.qos,
    payloadBytes: out.message.payload.length,
    state,
  });
  return {
    ...sessionSummary(session),
    client: link === undefined ? undefined : clientSummary(link),
    expiresAt:
      offline && session.expiryInterval !== NEVER_EXPIRES
        ? session.disconnectedAt + session.expiryInterval * 1000
        : undefined,
    subscriptionList: [...session.subscriptions.values()].slice(0, maxItems).map(subscriptionInfo),
    inflightList: [...session.inflight.values()].slice(0, maxItems).map((o) => pending(o, o.state)),
    queuedList: session
      .queuedMessages()
      .slice(0, maxItems)
      .map((o) => pending(o, 'queued')),
    queuedBytes: session.queuedByteCount,
    will:
      will === undefined
        ? undefined
        : {
            topic: will.topic,
            qos: will.qos,
            retain: will.retain,
            payloadBytes: will.payload.length,
            delaySeconds: will.properties?.willDelayInterval ?? 0,
            pending: offline && session.pendingWill !== undefined,
          },
  };
}

function subscriptionInfo(record: SessionSubscription): SubscriptionInfo {
  return {
    clientId: record.session.clientId,
    topicFilter: record.key,
    shareGroup: record.shareGroup,
    qos: record.qos,
    noLocal: record.noLocal,
    retainAsPublished: record.retainAsPublished,
    retainHandling: record.retainHandling,
    subscriptionId: record.subscriptionId,
  };
}

function retainedSummary(message: Message): RetainedSummary {
  return { topic: message.topic, qos: message.qos, payloadBytes: message.payload.length };
}

/** Every listener class keeps its bound server private: read its address through a structural view. */
function listenerAddress(listener: object): string | undefined {
  const server = (listener as { server?: { address(): AddressInfo | string | null } }).server;
  const address = server?.address();
  if (address === undefined || address === null) return undefined;
  if (typeof address === 'string') return address;
  return address.family === 'IPv6'
    ? `[${address.address}]:${address.port}`
    : `${address.address}:${address.port}`;
}
