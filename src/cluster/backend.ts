import type { Message } from '../broker/message.js';
import type { SessionStore, StoredSessionState, StoredSubscription, StoredWill } from '../broker/storage.js';
import type { FrameBatch } from './frames.js';

/**
 * What a cluster node needs from the shared system its nodes meet in (Redis now; NATS JetStream could be a
 * second one): a node registry with heartbeats, the route table, an inbox per node read with a checkpoint,
 * a best-effort channel for QoS 0, replicated retained messages, and the session store with ownership.
 * The node (`ClusterNode`) and the router (`ClusterRouter`) use only this.
 */
export interface ClusterBackend {
  readonly nodeId: string;
  /** Where the backend is, for logs and errors (`redis://127.0.0.1:6379`). */
  readonly location: string;
  /** The session store of every node: sessions, retained messages, and the turn's cross-node writes. */
  readonly store: ClusterStore;
  /** True while the backend answers; QoS 0 across nodes is dropped while false. */
  readonly available: boolean;
  /** Milliseconds between heartbeats; the other nodes are checked as often. */
  readonly heartbeatMs: number;
  /** A node without a heartbeat for this long (ms) is dead. */
  readonly nodeTimeoutMs: number;

  /** Reach the backend. Rejects with a {@link ClusterUnavailableError} when it cannot be reached. */
  connect(): Promise<void>;
  /**
   * Take the node id (waiting while a node of that id is still alive or being taken over), start hearing
   * the events, and read the route table. Call after `connect`.
   */
  join(events: ClusterEvents, info: () => NodeInfo): Promise<RouteTableSnapshot>;
  /** Join again after the membership was lost (see `ClusterEvents.membershipLost`). */
  rejoin(info: () => NodeInfo): Promise<void>;
  /**
   * The secret the nodes' direct links open with (see `NodeLinks`): made by the first node that asks, the
   * same for every node of the cluster. Call after `connect`.
   */
  linkSecret(): Promise<string>;
  /** Send a batch of QoS 0 frames to a node; false (nothing sent) when the backend is unavailable. */
  sendQos0(node: string, batch: Buffer): boolean;
  /** Start reading this node's inbox after its checkpoint; entries go to `handler` in order. */
  readInbox(handler: InboxHandler): void;
  /** The nodes registered, with whether their heartbeat is alive. */
  nodes(): Promise<NodeRecord[]>;
  /** Lock a dead node for taking over; false when it is alive, gone, or someone else is on it. */
  lockDeadNode(dead: string): Promise<boolean>;
  /** Take every session a dead node owned (those nobody took meanwhile). */
  claimDeadSessions(dead: string): Promise<ClaimedSession[]>;
  /** Every entry of a dead node's inbox after its checkpoint (and after `after`, when given). */
  readDeadInbox(dead: string, after: string | undefined): Promise<InboxEntry[]>;
  /** Who owns these sessions now, and their subscriptions (sessions taken from a dead node by others). */
  ownedElsewhere(
    clientIds: readonly string[],
  ): Promise<{ clientId: string; owner: string; subscriptions: StoredSubscription[] }[]>;
  /** Remove a dead (or departed) node: routes, inbox, registration. */
  forgetNode(dead: string): Promise<void>;
  /** Every retained message, for a refresh after the connection came back. */
  loadRetained(): Promise<Message[]>;
  /** Every node's routes, for a refresh after the connection came back. */
  loadRoutes(): Promise<RouteTableSnapshot>;
  /** Leave: stop the heartbeat and close the connections (the node's state stays for whoever takes it). */
  close(): Promise<void>;
}

/** The store part the cluster adds to the engine's storage seam; every change goes out with the turn's commit. */
export interface ClusterStore extends SessionStore {
  /** Set by the node: whether the engine holds a session for this client id now (a release is then moot). */
  isHeld: (clientId: string) => boolean;
  /**
   * Set by the node: send a copy of an inbox append (`stamp`; `previous`, the stamp of the last append to
   * that node from here, '' for none) ahead of it, over a direct link; false when it cannot.
   */
  sendEarly: (node: string, stamp: string, previous: string, batch: Buffer) => boolean;
  /** Set by the node: writes the backend skipped (sessions no longer owned here, inboxes of nodes gone). */
  onSkipped: (clientIds: string[], nodesGone: string[]) => void;
  /** Wills of clients connected here without a stored session when this node last stopped (found by `open`). */
  readonly loadedWills: { clientId: string; will: StoredWill }[];
  /** Take back the sessions this node owns (see `open`), after it joined again. */
  loadOwnSessions(): Promise<StoredSessionState[]>;
  /** The frames for another node's inbox (QoS 1/2) gathered this turn: write into it; they go with the commit. */
  inboxFrames(node: string): FrameBatch;
  /** A delivery for a session another node owns now (it was due to the session's previous owner). */
  handOff(node: string, clientId: string, delivery: Buffer): void;
  /** This node got its first local subscriber for a route key (a filter, or `$share/G/F`). */
  addRoute(key: string): void;
  /** ... or lost its last one. */
  removeRoute(key: string): void;
  /** Entries up to this id of the inbox are processed; their effects commit with it. */
  checkpoint(id: string): void;
  /** The session of a connected client that is not stored: keep its will, published if this node dies. */
  setWill(clientId: string, will: StoredWill | undefined): void;
  /** This node no longer holds the client's session: let go of its ownership (unless it is back meanwhile). */
  release(clientId: string): void;
  /** Another node took the session: writes from here for it stop. */
  lost(clientId: string): void;
  /**
   * Of these sessions held here, take ownership again of those whose record is gone from the backend (it
   * restarted without its data); returns them, for their state to be written again.
   */
  reclaimLost(clientIds: readonly string[]): Promise<string[]>;
  /** The take-over epoch this node holds the session at (0: none). */
  epochOf(clientId: string): number;
  /**
   * Claims of the client's session in flight from here (clients connecting): settles once the broker took
   * what they returned (`claimSettled`). Undefined when there is none.
   */
  claimInFlight(clientId: string): Promise<void> | undefined;
}

/** What a node's inbox reader hands the entries to. */
export interface InboxHandler {
  /**
   * Handle one entry. A promise when the node is pacing its inbox: the reader takes the next entry once it
   * resolves, and reads no further ahead meanwhile (what is not read yet stays in the inbox).
   */
  entry(entry: InboxEntry): Promise<void> | undefined;
  /** A read found fewer entries than it asked for, all handled without waiting: the inbox is read up. */
  caughtUp(): void;
  /**
   * Asked as each read's entries arrive: undefined to send the next read at once, or a promise (the entries
   * came ahead by another way, and reading them back can wait): the next read then goes once these entries
   * are handled and the promise resolved.
   */
  lazyRead?(): Promise<void> | undefined;
}

/** The events a node hears from the others. */
export interface ClusterEvents {
  /** A node got (`added`) or lost its local subscribers for a route key. */
  route(node: string, key: string, added: boolean): void;
  /** A node left or was taken over: its routes are gone. */
  nodeGone(node: string): void;
  /** A retained message changed on another node (undefined: deleted). */
  retained(topic: string, message: Message | undefined): void;
  /** A batch of QoS 0 frames from another node. */
  qos0(from: string, batch: Buffer): void;
  /** The connection to the backend came back after a loss: caches may have missed events. */
  reconnected(): void;
  /**
   * This node was taken for dead (silent longer than the node timeout: a pause, a partition) and another
   * node took its sessions over: its local copies are stale. The node lets them go and joins again.
   */
  membershipLost(): void;
}

/** An entry of a node's inbox. */
export type InboxEntry =
  /** Messages (frames) another node routed here. */
  | {
      readonly kind: 'batch';
      readonly id: string;
      readonly from: string;
      readonly batch: Buffer;
      /** The sender's stamp of the append: a copy appended again (a resent command) has the same. */
      readonly stamp: string | undefined;
    }
  /** Another node took a session over at this epoch: close and forget it here. */
  | {
      readonly kind: 'evict';
      readonly id: string;
      readonly from: string;
      readonly clientId: string;
      readonly epoch: number;
    }
  /** A delivery that reached the session's previous owner after the take-over. */
  | {
      readonly kind: 'handoff';
      readonly id: string;
      readonly from: string;
      readonly clientId: string;
      readonly delivery: Buffer;
      /** As a batch's: a copy appended again has the same. */
      readonly stamp: string | undefined;
    };

/** A session taken over from a dead node. */
export interface ClaimedSession {
  readonly clientId: string;
  /** The stored session; undefined for a session that was not stored (a clean session). */
  readonly state: StoredSessionState | undefined;
  /** The will of a client connected without a stored session. */
  readonly will: StoredWill | undefined;
}

/** Node id -> its route keys. */
export type RouteTableSnapshot = Map<string, string[]>;

/** What a node says of itself in the registry (refreshed with each heartbeat). */
export interface NodeInfo {
  readonly startedAt: number;
  readonly pid: number;
  readonly host: string;
  /** The machine's boot and pid namespace (Linux), so a restarted node can tell its previous process is gone. */
  readonly boot?: string | undefined;
  /** Where the node's direct link listens (`host:port`), when it has one. */
  readonly link?: string | undefined;
  /** Whether that link is TLS (`linkTls`); absent from a node of an older version. */
  readonly linkTls?: boolean | undefined;
  readonly clients: number;
  readonly sessions: number;
  readonly subscriptions: number;
  readonly retained: number;
  readonly messagesReceived: number;
  readonly messagesSent: number;
}

export interface NodeRecord {
  readonly id: string;
  readonly alive: boolean;
  readonly info: NodeInfo | undefined;
}

/** The backend cannot be reached (at start). */
export class ClusterUnavailableError extends Error {
  constructor(
    readonly location: string,
    cause: unknown,
  ) {
    super(
      `cannot reach the cluster backend at ${location}: ${cause instanceof Error ? cause.message : String(cause)}`,
      {
        cause,
      },
    );
    this.name = 'ClusterUnavailableError';
  }
}
