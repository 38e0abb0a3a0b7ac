import type { QoS } from '../packets/types.js';
import type { DurableState } from './durable-state.js';
import type { HookRegistry } from './hook-registry.js';
import type { DropReason } from './hooks.js';
import type { MemoryBudget } from './memory-budget.js';
import { detached, isExpired, type Message } from './message.js';
import type { ResolvedBrokerOptions } from './options.js';
import type { Session } from './session.js';
import type { Outbound, SessionLink } from './session-link.js';
import type { SharedPublishHeaders } from './shared-header.js';
import type { BrokerStats } from './stats.js';

/** What became of a PUBREC for one of our packet ids. */
export type PubrecOutcome = 'release' | 'refused' | 'unknown';

/**
 * The outbound QoS state machine, one for network and inline sessions alike: deliver a message to a
 * session (now, or queued behind the inflight window), PUBLISH → PUBACK, PUBLISH → PUBREC → PUBREL →
 * PUBCOMP, drain the queue as acknowledgements free the window, resend on resume. Every transition is
 * reported to the durable state (store and storage hooks).
 */
export class OutboundQos {
  /**
   * While set, told of each message queued behind the inflight window of a connected session, or refused
   * by its full queue. A cluster node sets it around the messages it takes from its inbox, to stop reading
   * while a subscriber's queue fills (`InboxGate`).
   */
  queueWatch: ((session: Session) => void) | undefined = undefined;

  constructor(
    private readonly options: ResolvedBrokerOptions,
    private readonly stats: BrokerStats,
    private readonly hooks: HookRegistry,
    private readonly durable: DurableState,
    readonly headers: SharedPublishHeaders,
    private readonly memory: MemoryBudget,
  ) {}

  /** Deliver one message to one session. Returns false when it was dropped or not queued. */
  deliver(
    session: Session,
    message: Message,
    qos: QoS,
    retain: boolean,
    subscriptionIds: readonly number[] | undefined,
  ): boolean {
    const link = session.link;
    if (qos === 0) {
      if (link === undefined) {
        // QoS 0 for an offline session is queued only when configured (Mosquitto's queue_qos0_messages).
        if (!this.options.queueQos0) return false;
        return this.enqueue(session, {
          message,
          qos,
          retain,
          subscriptionIds,
          packetId: 0,
          state: 'publish',
          seq: 0,
        });
      }
      if (link.congested()) {
        // A reader that fell behind loses QoS 0 messages instead of growing our memory.
        this.drop(session, message, 'slow-client');
        return false;
      }
      const refused = link.sendPublish(message, 0, retain, subscriptionIds, 0, false, this.headers);
      if (refused === undefined) return true;
      this.drop(session, message, refused);
      return false;
    }
    const out: Outbound = { message, qos, retain, subscriptionIds, packetId: 0, state: 'publish', seq: 0 };
    // [MQTT-4.9.0-2] Beyond the client's Receive Maximum, messages wait in order; nothing is dropped here.
    if (
      link !== undefined &&
      session.queuedCount === 0 &&
      session.inflight.size < link.sendQuota &&
      !link.congested()
    ) {
      return this.send(session, link, out);
    }
    return this.enqueue(session, out);
  }

  /** Send queued messages while the inflight window and the socket allow. */
  drain(session: Session): void {
    const link = session.link;
    if (link === undefined) return;
    for (let out = session.peekQueued(); out !== undefined; out = session.peekQueued()) {
      if (link.congested()) return;
      if (out.qos > 0 && session.inflight.size >= link.sendQuota) return;
      session.shiftQueued();
      this.memory.queued -= out.message.size;
      this.send(session, link, out);
    }
  }

  /**
   * A session resumed: resend every unacknowledged PUBLISH with DUP set, and PUBREL for those past PUBREC,
   * in their original order [MQTT-4.4.0-1] [MQTT-4.6.0-1]; then the queue.
   */
  resume(session: Session): void {
    const link = session.link;
    if (link === undefined) return;
    for (const out of session.inflight.values()) {
      if (out.state === 'pubrel') {
        link.sendPubrel(out.packetId);
      } else {
        const refused = link.sendPublish(
          out.message,
          out.qos,
          out.retain,
          out.subscriptionIds,
          out.packetId,
          true,
          this.headers,
        );
        if (refused === undefined) continue;
        session.deleteInflight(out.packetId);
        this.drop(session, out.message, refused);
        this.notifyDropped(session, out.packetId, refused);
        this.durable.finished(session, out, true);
      }
    }
    this.drain(session);
  }

  /** PUBACK for one of our QoS 1 packet ids. (spec 4.3.2) An unknown id is ignored. */
  puback(session: Session, packetId: number): void {
    const out = session.inflight.get(packetId);
    if (out === undefined || out.qos !== 1) return;
    this.complete(session, out);
  }

  /** PUBREC for one of our QoS 2 packet ids. */
  pubrec(session: Session, packetId: number, reasonCode: number): PubrecOutcome {
    const out = session.inflight.get(packetId);
    if (out === undefined || out.qos !== 2) return 'unknown';
    if (reasonCode >= 0x80) {
      // [MQTT-4.4.0-2] A PUBREC with an error reason code ends the QoS 2 flow: acknowledged, never re-sent.
      this.complete(session, out);
      return 'refused';
    }
    // [MQTT-4.3.3-4] After PUBREC the sender MUST send PUBREL with the same packet identifier.
    out.state = 'pubrel';
    this.durable.released(session, out);
    return 'release';
  }

  /** PUBCOMP for one of our QoS 2 packet ids past PUBREC. */
  pubcomp(session: Session, packetId: number): void {
    const out = session.inflight.get(packetId);
    if (out === undefined || out.state !== 'pubrel') return;
    this.complete(session, out);
  }

  /** Count a message a session did not get, and tell the hooks. */
  drop(session: Session, message: Message, reason: DropReason): void {
    this.stats.dropped[reason]++;
    session.dropped++;
    for (const hook of this.hooks.on.onPublishDropped) {
      try {
        hook.onPublishDropped(session.clientId, message, reason);
      } catch (err) {
        this.hooks.reportError(err, 'onPublishDropped');
      }
    }
  }

  private complete(session: Session, out: Outbound): void {
    session.deleteInflight(out.packetId);
    for (const hook of this.hooks.on.onQosComplete) {
      try {
        hook.onQosComplete(session.clientId, out.packetId);
      } catch (err) {
        this.hooks.reportError(err, 'onQosComplete');
      }
    }
    this.durable.finished(session, out, true);
    this.drain(session);
  }

  private enqueue(session: Session, out: Outbound): boolean {
    // Queued messages may wait long: they must not pin the socket chunk their payload was parsed from.
    const kept = session.link === undefined ? { ...out, message: detached(out.message) } : out;
    const queued = session.enqueue(kept, this.options.maxQueuedMessages, this.options.maxQueuedBytes);
    if (queued) {
      this.memory.queued += kept.message.size;
      this.durable.queued(session, kept);
    } else {
      this.drop(session, out.message, 'queue-full');
    }
    if (this.queueWatch !== undefined && session.link !== undefined) this.queueWatch(session);
    return queued;
  }

  private send(session: Session, link: SessionLink, out: Outbound): boolean {
    if (isExpired(out.message, Date.now())) {
      // [MQTT-3.3.2-5] An expired message is not sent on.
      this.drop(session, out.message, 'expired');
      this.durable.finished(session, out, false);
      return false;
    }
    if (out.qos === 0) {
      const refused = link.sendPublish(
        out.message,
        0,
        out.retain,
        out.subscriptionIds,
        0,
        false,
        this.headers,
      );
      if (refused !== undefined) this.drop(session, out.message, refused);
      this.durable.finished(session, out, false);
      return refused === undefined;
    }
    const packetId = session.allocatePacketId();
    out.packetId = packetId;
    session.setInflight(out);
    const refused = link.sendPublish(
      out.message,
      out.qos,
      out.retain,
      out.subscriptionIds,
      packetId,
      false,
      this.headers,
    );
    if (refused !== undefined) {
      // [MQTT-3.1.2-25] Too large for the client: discarded as if it had been sent.
      session.deleteInflight(packetId);
      this.drop(session, out.message, refused);
      this.durable.finished(session, out, false);
      return false;
    }
    for (const hook of this.hooks.on.onQosPublish) {
      try {
        hook.onQosPublish(session.clientId, packetId, out.message, out.qos);
      } catch (err) {
        this.hooks.reportError(err, 'onQosPublish');
      }
    }
    this.durable.sent(session, out);
    return true;
  }

  private notifyDropped(session: Session, packetId: number, reason: DropReason): void {
    for (const hook of this.hooks.on.onQosDropped) {
      try {
        hook.onQosDropped(session.clientId, packetId, reason);
      } catch (err) {
        this.hooks.reportError(err, 'onQosDropped');
      }
    }
  }
}
