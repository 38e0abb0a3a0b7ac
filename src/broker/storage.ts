import type { Properties, ProtocolVersionNumber, QoS } from '../packets/types.js';
import type { Message } from './message.js';

/**
 * The storage seam: how the engine keeps durable state in a store (SQLite, Redis, ...). The engine loads
 * what is stored once at start (`open`), then reports every change of a persistent session (Session Expiry
 * Interval > 0) and of retained messages as it happens; at the end of each event-loop turn it calls `commit`,
 * and only once that returns (or its promise resolves) does it send the acknowledgements that depend on
 * the changes (PUBACK, PUBREC, PUBCOMP, SUBACK, a CONNACK with Session Present). Sessions that end with
 * their connection are never reported.
 */
export interface SessionStore {
  /** A name for logs and metrics (`sqlite`, `redis`). */
  readonly name: string;
  /** Read what is stored. Called once, before any change is reported. */
  open(): Promise<StoredState>;

  saveSession(session: StoredSession): void;
  /** The session ended: its subscriptions, deliveries and inbound QoS 2 ids go with it. */
  deleteSession(clientId: string): void;
  saveSubscription(clientId: string, subscription: StoredSubscription): void;
  deleteSubscription(clientId: string, key: string): void;
  /** A message for a session: queued behind the inflight window, or sent and awaiting its acknowledgement. */
  saveDelivery(clientId: string, delivery: StoredDelivery): void;
  /** A queued message was sent (`publish`, with its packet id), or a QoS 2 flow got its PUBREC (`pubrel`). */
  updateDelivery(clientId: string, seq: number, packetId: number, state: 'publish' | 'pubrel'): void;
  /** Acknowledged, expired or dropped. */
  deleteDelivery(clientId: string, seq: number): void;
  /** An inbound QoS 2 packet id held until PUBREL [MQTT-4.3.3-8]. */
  addInboundQos2(clientId: string, packetId: number): void;
  deleteInboundQos2(clientId: string, packetId: number): void;
  /** Store (or, with undefined, delete) the retained message of a topic. */
  setRetained(topic: string, message: Message | undefined): void;

  /**
   * Make every change reported since the last commit durable, as one transaction. Returns undefined when
   * done synchronously, or a promise; throws (or rejects) when the changes could not be made durable. A
   * failed batch is kept and retried with the next commit.
   */
  commit(): Promise<void> | undefined;
  /**
   * Stores that commit in a pipeline (both or neither): `seal` closes the batch of the changes reported
   * so far, and `commitSealed` makes only the sealed changes durable, as `commit` does. Changes reported
   * after the seal may still alter sealed ones that are not written yet (an acknowledgement drops a saved
   * delivery), as long as what is committed stays what those later changes would leave.
   */
  seal?(): void;
  commitSealed?(): Promise<void> | undefined;
  /**
   * Deliveries saved in the sealed batch, sent and awaiting their acknowledgement: each acknowledgement that
   * arrives before the commit drops its save, so the commit may wait a little for them.
   */
  sealedInFlight?(): number;
  /** Commit what is left and release the store (files, locks, connections). */
  close(): Promise<void>;
  /**
   * The store is running out of room (its disk's free space is under its floor): QoS 1/2 publishes are
   * refused, as when a commit fails, before they would fill the disk. Absent: never.
   */
  lowOnSpace?(): boolean;
  /** Bytes the store takes (database and journal files), for metrics; absent when it cannot tell. */
  sizeBytes?(): number;

  /**
   * Stores shared by several brokers (a cluster): take ownership of a session a client is connecting for,
   * wherever it was held, and return its state when it comes from elsewhere (another node held it); with
   * `cleanStart` the stored state is discarded instead. Undefined: this broker's own copy (if any) is the
   * session. Absent for stores a single broker owns.
   */
  claimSession?(clientId: string, cleanStart: boolean): Promise<StoredSessionState | undefined>;
  /**
   * After each `claimSession` that resolved: the broker took what it returned (restored the stored state).
   * `held` false: the client left during the claim and no session is held for it here, so the ownership
   * taken can go.
   */
  claimSettled?(clientId: string, held: boolean): void;
}

/** A will as stored with its session. */
export interface StoredWill {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly properties?: Properties | undefined;
}

export interface StoredSession {
  readonly clientId: string;
  /** Seconds; 0xFFFFFFFF never expires. */
  readonly expiryInterval: number;
  readonly protocolVersion: ProtocolVersionNumber;
  readonly username: string | undefined;
  /** A client was connected when this was recorded. */
  readonly connected: boolean;
  /** When the client went away (ms since the epoch); 0 while connected. */
  readonly disconnectedAt: number;
  /** The will of the connected client, or the will waiting for its delay. */
  readonly will: StoredWill | undefined;
  /** When a will waiting for its Will Delay Interval is due (ms since the epoch). */
  readonly willDueAt: number | undefined;
}

export interface StoredSubscription {
  /** The filter as the client sent it (with `$share/group/` when shared). */
  readonly key: string;
  readonly qos: QoS;
  readonly noLocal: boolean;
  readonly retainAsPublished: boolean;
  readonly retainHandling: 0 | 1 | 2;
  readonly subscriptionId: number | undefined;
}

/** Where a message for a session stands: queued, sent and awaiting PUBACK/PUBREC, or awaiting PUBCOMP. */
export type DeliveryState = 'queued' | 'publish' | 'pubrel';

export interface StoredDelivery {
  /** Unique per broker and increasing: the order of a session's deliveries. */
  readonly seq: number;
  readonly message: Message;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly subscriptionIds: readonly number[] | undefined;
  /** 0 while queued. */
  readonly packetId: number;
  readonly state: DeliveryState;
}

export interface StoredSessionState {
  readonly session: StoredSession;
  readonly subscriptions: readonly StoredSubscription[];
  /** In `seq` order. */
  readonly deliveries: readonly StoredDelivery[];
  readonly inboundQos2: readonly number[];
}

export interface StoredState {
  readonly sessions: Iterable<StoredSessionState>;
  readonly retained: Iterable<Message>;
}
