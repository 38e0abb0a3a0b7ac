import { fixedHeaderLength, writeFixedHeader } from '../packets/fixed-header.js';
import { utf8Length, writeUtf8 } from '../packets/primitives.js';
import type { QoS } from '../packets/types.js';
import type { Broker } from './broker.js';
import { deliver } from './delivery.js';
import { isExpired, type Message } from './message.js';
import type { Session, SessionSubscription } from './session.js';
import type { MatchResult } from './topic-index.js';

/**
 * Routing: match a message against the topic index and deliver it once per session (overlapping
 * subscriptions merged without allocating), once per shared group, and the retained messages a new
 * subscription should get. Also the per-message PUBLISH header shared by every subscriber of a fan-out.
 */
export class Router {
  private readonly matchResult: MatchResult<SessionSubscription> = { subscribers: [], shared: [] };
  private readonly routeTargets: Session[] = [];
  private routeEpoch = 0;
  private headerCacheMessage: Message | undefined;
  private readonly headerCache: (Buffer | undefined)[] = new Array(32).fill(undefined);

  constructor(private readonly broker: Broker) {}

  /** Send the retained messages matching a new subscription, RETAIN set. [MQTT-3.3.1-8] */
  deliverRetained(record: SessionSubscription): void {
    const now = Date.now();
    const expired: string[] = [];
    const ids = record.subscriptionId === undefined ? undefined : [record.subscriptionId];
    this.broker.index.matchRetained(record.filter, (topic, message) => {
      if (isExpired(message, now)) {
        expired.push(topic);
        return;
      }
      deliver(this.broker, record.session, message, Math.min(message.qos, record.qos) as QoS, true, ids);
    });
    for (const topic of expired) {
      this.broker.index.setRetained(topic, undefined);
      for (const hook of this.broker.hooks.on.onRetainedExpired) hook.onRetainedExpired(topic);
      for (const hook of this.broker.hooks.on.onRetainedChanged) hook.onRetainedChanged(topic, undefined);
    }
  }

  /**
   * Deliver a message to every matching subscription: one delivery per session at the highest matching
   * QoS, carrying every matching subscription identifier [MQTT-3.3.4-2] [MQTT-3.3.4-3]; one member of each
   * shared group, round-robin among connected members. Returns the number of deliveries.
   */
  route(message: Message): number {
    const result = this.matchResult;
    result.subscribers.length = 0;
    result.shared.length = 0;
    this.broker.index.match(message.topic, result);
    const epoch = ++this.routeEpoch;
    const targets = this.routeTargets;
    targets.length = 0;
    for (const entry of result.subscribers) {
      const sub = entry.value;
      // [MQTT-3.8.3-3] No Local: not sent back to the publisher.
      if (sub.noLocal && message.origin === entry.clientId) continue;
      const session = sub.session;
      if (session.routeEpoch !== epoch) {
        session.routeEpoch = epoch;
        session.routeQos = sub.qos;
        session.routeRetain = sub.retainAsPublished;
        session.routeIds = sub.subscriptionId === undefined ? undefined : [sub.subscriptionId];
        targets.push(session);
      } else {
        if (sub.qos > session.routeQos) session.routeQos = sub.qos;
        if (sub.retainAsPublished) session.routeRetain = true;
        if (sub.subscriptionId !== undefined) {
          if (session.routeIds === undefined) session.routeIds = [sub.subscriptionId];
          else session.routeIds.push(sub.subscriptionId);
        }
      }
    }
    let deliveries = 0;
    for (const session of targets) {
      // [MQTT-3.8.4-8] QoS is the lower of the message's and the subscription's.
      const qos = (message.qos < session.routeQos ? message.qos : session.routeQos) as QoS;
      // [MQTT-3.3.1-12] [MQTT-3.3.1-13] RETAIN is kept only for Retain As Published subscriptions.
      if (
        deliver(this.broker, session, message, qos, session.routeRetain && message.retain, session.routeIds)
      )
        deliveries++;
    }
    for (const group of result.shared) {
      const chosen = pickSharedMember(group.members, group);
      if (chosen === undefined) continue;
      const qos = (message.qos < chosen.qos ? message.qos : chosen.qos) as QoS;
      const ids = chosen.subscriptionId === undefined ? undefined : [chosen.subscriptionId];
      if (deliver(this.broker, chosen.session, message, qos, chosen.retainAsPublished && message.retain, ids))
        deliveries++;
    }
    return deliveries;
  }

  /** A PUBLISH header (fixed header, topic, packet id slot) for a message, cached while it fans out. */
  publishHeader(message: Message, v5: boolean, qos: QoS, retain: boolean, dup: boolean): Buffer {
    if (message !== this.headerCacheMessage) {
      this.headerCacheMessage = message;
      this.headerCache.fill(undefined);
    }
    const key = (v5 ? 16 : 0) | (qos << 2) | (retain ? 2 : 0) | (dup ? 1 : 0);
    let header = this.headerCache[key];
    if (header === undefined) {
      // Every topic routed here was checked on the way in (decoder, will at CONNECT, inline publish), so the
      // shared header is written directly, without encodePublish's packet object, checks and measuring.
      const topic = message.topic;
      const variableLength = 2 + utf8Length(topic, 'topic name') + (qos > 0 ? 2 : 0) + (v5 ? 1 : 0);
      const remainingLength = variableLength + message.payload.length;
      header = Buffer.allocUnsafe(fixedHeaderLength(remainingLength) + variableLength);
      const first = 0x30 | (dup ? 8 : 0) | (qos << 1) | (retain ? 1 : 0);
      let offset = writeUtf8(header, writeFixedHeader(header, first, remainingLength), topic);
      if (qos > 0) {
        // Packet identifier slot, patched per subscriber; 1 as a valid placeholder.
        header[offset++] = 0;
        header[offset++] = 1;
      }
      if (v5) header[offset] = 0; // property length 0
      this.headerCache[key] = header;
    }
    return header;
  }
}

/**
 * The member of a shared group to deliver to: round-robin among connected members from the group's cursor;
 * an offline member's queue only when none is connected (spec 4.8.2, no statement id). One pass, no copy.
 */
function pickSharedMember(
  members: Map<string, SessionSubscription>,
  group: { cursor: number },
): SessionSubscription | undefined {
  const size = members.size;
  if (size === 0) return undefined;
  const start = group.cursor % size;
  let atStart: SessionSubscription | undefined;
  let after: SessionSubscription | undefined;
  let afterIndex = 0;
  let before: SessionSubscription | undefined;
  let beforeIndex = 0;
  let index = 0;
  for (const member of members.values()) {
    if (index === start) atStart = member;
    if (member.session.link !== undefined) {
      if (index >= start) {
        if (after === undefined) {
          after = member;
          afterIndex = index;
        }
      } else if (before === undefined) {
        before = member;
        beforeIndex = index;
      }
    }
    index++;
  }
  if (after !== undefined) {
    group.cursor = (afterIndex + 1) % size;
    return after;
  }
  if (before !== undefined) {
    group.cursor = (beforeIndex + 1) % size;
    return before;
  }
  group.cursor = (start + 1) % size;
  return atStart;
}
