import type { Subscription } from '../packets/types.js';
import type { EndOfTurn } from './end-of-turn.js';
import type { HookRegistry } from './hook-registry.js';
import type { Message } from './message.js';
import type { Session, SessionSubscription } from './session.js';
import type { Outbound } from './session-link.js';
import type { SessionStore, StoredSession, StoredSessionState, StoredSubscription } from './storage.js';

/**
 * The one place every change of durable state goes through: it tells the storage-event hooks (once per
 * change) and, for persistent sessions and retained messages, the store, and marks the turn for a commit.
 * Without a store, only the hooks hear of it.
 */
export class DurableState {
  /** The next delivery key: increasing for the broker's life, resumed after the largest one loaded. */
  nextSeq = 1;

  constructor(
    private store: SessionStore | undefined,
    private readonly hooks: HookRegistry,
    private readonly turn: EndOfTurn,
  ) {}

  /**
   * A store shared by a cluster: take ownership of a client's session at CONNECT (see
   * `SessionStore.claimSession`). Undefined when the store is not shared.
   */
  claim(clientId: string, cleanStart: boolean): Promise<StoredSessionState | undefined> | undefined {
    return this.store?.claimSession?.(clientId, cleanStart);
  }

  /** What a claim returned is taken: see `SessionStore.claimSettled`. */
  claimSettled(clientId: string, held: boolean): void {
    if (this.store?.claimSettled === undefined) return;
    this.store.claimSettled(clientId, held);
    if (!held) this.turn.markDirty();
  }

  /** The broker closed its store: later changes (sockets still closing) only reach the hooks. */
  detachStore(): void {
    this.store = undefined;
  }

  /** The session was attached, detached, or its expiry or will changed. */
  sessionSaved(session: Session, connected: boolean): void {
    const hooks = this.hooks.on.onSessionChanged;
    if (hooks.length > 0) {
      const state = { expiryInterval: session.expiryInterval, connected };
      for (const hook of hooks) hook.onSessionChanged(session.clientId, state);
    }
    const store = this.store;
    if (store === undefined || session.inline) return;
    if (session.persistent) {
      store.saveSession(storedSession(session, connected));
      this.turn.markDirty();
    } else if (session.storedOnce) {
      // Resumed with Session Expiry 0: it ends with this connection, so nothing of it is kept.
      session.storedOnce = false;
      store.deleteSession(session.clientId);
      this.turn.markDirty();
    }
  }

  /**
   * Report a persistent session's whole state again, as if every part had just changed: for a shared store
   * that lost it (a cluster's Redis restarted without its data).
   */
  resave(session: Session): void {
    const store = this.store;
    if (store === undefined || !session.persistent) return;
    const clientId = session.clientId;
    store.saveSession(storedSession(session, session.link !== undefined));
    for (const record of session.subscriptions.values())
      store.saveSubscription(clientId, storedSubscription(record));
    const deliveries: [Outbound, 'queued' | 'publish' | 'pubrel'][] = [
      ...[...session.inflight.values()].map((out): [Outbound, 'publish' | 'pubrel'] => [out, out.state]),
      ...session.queuedMessages().map((out): [Outbound, 'queued'] => [out, 'queued']),
    ];
    for (const [out, state] of deliveries) {
      if (out.seq === 0) out.seq = this.nextSeq++;
      store.saveDelivery(clientId, {
        seq: out.seq,
        message: out.message,
        qos: out.qos,
        retain: out.retain,
        subscriptionIds: out.subscriptionIds,
        packetId: state === 'queued' ? 0 : out.packetId,
        state,
      });
    }
    for (const packetId of session.inboundQos2) store.addInboundQos2(clientId, packetId);
    this.turn.markDirty();
  }

  sessionEnded(session: Session): void {
    for (const hook of this.hooks.on.onSessionRemoved) hook.onSessionRemoved(session.clientId);
    if (this.store === undefined || !session.storedOnce) return;
    session.storedOnce = false;
    this.store.deleteSession(session.clientId);
    this.turn.markDirty();
  }

  subscriptionAdded(record: SessionSubscription): void {
    const session = record.session;
    const hooks = this.hooks.on.onSubscriptionChanged;
    if (hooks.length > 0) {
      const subscription: Subscription = {
        topicFilter: record.key,
        qos: record.qos,
        noLocal: record.noLocal,
        retainAsPublished: record.retainAsPublished,
        retainHandling: record.retainHandling,
      };
      for (const hook of hooks) hook.onSubscriptionChanged(session.clientId, record.key, subscription);
    }
    if (this.store === undefined || !session.persistent) return;
    this.store.saveSubscription(session.clientId, storedSubscription(record));
    this.turn.markDirty();
  }

  /** `withSession`: the whole session ends, and the store drops its subscriptions with it. */
  subscriptionRemoved(record: SessionSubscription, withSession = false): void {
    const session = record.session;
    for (const hook of this.hooks.on.onSubscriptionChanged)
      hook.onSubscriptionChanged(session.clientId, record.key, undefined);
    if (this.store === undefined || !session.persistent || withSession) return;
    this.store.deleteSubscription(session.clientId, record.key);
    this.turn.markDirty();
  }

  /** A message was queued for the session behind its inflight window. */
  queued(session: Session, out: Outbound): void {
    if (this.store === undefined || !session.persistent) return;
    out.seq = this.nextSeq++;
    this.store.saveDelivery(session.clientId, {
      seq: out.seq,
      message: out.message,
      qos: out.qos,
      retain: out.retain,
      subscriptionIds: out.subscriptionIds,
      packetId: 0,
      state: 'queued',
    });
    this.turn.markDirty();
  }

  /** A QoS 1/2 message was sent with its packet id (first sent, or taken from the queue). */
  sent(session: Session, out: Outbound): void {
    for (const hook of this.hooks.on.onInflightChanged)
      hook.onInflightChanged(session.clientId, out.packetId, out.message, 'publish');
    if (this.store === undefined || !session.persistent) return;
    if (out.seq === 0) {
      out.seq = this.nextSeq++;
      this.store.saveDelivery(session.clientId, {
        seq: out.seq,
        message: out.message,
        qos: out.qos,
        retain: out.retain,
        subscriptionIds: out.subscriptionIds,
        packetId: out.packetId,
        state: 'publish',
      });
    } else {
      this.store.updateDelivery(session.clientId, out.seq, out.packetId, 'publish');
    }
    this.turn.markDirty();
  }

  /** A QoS 2 message got its PUBREC: the flow waits for PUBCOMP now. */
  released(session: Session, out: Outbound): void {
    for (const hook of this.hooks.on.onInflightChanged)
      hook.onInflightChanged(session.clientId, out.packetId, out.message, 'pubrel');
    if (this.store === undefined || !session.persistent || out.seq === 0) return;
    this.store.updateDelivery(session.clientId, out.seq, out.packetId, 'pubrel');
    this.turn.markDirty();
  }

  /** The message is done with: acknowledged, refused by PUBREC, expired or dropped. */
  finished(session: Session, out: Outbound, wasInflight: boolean): void {
    if (wasInflight) {
      for (const hook of this.hooks.on.onInflightChanged)
        hook.onInflightChanged(session.clientId, out.packetId, undefined);
    }
    if (this.store === undefined || !session.persistent || out.seq === 0) return;
    this.store.deleteDelivery(session.clientId, out.seq);
    this.turn.markDirty();
  }

  inboundQos2Added(session: Session, packetId: number): void {
    if (this.store === undefined || !session.persistent) return;
    this.store.addInboundQos2(session.clientId, packetId);
    this.turn.markDirty();
  }

  inboundQos2Released(session: Session, packetId: number): void {
    if (this.store === undefined || !session.persistent) return;
    this.store.deleteInboundQos2(session.clientId, packetId);
    this.turn.markDirty();
  }

  retainedChanged(topic: string, message: Message | undefined): void {
    for (const hook of this.hooks.on.onRetainedChanged) hook.onRetainedChanged(topic, message);
    if (this.store === undefined) return;
    this.store.setRetained(topic, message);
    this.turn.markDirty();
  }
}

function storedSession(session: Session, connected: boolean): StoredSession {
  session.storedOnce = true;
  const pending = session.pendingWill;
  const will = pending?.will ?? session.will;
  return {
    clientId: session.clientId,
    expiryInterval: session.expiryInterval,
    protocolVersion: session.protocolVersion,
    username: session.username,
    connected,
    disconnectedAt: connected ? 0 : session.disconnectedAt,
    will:
      will === undefined
        ? undefined
        : {
            topic: will.topic,
            payload: will.payload,
            qos: will.qos,
            retain: will.retain,
            properties: will.properties,
          },
    willDueAt: pending?.dueAt,
  };
}

function storedSubscription(record: SessionSubscription): StoredSubscription {
  return {
    key: record.key,
    qos: record.qos,
    noLocal: record.noLocal,
    retainAsPublished: record.retainAsPublished,
    retainHandling: record.retainHandling,
    subscriptionId: record.subscriptionId,
  };
}
