import { MqttError } from '../packets/errors.js';
import { hasMoreLevelsThan, isValidTopicFilter, parseSharedFilter } from '../packets/index.js';
import { ReasonCode } from '../packets/reason-codes.js';
import type { QoS, SubscribePacket, Subscription, UnsubscribePacket } from '../packets/types.js';
import type { SubscribeRefuseReason, SubscribeVerdict } from './hooks.js';
import type { ProtocolPeer } from './protocol-peer.js';
import type { SessionSubscription } from './session.js';
import { SubscriptionRecord } from './subscription-record.js';

const V3_FAILURE = 0x80;

/** A filter of this SUBSCRIBE now stored, at its position in the packet. */
interface StoredFilter {
  readonly record: SessionSubscription;
  readonly existed: boolean;
  readonly index: number;
}

/**
 * SUBSCRIBE: each filter is checked, passed through the subscribe hooks and the ACL, and stored or refused
 * on its own; an invalid filter never drops the valid ones. SUBACK carries one code per filter
 * [MQTT-3.8.4-6], then the retained messages matching the new subscriptions are sent.
 */
export function handleSubscribe(conn: ProtocolPeer, packet: SubscribePacket): Promise<void> | undefined {
  const subscriptionId = packet.properties?.subscriptionIdentifiers?.[0];
  if (subscriptionId !== undefined && !conn.services.options.subscriptionIdentifiersAvailable) {
    // (spec 3.2.2.3.12, no statement id) Subscription identifiers when not available: DISCONNECT 0xA1.
    throw new MqttError(
      ReasonCode.SubscriptionIdentifiersNotSupported,
      'subscription identifiers not supported',
    );
  }
  const codes: number[] = new Array(packet.subscriptions.length).fill(0);
  const accepted: { index: number; subscription: Subscription }[] = [];
  const pending: Promise<void>[] = [];
  packet.subscriptions.forEach((requested, index) => {
    const code = checkFilter(conn, requested);
    if (code !== undefined) {
      codes[index] = code;
      return;
    }
    const outcome = decide(conn, requested);
    const settle = (result: number | Subscription): void => {
      if (typeof result === 'number') codes[index] = result;
      else accepted.push({ index, subscription: result });
    };
    if (outcome instanceof Promise) pending.push(outcome.then(settle));
    else settle(outcome);
  });
  const finish = (): Promise<void> | undefined => {
    accepted.sort((a, b) => a.index - b.index);
    const stored: StoredFilter[] = [];
    const max = conn.services.options.maxSubscriptions;
    for (const { index, subscription } of accepted) {
      // Past maxSubscriptions (a server limit, as EMQX's max_subscriptions): a new filter is refused, a
      // replacement of one the session holds is not. (The session's map is read anew: each store changes it.)
      if (max > 0 && overQuota(conn.session!.subscriptions, max, subscription.topicFilter)) {
        codes[index] = refused(conn, 'quota', ReasonCode.QuotaExceeded);
        continue;
      }
      const result = store(conn, subscription, subscriptionId);
      codes[index] = result.record.qos;
      stored.push({ ...result, index });
    }
    // With a persistent store, SUBACK waits for the commit holding the subscriptions.
    const committed = stored.length > 0 ? conn.services.turn.barrier() : undefined;
    if (committed === undefined) {
      answer(conn, packet, codes, stored, true);
      return undefined;
    }
    return committed.then((ok) => answer(conn, packet, codes, stored, ok));
  };
  if (pending.length === 0) return finish();
  return Promise.all(pending).then(finish);
}

/**
 * SUBACK, then the retained messages matching the new subscriptions. When the commit failed, the new
 * subscriptions are taken back and refused (v5 0x97 Quota exceeded, v3 0x80).
 */
function answer(
  conn: ProtocolPeer,
  packet: SubscribePacket,
  codes: number[],
  stored: readonly StoredFilter[],
  committed: boolean,
): void {
  const services = conn.services;
  if (!committed) {
    for (const { record, index } of stored) {
      if (conn.session?.subscriptions.get(record.key) === record) services.subscriptions.remove(record);
      codes[index] = refused(conn, 'store-unavailable', ReasonCode.QuotaExceeded);
    }
  }
  const v3 = conn.protocolVersion !== 5;
  // compatUnspecifiedSubscribeError: a v5 refusal by the ACL or a hook says 0x80 rather than 0x87.
  const reasonCodes = v3
    ? codes.map((c) => (c >= 0x80 ? V3_FAILURE : c))
    : services.options.compatUnspecifiedSubscribeError
      ? codes.map((c) => (c === ReasonCode.NotAuthorized ? ReasonCode.UnspecifiedError : c))
      : codes;
  conn.send({ type: 'suback', packetId: packet.packetId, reasonCodes });
  for (const hook of services.hooks.on.onSubscribed)
    hook.onSubscribed(conn, packet.subscriptions, reasonCodes);
  if (!committed) return;
  for (const { record, existed } of stored) {
    // [MQTT-3.3.1-9] [MQTT-3.3.1-10] [MQTT-3.3.1-11] Retain Handling 0: send; 1: only if new; 2: never.
    // (spec 4.8.2, no statement id) Retained messages are not sent for shared subscriptions.
    const rh = record.retainHandling;
    if (record.shareGroup === undefined && (rh === 0 || (rh === 1 && !existed)))
      services.router.deliverRetained(record);
  }
}

/** The refusal code for a filter the broker cannot accept, or undefined when it is acceptable. */
function checkFilter(conn: ProtocolPeer, requested: Subscription): number | undefined {
  const options = conn.services.options;
  const filter = requested.topicFilter;
  // [MQTT-4.7.1-1] [MQTT-4.7.1-2] [MQTT-4.7.3-1] Malformed filters are refused with 0x8F (v3: 0x80).
  if (!isValidTopicFilter(filter)) return refused(conn, 'invalid-filter', ReasonCode.TopicFilterInvalid);
  const shared = parseSharedFilter(filter);
  if (shared !== undefined) {
    if (!options.sharedSubscriptionAvailable)
      return refused(conn, 'not-supported', ReasonCode.SharedSubscriptionsNotSupported);
    // [MQTT-3.8.3-4] No Local on a shared subscription is a Protocol Error.
    if (requested.noLocal === true) throw MqttError.protocol('no local on a shared subscription');
  }
  const plain = shared === undefined ? filter : shared.filter;
  // Deeper than maxTopicLevels: refused (a server limit, as Mosquitto's past 200 levels).
  if (hasMoreLevelsThan(plain, options.maxTopicLevels))
    return refused(conn, 'topic-levels', ReasonCode.TopicFilterInvalid);
  if (!options.wildcardSubscriptionAvailable && (plain.includes('+') || plain.includes('#'))) {
    return refused(conn, 'not-supported', ReasonCode.WildcardSubscriptionsNotSupported);
  }
  return undefined;
}

/** A new filter (not one held, which it would replace) would take the session past `max` subscriptions. */
function overQuota(held: ReadonlyMap<string, unknown>, max: number, filter: string): boolean {
  return held.size >= max && !held.has(filter);
}

/** Count a refused filter by `reason`; returns its SUBACK `code`. */
function refused(conn: ProtocolPeer, reason: SubscribeRefuseReason, code: number): number {
  conn.services.stats.subscribeRefused[reason]++;
  return code;
}

/** Subscribe hooks (chain, stop on reject) then the ACL read check. */
function decide(
  conn: ProtocolPeer,
  requested: Subscription,
): number | Subscription | Promise<number | Subscription> {
  const hooks = conn.services.hooks.on.onSubscribe;
  const afterHooks = (subscription: Subscription): number | Subscription | Promise<number | Subscription> => {
    const shared = parseSharedFilter(subscription.topicFilter);
    const topic = shared === undefined ? subscription.topicFilter : shared.filter;
    const allowed = conn.services.access.authorize(conn, topic, 'read');
    if (allowed === true) return subscription;
    if (allowed === false) return refused(conn, 'not-authorized', ReasonCode.NotAuthorized);
    return allowed.then((ok) =>
      ok ? subscription : refused(conn, 'not-authorized', ReasonCode.NotAuthorized),
    );
  };
  if (hooks.length === 0) return afterHooks(requested);
  const step = (
    subscription: Subscription,
    from: number,
  ): number | Subscription | Promise<number | Subscription> => {
    for (let i = from; i < hooks.length; i++) {
      const verdict = (hooks[i] as (typeof hooks)[number]).onSubscribe(conn, subscription);
      if (verdict instanceof Promise) {
        return verdict.then((v) =>
          v.action === 'reject'
            ? refused(conn, 'hook', v.reasonCode)
            : step(v.subscription ?? subscription, i + 1),
        );
      }
      const v: SubscribeVerdict = verdict;
      if (v.action === 'reject') return refused(conn, 'hook', v.reasonCode);
      subscription = v.subscription ?? subscription;
    }
    return afterHooks(subscription);
  };
  return step(requested, 0);
}

function store(
  conn: ProtocolPeer,
  subscription: Subscription,
  subscriptionId: number | undefined,
): { record: SessionSubscription; existed: boolean } {
  const services = conn.services;
  const session = conn.session!;
  const granted = Math.min(subscription.qos, services.options.maximumQoS) as QoS;
  // [MQTT-3.8.4-3] A subscription with the same filter replaces the existing one (retained messages aside).
  const record = SubscriptionRecord.forKey(
    session,
    subscription.topicFilter,
    granted,
    subscription.noLocal === true,
    subscription.retainAsPublished === true,
    subscription.retainHandling ?? 0,
    subscriptionId,
  );
  const existed = services.subscriptions.add(record);
  return { record, existed };
}

/** UNSUBSCRIBE: remove each filter; UNSUBACK with 0x00 or 0x11 No subscription existed per filter (v5). */
export function handleUnsubscribe(conn: ProtocolPeer, packet: UnsubscribePacket): void {
  const session = conn.session!;
  const reasonCodes = packet.topicFilters.map((filter) => {
    const record = session.subscriptions.get(filter);
    if (record === undefined) return ReasonCode.NoSubscriptionExisted;
    conn.services.subscriptions.remove(record);
    return ReasonCode.Success;
  });
  // [MQTT-3.10.4-4] [MQTT-3.10.4-5] UNSUBACK is sent even when no filter matched.
  conn.send(
    conn.protocolVersion === 5
      ? { type: 'unsuback', packetId: packet.packetId, reasonCodes }
      : { type: 'unsuback', packetId: packet.packetId },
  );
  const hooks = conn.services.hooks.on.onUnsubscribed;
  for (const hook of hooks) hook.onUnsubscribed(conn, packet.topicFilters);
}
