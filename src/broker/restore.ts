import { ReasonCode } from '../packets/reason-codes.js';
import type { DurableState } from './durable-state.js';
import { isExpired } from './message.js';
import type { RetainedMessages } from './routing.js';
import { Session } from './session.js';
import type { Outbound } from './session-link.js';
import type { SessionRegistry } from './session-registry.js';
import type { StoredSessionState, StoredState } from './storage.js';
import { SubscriptionRecord } from './subscription-record.js';
import type { Subscriptions } from './subscriptions.js';

/** What a start from stored state fills in. */
export interface RestoreTargets {
  readonly sessions: SessionRegistry;
  readonly subscriptions: Subscriptions;
  readonly retained: RetainedMessages;
  readonly durable: DurableState;
}

/** What was loaded, for the start-up log line. */
export interface RestoreSummary {
  sessions: number;
  subscriptions: number;
  deliveries: number;
  retained: number;
}

/**
 * The load path: rebuild sessions (offline, their expiry counted from when they went away), their
 * subscriptions, queued and in-flight messages and inbound QoS 2 ids, and the retained messages, from what
 * the store holds, without reporting any of it back as a change. Wills and expiries are settled after every
 * session is back, so a will reaches the sessions loaded after its own.
 */
export function restoreState(state: StoredState, targets: RestoreTargets, now = Date.now()): RestoreSummary {
  const summary: RestoreSummary = { sessions: 0, subscriptions: 0, deliveries: 0, retained: 0 };
  for (const message of state.retained) {
    if (isExpired(message, now)) continue;
    targets.retained.set(message.topic, message);
    summary.retained++;
  }
  const restored: { session: Session; willDueAt: number | undefined }[] = [];
  let maxSeq = 0;
  for (const stored of state.sessions) {
    const session = rebuild(stored, targets);
    summary.sessions++;
    summary.subscriptions += stored.subscriptions.length;
    summary.deliveries += stored.deliveries.length;
    for (const delivery of stored.deliveries) if (delivery.seq > maxSeq) maxSeq = delivery.seq;
    // A client connected when the broker stopped is gone now: its session went offline at restart.
    if (stored.session.connected) session.disconnectedAt = now;
    restored.push({ session, willDueAt: stored.session.willDueAt });
  }
  if (maxSeq >= targets.durable.nextSeq) targets.durable.nextSeq = maxSeq + 1;
  for (const { session, willDueAt } of restored) targets.sessions.restoreOffline(session, now, willDueAt);
  return summary;
}

/**
 * A session a cluster node took over at CONNECT (from the node that held it): rebuilt like a loaded one,
 * offline, its will and expiry armed so that the CONNECT that follows resumes (cancelling them) or cleanly
 * ends it (publishing a will that waited). The will of a client still connected elsewhere stays with the
 * node that closes that connection.
 */
export function restoreClaimed(
  stored: StoredSessionState,
  targets: Omit<RestoreTargets, 'retained'>,
  now = Date.now(),
): void {
  const session = rebuild(stored, targets);
  if (stored.session.connected) {
    session.will = undefined;
    session.disconnectedAt = now;
  }
  let maxSeq = 0;
  for (const delivery of stored.deliveries) if (delivery.seq > maxSeq) maxSeq = delivery.seq;
  if (maxSeq >= targets.durable.nextSeq) targets.durable.nextSeq = maxSeq + 1;
  targets.sessions.restoreOffline(session, now, stored.session.willDueAt);
}

function rebuild(stored: StoredSessionState, targets: Omit<RestoreTargets, 'retained'>): Session {
  const record = stored.session;
  const subscriptions = targets.subscriptions;
  // A local copy of the same client id (a cluster moved the session away and back) gives way first.
  const previous = targets.sessions.get(record.clientId);
  if (previous !== undefined) {
    previous.link?.disconnect(ReasonCode.SessionTakenOver);
    const still = targets.sessions.get(record.clientId);
    if (still !== undefined) targets.sessions.forget(still);
  }
  const session = new Session(record.clientId);
  session.expiryInterval = record.expiryInterval;
  session.protocolVersion = record.protocolVersion;
  session.username = record.username;
  session.disconnectedAt = record.disconnectedAt;
  session.storedOnce = true;
  if (record.will !== undefined) {
    const { topic, payload, qos, retain, properties } = record.will;
    session.will =
      properties === undefined
        ? { topic, payload, qos, retain }
        : { topic, payload, qos, retain, properties };
  }
  for (const sub of stored.subscriptions) {
    const entry = SubscriptionRecord.forKey(
      session,
      sub.key,
      sub.qos,
      sub.noLocal,
      sub.retainAsPublished,
      sub.retainHandling,
      sub.subscriptionId,
    );
    subscriptions.restore(entry);
  }
  for (const delivery of stored.deliveries) {
    const out: Outbound = {
      message: delivery.message,
      qos: delivery.qos,
      retain: delivery.retain,
      subscriptionIds: delivery.subscriptionIds,
      packetId: delivery.packetId,
      state: delivery.state === 'pubrel' ? 'pubrel' : 'publish',
      seq: delivery.seq,
    };
    // In flight when stored: resent with DUP on resume [MQTT-4.4.0-1]; queued: in order behind them.
    if (delivery.state === 'queued') session.enqueue(out, Number.MAX_SAFE_INTEGER, 0);
    else session.setInflight(out);
  }
  for (const packetId of stored.inboundQos2) session.addInboundQos2(packetId);
  return session;
}
