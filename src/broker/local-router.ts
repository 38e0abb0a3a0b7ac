import type { QoS } from '../packets/types.js';
import type { DurableState } from './durable-state.js';
import type { HookRegistry } from './hook-registry.js';
import { isExpired, type Message } from './message.js';
import type { OutboundQos } from './outbound-qos.js';
import type { RemoteTarget, RetainedMessages, Router } from './routing.js';
import type { Session, SessionSubscription } from './session.js';
import type { BrokerStats } from './stats.js';
import { SubscriptionRecord } from './subscription-record.js';
import { clearList, clearMatch, type MatchResult, TopicIndex } from './topic-index.js';

const NO_SUBSCRIBERS: readonly MatchResult<SessionSubscription>['subscribers'][number][] = [];

/**
 * Routing on this broker: the topic index of subscriptions and retained messages. A message is delivered
 * once per session (overlapping subscriptions merged without allocating) and once per shared group.
 */
export class LocalRouter implements Router, RetainedMessages {
  readonly index = new TopicIndex<SessionSubscription, Message>();
  private readonly matchResult: MatchResult<SessionSubscription> = { subscribers: [], shared: [] };
  private readonly routeTargets: Session[] = [];
  private routeEpoch = 0;
  /** Sessions whose subscriptions are set aside while they do not read. */
  readonly mutedSessions = new Set<Session>();

  constructor(
    private readonly outbound: OutboundQos,
    private readonly hooks: HookRegistry,
    private readonly durable: DurableState,
    private readonly stats: BrokerStats,
  ) {}

  add(record: SessionSubscription): void {
    this.index.subscribe(
      record.session.clientId,
      record.filter,
      record,
      record.shareGroup,
      record instanceof SubscriptionRecord && record.shareGroup === undefined ? record : undefined,
    );
  }

  remove(record: SessionSubscription): void {
    this.index.unsubscribe(record.session.clientId, record.filter, record.shareGroup);
  }

  /**
   * Deliver a message to every matching subscription: one delivery per session at the highest matching
   * QoS, carrying every matching subscription identifier [MQTT-3.3.4-2] [MQTT-3.3.4-3]; one member of each
   * shared group, round-robin among connected members. A message from another node skips the shared groups:
   * the node it was published on chose their member. Returns the number of deliveries.
   */
  route(message: Message, origin: 'local' | 'remote'): number {
    return this.deliverMatching(message, origin === 'local', undefined);
  }

  /**
   * A message another node of a cluster routed here for part of this node's subscribers: the non-shared
   * ones (when `target.subscribers`), one member of each shared group the publishing node chose this node
   * for, and, with `target.sessions`, only those sessions. Returns the number of deliveries.
   */
  routeRemote(message: Message, target: RemoteTarget): number {
    return this.deliverMatching(message, false, target);
  }

  private deliverMatching(message: Message, pickShared: boolean, target: RemoteTarget | undefined): number {
    const result = this.matchResult;
    clearMatch(result);
    this.index.match(message.topic, result);
    const epoch = ++this.routeEpoch;
    const targets = this.routeTargets;
    clearList(targets);
    const only = target?.sessions;
    const subscribers = target === undefined || target.subscribers ? result.subscribers : NO_SUBSCRIBERS;
    for (const entry of subscribers) {
      const sub = entry.value;
      // [MQTT-3.8.3-3] No Local: not sent back to the publisher.
      if (sub.noLocal && message.origin === entry.clientId) continue;
      if (only !== undefined && !only.has(entry.clientId)) continue;
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
    const outbound = this.outbound;
    let deliveries = 0;
    for (const session of targets) {
      // [MQTT-3.8.4-8] QoS is the lower of the message's and the subscription's.
      const qos = (message.qos < session.routeQos ? message.qos : session.routeQos) as QoS;
      // [MQTT-3.3.1-12] [MQTT-3.3.1-13] RETAIN is kept only for Retain As Published subscriptions.
      if (outbound.deliver(session, message, qos, session.routeRetain && message.retain, session.routeIds))
        deliveries++;
      else if (qos === 0 && session.link?.congested() === true) this.mute(session);
    }
    if (!pickShared && (target === undefined || target.shared.length === 0)) return deliveries;
    for (const group of result.shared) {
      // A group is served here when this node publishes, or when the publishing node chose this node for it.
      if (!pickShared && !target?.shared.some((s) => s.group === group.group && s.filter === group.filter))
        continue;
      const chosen = pickSharedMember(group.members, group, only);
      if (chosen !== undefined && this.deliverTo(chosen, message)) deliveries++;
    }
    return deliveries;
  }

  /**
   * A reader that cannot keep up and only ever gets QoS 0 (plain subscriptions at QoS 0): set its
   * subscriptions aside, so a message costs nothing for it, until its socket drains (`unmute`). What it
   * misses meanwhile is counted when it comes back, as QoS 0 dropped for a slow client.
   */
  mute(session: Session): void {
    if (session.muted || session.queuedCount > 0) return;
    for (const record of session.subscriptions.values())
      if (record.qos !== 0 || record.shareGroup !== undefined) return;
    for (const record of session.subscriptions.values()) this.index.mute(session.clientId, record.filter);
    session.muted = true;
    this.mutedSessions.add(session);
  }

  /**
   * QoS 0 messages the readers muted now have missed so far: counted into the stats when each comes back,
   * and added to the figures (`/metrics`, `$SYS`) meanwhile, so a stalled reader's drops show as they happen.
   */
  missedWhileMuted(): number {
    let missed = 0;
    for (const session of this.mutedSessions) {
      for (const record of session.subscriptions.values()) {
        const count = this.index.mutedMissed(session.clientId, record.filter);
        if (count > 0) missed += count;
      }
    }
    return missed;
  }

  /** The reader drained (or goes away): its subscriptions take messages again; what it missed is counted. */
  unmute(session: Session): void {
    if (!session.muted) return;
    session.muted = false;
    this.mutedSessions.delete(session);
    let missed = 0;
    for (const record of session.subscriptions.values()) {
      const count = this.index.unmute(session.clientId, record.filter);
      if (count > 0) missed += count;
    }
    if (missed > 0) {
      session.dropped += missed;
      this.stats.dropped['slow-client'] += missed;
    }
  }

  /** Deliver to one subscription (a shared group's chosen member). */
  deliverTo(record: SessionSubscription, message: Message): boolean {
    const qos = (message.qos < record.qos ? message.qos : record.qos) as QoS;
    const ids = record.subscriptionId === undefined ? undefined : [record.subscriptionId];
    return this.outbound.deliver(
      record.session,
      message,
      qos,
      record.retainAsPublished && message.retain,
      ids,
    );
  }

  /** Send the retained messages matching a new subscription, RETAIN set. [MQTT-3.3.1-9] (3.1.1: [MQTT-3.3.1-8]) */
  deliverRetained(record: SessionSubscription): void {
    const now = Date.now();
    const expired: string[] = [];
    const ids = record.subscriptionId === undefined ? undefined : [record.subscriptionId];
    this.index.matchRetained(record.filter, (topic, message) => {
      if (isExpired(message, now)) {
        expired.push(topic);
        return;
      }
      this.outbound.deliver(record.session, message, Math.min(message.qos, record.qos) as QoS, true, ids);
    });
    for (const topic of expired) {
      this.index.setRetained(topic, undefined);
      for (const hook of this.hooks.on.onRetainedExpired) hook.onRetainedExpired(topic);
      this.durable.retainedChanged(topic, undefined);
    }
  }

  // ---- RetainedMessages ----

  get count(): number {
    return this.index.retainedCount;
  }

  set(topic: string, message: Message | undefined): void {
    this.index.setRetained(topic, message);
  }

  get(topic: string): Message | undefined {
    return this.index.getRetained(topic);
  }

  match(filter: string, visit: (topic: string, message: Message) => void): void {
    this.index.matchRetained(filter, visit);
  }
}

/**
 * The member of a shared group to deliver to: round-robin among connected members from the group's cursor;
 * an offline member's queue only when none is connected (spec 4.8.2, no statement id). One pass, no copy.
 */
function pickSharedMember(
  members: Map<string, SessionSubscription>,
  group: { cursor: number },
  only?: ReadonlySet<string>,
): SessionSubscription | undefined {
  if (only !== undefined) {
    // Restricted to some sessions (a drain of a dead node's inbox): the first of them in the group.
    for (const [clientId, member] of members) if (only.has(clientId)) return member;
    return undefined;
  }
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
