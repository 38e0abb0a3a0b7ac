/**
 * The dashboard's AdminPort over the engine: paged, searchable reads of clients, sessions, subscriptions,
 * retained messages and the topic tree, and the operator's writes (disconnect, delete a session, publish,
 * delete a retained message), each through the engine's own paths.
 */
import type { Connection } from '../broker/connection.js';
import type { Engine } from '../broker/engine.js';
import { createMessage, type Message } from '../broker/message.js';
import type { Session, SessionSubscription } from '../broker/session.js';
import type { Outbound } from '../broker/session-link.js';
import { takeSnapshot } from '../broker/snapshot.js';
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
  ClusterNodeInfo,
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
import type { Listener, ListenerAddress } from '../listeners/listener.js';
import { ReasonCode } from '../packets/reason-codes.js';

const NEVER_EXPIRES = 0xffffffff;
const NO_LAG = { mean: 0, p99: 0, max: 0 };

/** What the admin port reads besides the engine. */
export interface AdminSources {
  /** The broker's listeners with the address each is bound to. */
  listeners(): readonly { readonly listener: Listener; readonly address: ListenerAddress | undefined }[];
  /** Cluster nodes, when clustered. */
  clusterNodes(): Promise<readonly ClusterNodeInfo[]>;
}

export function adminPort(engine: Engine, sources: AdminSources): AdminPort {
  const connected = (): Connection[] =>
    [...engine.connections].filter((c) => c.state === 'connected' && c.session !== undefined);
  return {
    async stats(): Promise<AdminStats> {
      const { eventLoopLagSeconds: _lag, memory: _memory, ...rest } = takeSnapshot(engine, NO_LAG);
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
      const session = engine.sessions.get(clientId);
      return session === undefined ? undefined : sessionDetails(engine, session, maxItems);
    },

    async sessions(query: SessionQuery): Promise<Page<SessionSummary>> {
      return collectPage(
        engine.sessions.values(),
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
          ? [...engine.sessions.values()]
          : [engine.sessions.get(query.clientId)].filter((s) => s !== undefined);
      const records = sessions.flatMap((s) => [...s.subscriptions.values()]);
      return collectPage(records, query, (r) => containsFolded(r.key, query.search), subscriptionInfo);
    },

    async retained(query: RetainedQuery): Promise<Page<RetainedSummary>> {
      const found: Message[] = [];
      engine.router.match(query.filter, (_topic, message) => found.push(message));
      found.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0));
      return collectPage(found, query, () => true, retainedSummary);
    },

    async retainedMessage(topic: string): Promise<RetainedMessage | undefined> {
      const message = engine.router.get(topic);
      if (message === undefined) return undefined;
      return {
        ...retainedSummary(message),
        payloadBase64: message.payload.toString('base64'),
        contentType: message.properties?.contentType,
        expiresAt: message.expiresAt,
      };
    },

    async topicChildren(query: TopicQuery): Promise<Page<TopicNodeInfo> | undefined> {
      const levels = engine.index.children(query.parent);
      if (levels === undefined) return undefined;
      const prefix = query.parent === undefined ? '' : `${query.parent}/`;
      return collectPage(
        levels,
        query,
        () => true,
        (level) => ({ ...level, path: prefix + level.level }),
      );
    },

    async listeners(): Promise<readonly ListenerInfo[]> {
      const open = new Map<string, number>();
      for (const conn of engine.connections) open.set(conn.listener, (open.get(conn.listener) ?? 0) + 1);
      return sources.listeners().map(({ listener, address }) => ({
        name: listener.name,
        kind: listener.kind,
        address: describe(address),
        listening: listener.listening,
        connections: open.get(listener.name) ?? 0,
      }));
    },

    clusterNodes: () => sources.clusterNodes(),

    async disconnectClient(clientId: string): Promise<boolean> {
      const conn = engine.connectionOf(clientId);
      if (conn === undefined || conn.state !== 'connected') return false;
      conn.disconnect(ReasonCode.AdministrativeAction, 'disconnected by an administrator');
      return true;
    },

    async deleteSession(clientId: string): Promise<boolean> {
      const session = engine.sessions.get(clientId);
      if (session === undefined) return false;
      session.link?.disconnect(ReasonCode.AdministrativeAction, 'session deleted by an administrator');
      // Closing detached the session; unless it ended with its connection, end it now.
      if (engine.sessions.get(clientId) === session) engine.services.sessions.end(session);
      return true;
    },

    async publish(message: AdminPublish): Promise<number> {
      const payload = Buffer.from(message.payload.buffer, message.payload.byteOffset, message.payload.length);
      return engine.publish(message.topic, payload, { qos: message.qos, retain: message.retain });
    },

    async deleteRetained(topic: string): Promise<boolean> {
      if (engine.router.get(topic) === undefined) return false;
      // An empty retained payload deletes, through the same path (store, storage hooks) as a client's.
      engine.pipeline.retain(
        createMessage(topic, Buffer.alloc(0), 0, true, undefined, undefined, Date.now()),
      );
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
    subscriptions: session?.subscriptionCount ?? 0,
    connectedAt: conn.openedAt,
  };
}

function sessionSummary(session: Session): SessionSummary {
  return {
    clientId: session.clientId,
    connected: session.link !== undefined,
    expiryInterval: session.expiryInterval,
    disconnectedAt: session.link === undefined ? session.disconnectedAt : undefined,
    subscriptions: session.subscriptionCount,
    inflight: session.inflight.size,
    queued: session.queuedCount,
  };
}

function sessionDetails(engine: Engine, session: Session, maxItems: number): SessionDetails {
  const conn = engine.connectionOf(session.clientId);
  const offline = session.link === undefined;
  const will = conn?.will ?? session.pendingWill?.will;
  const pending = (out: Outbound, state: PendingMessageInfo['state']): PendingMessageInfo => ({
    packetId: state === 'queued' ? 0 : out.packetId,
    topic: out.message.topic,
    qos: out.qos,
    payloadBytes: out.message.payload.length,
    state,
  });
  return {
    ...sessionSummary(session),
    client: conn === undefined ? undefined : clientSummary(conn),
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

function describe(address: ListenerAddress | undefined): string | undefined {
  if (address === undefined || typeof address === 'string') return address;
  return address.family === 'IPv6'
    ? `[${address.address}]:${address.port}`
    : `${address.address}:${address.port}`;
}
