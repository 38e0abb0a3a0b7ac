import type { DropReason } from '../hooks/types.js';
import type { QoS } from '../packets/types.js';
import type { Broker } from './broker.js';
import { detached, isExpired, type Message } from './message.js';
import type { Outbound, Session, SessionLink } from './session.js';

/**
 * The session engine's send side: deliver a message to one session (now, or queued behind the inflight
 * window), drain the queue as acknowledgements free the window, and resend unacknowledged messages when a
 * session resumes.
 */
export function deliver(
  broker: Broker,
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
      if (!broker.options.queueQos0) return false;
      return enqueue(broker, session, {
        message,
        qos,
        retain,
        subscriptionIds,
        packetId: 0,
        state: 'publish',
      });
    }
    if (link.congested()) {
      // A reader that fell behind loses QoS 0 messages instead of growing our memory.
      drop(broker, session, message, 'slow-client');
      return false;
    }
    if (!link.sendPublish(message, 0, retain, subscriptionIds, 0, false)) {
      drop(broker, session, message, 'packet-too-large');
      return false;
    }
    return true;
  }
  const out: Outbound = { message, qos, retain, subscriptionIds, packetId: 0, state: 'publish' };
  // [MQTT-4.9.0-2] Beyond the client's Receive Maximum, messages wait in order; nothing is dropped here.
  if (
    link !== undefined &&
    session.queuedCount === 0 &&
    session.inflight.size < link.sendQuota &&
    !link.congested()
  ) {
    return sendOutbound(broker, session, link, out);
  }
  return enqueue(broker, session, out);
}

function enqueue(broker: Broker, session: Session, out: Outbound): boolean {
  // Queued messages may wait long: they must not pin the socket chunk their payload was parsed from.
  const kept = session.link === undefined ? { ...out, message: detached(out.message) } : out;
  if (session.enqueue(kept, broker.options.maxQueuedMessages, broker.options.maxQueuedBytes)) return true;
  drop(broker, session, out.message, 'queue-full');
  return false;
}

function sendOutbound(broker: Broker, session: Session, link: SessionLink, out: Outbound): boolean {
  const now = Date.now();
  if (isExpired(out.message, now)) {
    // [MQTT-3.3.2-5] An expired message is not sent on.
    drop(broker, session, out.message, 'expired');
    return false;
  }
  if (out.qos === 0) {
    if (link.sendPublish(out.message, 0, out.retain, out.subscriptionIds, 0, false)) return true;
    drop(broker, session, out.message, 'packet-too-large');
    return false;
  }
  const packetId = session.allocatePacketId();
  out.packetId = packetId;
  session.inflight.set(packetId, out);
  if (!link.sendPublish(out.message, out.qos, out.retain, out.subscriptionIds, packetId, false)) {
    // [MQTT-3.1.2-25] Too large for the client: discarded as if it had been sent.
    session.inflight.delete(packetId);
    drop(broker, session, out.message, 'packet-too-large');
    return false;
  }
  for (const hook of broker.hooks.on.onQosPublish)
    hook.onQosPublish(session.clientId, packetId, out.message, out.qos);
  for (const hook of broker.hooks.on.onInflightChanged)
    hook.onInflightChanged(session.clientId, packetId, out.message);
  return true;
}

/** Send queued messages while the inflight window and the socket allow. */
export function drainSession(broker: Broker, session: Session): void {
  const link = session.link;
  if (link === undefined) return;
  for (let out = session.peekQueued(); out !== undefined; out = session.peekQueued()) {
    if (link.congested()) return;
    if (out.qos > 0 && session.inflight.size >= link.sendQuota) return;
    session.shiftQueued();
    sendOutbound(broker, session, link, out);
  }
}

/**
 * A session resumed: resend every unacknowledged PUBLISH with DUP set, and PUBREL for those past PUBREC,
 * in their original order [MQTT-4.4.0-1] [MQTT-4.6.0-1]; then the queue.
 */
export function resumeSession(broker: Broker, session: Session): void {
  const link = session.link;
  if (link === undefined) return;
  for (const out of session.inflight.values()) {
    if (out.state === 'pubrel') {
      link.sendPubrel(out.packetId);
    } else if (!link.sendPublish(out.message, out.qos, out.retain, out.subscriptionIds, out.packetId, true)) {
      session.inflight.delete(out.packetId);
      drop(broker, session, out.message, 'packet-too-large');
      for (const hook of broker.hooks.on.onQosDropped)
        hook.onQosDropped(session.clientId, out.packetId, 'packet-too-large');
      for (const hook of broker.hooks.on.onInflightChanged)
        hook.onInflightChanged(session.clientId, out.packetId, undefined);
    }
  }
  drainSession(broker, session);
}

export function drop(broker: Broker, session: Session, message: Message, reason: DropReason): void {
  broker.stats.dropped[reason]++;
  session.dropped++;
  const hooks = broker.hooks.on.onPublishDropped;
  for (const hook of hooks) hook.onPublishDropped(session.clientId, message, reason);
}
