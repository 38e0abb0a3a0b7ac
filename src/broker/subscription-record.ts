/** The broker's record of one subscription: the session's entry and the topic index's in one object. */
import { parseSharedFilter } from '../packets/topic.js';
import type { QoS } from '../packets/types.js';
import type { Session, SessionSubscription } from './session.js';
import type { SubscriberEntry } from './topic-node.js';

/**
 * The broker's SessionSubscription: QoS and the three option fields packed in one small integer, and the
 * record is its own entry in the topic index (`clientId`, `value`, `mutedAt`), so a subscription costs one
 * object of 80 bytes where a record and an index entry took 136.
 */
export class SubscriptionRecord implements SessionSubscription, SubscriberEntry<SessionSubscription> {
  /** QoS (bits 0-1), No Local (2), Retain As Published (3), Retain Handling (4-5). */
  private options: number;
  /** While muted: the node's `mutedMatches` when it was muted (see TopicIndex.mute). */
  mutedAt: number | undefined = undefined;

  constructor(
    readonly session: Session,
    readonly key: string,
    readonly filter: string,
    readonly shareGroup: string | undefined,
    qos: QoS,
    noLocal: boolean,
    retainAsPublished: boolean,
    retainHandling: 0 | 1 | 2,
    public subscriptionId: number | undefined,
  ) {
    this.options = qos | (noLocal ? 4 : 0) | (retainAsPublished ? 8 : 0) | (retainHandling << 4);
  }

  /** The record for `key`, the filter as the client sent it (`$share/{group}/{filter}` names a group). */
  static forKey(
    session: Session,
    key: string,
    qos: QoS,
    noLocal: boolean,
    retainAsPublished: boolean,
    retainHandling: 0 | 1 | 2,
    subscriptionId: number | undefined,
  ): SubscriptionRecord {
    const shared = parseSharedFilter(key);
    return new SubscriptionRecord(
      session,
      key,
      shared === undefined ? key : shared.filter,
      shared?.group,
      qos,
      noLocal,
      retainAsPublished,
      retainHandling,
      subscriptionId,
    );
  }

  get qos(): QoS {
    return (this.options & 3) as QoS;
  }
  set qos(qos: QoS) {
    this.options = (this.options & ~3) | qos;
  }
  get noLocal(): boolean {
    return (this.options & 4) !== 0;
  }
  set noLocal(on: boolean) {
    this.options = on ? this.options | 4 : this.options & ~4;
  }
  get retainAsPublished(): boolean {
    return (this.options & 8) !== 0;
  }
  set retainAsPublished(on: boolean) {
    this.options = on ? this.options | 8 : this.options & ~8;
  }
  get retainHandling(): 0 | 1 | 2 {
    return ((this.options >> 4) & 3) as 0 | 1 | 2;
  }
  set retainHandling(handling: 0 | 1 | 2) {
    this.options = (this.options & ~0x30) | (handling << 4);
  }
  /** As an index entry: the subscribing client. */
  get clientId(): string {
    return this.session.clientId;
  }
  /** As an index entry: what the index stores, the record itself. */
  get value(): SessionSubscription {
    return this;
  }
}
