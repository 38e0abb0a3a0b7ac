import type { SubscribeVerdict } from '../hooks/types.js';
import { MqttError } from '../packets/errors.js';
import { isValidTopicFilter, parseSharedFilter } from '../packets/index.js';
import { ReasonCode } from '../packets/reason-codes.js';
import type { QoS, SubscribePacket, Subscription, UnsubscribePacket } from '../packets/types.js';
import type { Connection } from './connection.js';
import type { SessionSubscription } from './session.js';

const V3_FAILURE = 0x80;

/**
 * SUBSCRIBE: each filter is checked, passed through the subscribe hooks and the ACL, and stored or refused
 * on its own; an invalid filter never drops the valid ones. SUBACK carries one code per filter
 * [MQTT-3.8.4-6], then the retained messages matching the new subscriptions are sent.
 */
export function handleSubscribe(conn: Connection, packet: SubscribePacket): Promise<void> | undefined {
  const subscriptionId = packet.properties?.subscriptionIdentifiers?.[0];
  if (subscriptionId !== undefined && !conn.broker.options.subscriptionIdentifiersAvailable) {
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
  const finish = (): void => {
    accepted.sort((a, b) => a.index - b.index);
    const retainedTo: SessionSubscription[] = [];
    for (const { index, subscription } of accepted) {
      const { record, existed } = store(conn, subscription, subscriptionId);
      codes[index] = record.qos;
      // [MQTT-3.3.1-9] [MQTT-3.3.1-10] [MQTT-3.3.1-11] Retain Handling 0: send; 1: only if new; 2: never.
      // (spec 4.8.2, no statement id) Retained messages are not sent for shared subscriptions.
      const rh = record.retainHandling;
      if (record.shareGroup === undefined && (rh === 0 || (rh === 1 && !existed))) retainedTo.push(record);
    }
    const v3 = conn.protocolVersion !== 5;
    // compatUnspecifiedSubscribeError: a v5 refusal by the ACL or a hook says 0x80 rather than 0x87.
    const reasonCodes = v3
      ? codes.map((c) => (c >= 0x80 ? V3_FAILURE : c))
      : conn.broker.options.compatUnspecifiedSubscribeError
        ? codes.map((c) => (c === ReasonCode.NotAuthorized ? ReasonCode.UnspecifiedError : c))
        : codes;
    conn.send({ type: 'suback', packetId: packet.packetId, reasonCodes });
    const subscribed = conn.broker.hooks.on.onSubscribed;
    for (const hook of subscribed) hook.onSubscribed(conn, packet.subscriptions, reasonCodes);
    for (const record of retainedTo) conn.broker.deliverRetained(record);
  };
  if (pending.length === 0) {
    finish();
    return undefined;
  }
  return Promise.all(pending).then(finish);
}

/** The refusal code for a filter the broker cannot accept, or undefined when it is acceptable. */
function checkFilter(conn: Connection, requested: Subscription): number | undefined {
  const options = conn.broker.options;
  const filter = requested.topicFilter;
  // [MQTT-4.7.1-1] [MQTT-4.7.1-2] [MQTT-4.7.3-1] Malformed filters are refused with 0x8F (v3: 0x80).
  if (!isValidTopicFilter(filter)) return ReasonCode.TopicFilterInvalid;
  const shared = parseSharedFilter(filter);
  if (shared !== undefined) {
    if (!options.sharedSubscriptionAvailable) return ReasonCode.SharedSubscriptionsNotSupported;
    // [MQTT-3.8.3-4] No Local on a shared subscription is a Protocol Error.
    if (requested.noLocal === true) throw MqttError.protocol('no local on a shared subscription');
  }
  const plain = shared === undefined ? filter : shared.filter;
  if (!options.wildcardSubscriptionAvailable && (plain.includes('+') || plain.includes('#'))) {
    return ReasonCode.WildcardSubscriptionsNotSupported;
  }
  return undefined;
}

/** Subscribe hooks (chain, stop on reject) then the ACL read check. */
function decide(
  conn: Connection,
  requested: Subscription,
): number | Subscription | Promise<number | Subscription> {
  const hooks = conn.broker.hooks.on.onSubscribe;
  const afterHooks = (subscription: Subscription): number | Subscription | Promise<number | Subscription> => {
    const shared = parseSharedFilter(subscription.topicFilter);
    const topic = shared === undefined ? subscription.topicFilter : shared.filter;
    const allowed = conn.broker.authorize(conn, topic, 'read');
    if (allowed === true) return subscription;
    if (allowed === false) return ReasonCode.NotAuthorized;
    return allowed.then((ok) => (ok ? subscription : ReasonCode.NotAuthorized));
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
          v.action === 'reject' ? v.reasonCode : step(v.subscription ?? subscription, i + 1),
        );
      }
      const v: SubscribeVerdict = verdict;
      if (v.action === 'reject') return v.reasonCode;
      subscription = v.subscription ?? subscription;
    }
    return afterHooks(subscription);
  };
  return step(requested, 0);
}

function store(
  conn: Connection,
  subscription: Subscription,
  subscriptionId: number | undefined,
): { record: SessionSubscription; existed: boolean } {
  const broker = conn.broker;
  const session = conn.session!;
  const key = subscription.topicFilter;
  const shared = parseSharedFilter(key);
  const granted = Math.min(subscription.qos, broker.options.maximumQoS) as QoS;
  const existing = session.subscriptions.get(key);
  // [MQTT-3.8.4-3] A subscription with the same filter replaces the existing one (retained messages aside).
  const record: SessionSubscription = {
    session,
    key,
    filter: shared === undefined ? key : shared.filter,
    shareGroup: shared?.group,
    qos: granted,
    noLocal: subscription.noLocal === true,
    retainAsPublished: subscription.retainAsPublished === true,
    retainHandling: subscription.retainHandling ?? 0,
    subscriptionId,
  };
  broker.addSubscription(record);
  return { record, existed: existing !== undefined };
}

/** UNSUBSCRIBE: remove each filter; UNSUBACK with 0x00 or 0x11 No subscription existed per filter (v5). */
export function handleUnsubscribe(conn: Connection, packet: UnsubscribePacket): void {
  const session = conn.session!;
  const reasonCodes = packet.topicFilters.map((filter) => {
    const record = session.subscriptions.get(filter);
    if (record === undefined) return ReasonCode.NoSubscriptionExisted;
    conn.broker.removeSubscription(record);
    return ReasonCode.Success;
  });
  // [MQTT-3.10.4-4] [MQTT-3.10.4-5] UNSUBACK is sent even when no filter matched.
  conn.send(
    conn.protocolVersion === 5
      ? { type: 'unsuback', packetId: packet.packetId, reasonCodes }
      : { type: 'unsuback', packetId: packet.packetId },
  );
  const hooks = conn.broker.hooks.on.onUnsubscribed;
  for (const hook of hooks) hook.onUnsubscribed(conn, packet.topicFilters);
}
