import { MqttError } from '../packets/errors.js';
import { isValidTopicFilter } from '../packets/index.js';
import { ReasonCode } from '../packets/reason-codes.js';
import type { QoS, Subscription } from '../packets/types.js';
import type { EngineServices } from './engine-services.js';
import type { ClientInfo, DropReason } from './hooks.js';
import type { Message } from './message.js';
import { Session } from './session.js';
import type { SessionLink } from './session-link.js';
import { SubscriptionRecord } from './subscription-record.js';

/** How one message reached an inline subscriber. */
export interface InlineDelivery {
  /** The delivery QoS: the lower of the message's and the subscription's. */
  readonly qos: QoS;
  /** RETAIN as a network subscriber would see it (set for retained messages sent on subscribe). */
  readonly retain: boolean;
  readonly subscriptionIds: readonly number[] | undefined;
}

/** Called for each message matching an inline subscription. Exceptions are logged, never passed to the publisher. */
export type InlineHandler = (message: Message, delivery: InlineDelivery) => void;

/** Subscription options of an inline subscriber (v5 semantics; all optional). */
export interface InlineSubscribeOptions {
  /** Highest QoS wanted. Default 2. */
  readonly qos?: QoS;
  readonly retainAsPublished?: boolean;
  /** 0: send retained messages on subscribe (default); 1 and 2: do not (inline subscriptions are always new). */
  readonly retainHandling?: 0 | 1 | 2;
}

/** Removes an inline subscription; calling it again does nothing. */
export type Unsubscribe = () => void;

/** The client identity hooks see for the inline client. */
export const INLINE_CLIENT_ID = '$inline';

/**
 * The in-process end of one inline subscription: a SessionLink whose `sendPublish` calls the handler. The
 * QoS 1/2 flows go through the same state machine as a network client's, acknowledged on the next
 * microtask (after the state machine registered the flow), so the inflight window never fills.
 */
export class InlineLink implements SessionLink, ClientInfo {
  readonly kind = 'inline';
  readonly clientId = INLINE_CLIENT_ID;
  readonly username = undefined;
  readonly protocolVersion = 5;
  readonly remoteAddress = undefined;
  readonly remotePort = undefined;
  readonly listener = 'inline';
  readonly inline = true;
  readonly sendQuota = 65_535;

  constructor(
    private readonly services: EngineServices,
    readonly session: Session,
    private readonly handler: InlineHandler,
  ) {}

  congested(): boolean {
    return false;
  }

  backlogBytes(): number {
    return 0;
  }

  sendPublish(
    message: Message,
    qos: QoS,
    retain: boolean,
    subscriptionIds: readonly number[] | undefined,
    packetId: number,
  ): DropReason | undefined {
    try {
      this.handler(message, { qos, retain, subscriptionIds });
    } catch (err) {
      this.services.logger.error({ err, topic: message.topic }, 'inline subscriber threw');
    }
    if (qos === 1) queueMicrotask(() => this.services.outbound.puback(this.session, packetId));
    else if (qos === 2) queueMicrotask(() => this.acknowledgeQos2(packetId));
    return undefined;
  }

  sendPubrel(packetId: number): void {
    queueMicrotask(() => this.services.outbound.pubcomp(this.session, packetId));
  }

  /** An inline subscription ends when its `Unsubscribe` is called; nothing to disconnect. */
  disconnect(): void {}

  private acknowledgeQos2(packetId: number): void {
    const outbound = this.services.outbound;
    if (outbound.pubrec(this.session, packetId, 0) === 'release') outbound.pubcomp(this.session, packetId);
  }
}

let nextInlineSession = 1;

/**
 * Subscribe in-process: the subscribe hooks run as for a network client (and may change options or refuse,
 * which rejects with an MqttError carrying the reason code); the ACL is bypassed; retained messages matching
 * the filter are delivered before the promise resolves.
 */
export async function subscribeInline(
  services: EngineServices,
  filter: string,
  handler: InlineHandler,
  options: InlineSubscribeOptions = {},
): Promise<Unsubscribe> {
  // [MQTT-4.7.1-1] [MQTT-4.7.1-2] [MQTT-4.7.3-1] Same filter rules as network subscribers.
  if (!isValidTopicFilter(filter))
    throw new MqttError(ReasonCode.TopicFilterInvalid, `invalid topic filter '${filter}'`);
  // Each inline subscription has a session of its own, so equal filters with different handlers coexist.
  const session = new Session(`${INLINE_CLIENT_ID}/${nextInlineSession++}`);
  session.inline = true;
  const link = new InlineLink(services, session, handler);
  session.link = link;
  let subscription: Subscription = {
    topicFilter: filter,
    qos: options.qos ?? 2,
    retainAsPublished: options.retainAsPublished ?? false,
    retainHandling: options.retainHandling ?? 0,
  };
  for (const hook of services.hooks.on.onSubscribe) {
    const verdict = await hook.onSubscribe(link, subscription);
    if (verdict.action === 'reject') {
      throw new MqttError(verdict.reasonCode, `subscription to '${filter}' refused by a hook`);
    }
    subscription = verdict.subscription ?? subscription;
  }
  const record = SubscriptionRecord.forKey(
    session,
    subscription.topicFilter,
    Math.min(subscription.qos, services.options.maximumQoS) as QoS,
    false,
    subscription.retainAsPublished === true,
    subscription.retainHandling ?? 0,
    undefined,
  );
  services.subscriptions.add(record);
  for (const hook of services.hooks.on.onSubscribed) hook.onSubscribed(link, [subscription], [record.qos]);
  // [MQTT-3.3.1-9] Retain Handling 0 sends the retained messages; shared subscriptions get none.
  if (record.shareGroup === undefined && record.retainHandling === 0) services.router.deliverRetained(record);
  let active = true;
  return () => {
    if (!active) return;
    active = false;
    services.subscriptions.remove(record);
    session.link = undefined;
    session.reset();
    for (const hook of services.hooks.on.onUnsubscribed) hook.onUnsubscribed(link, [record.key]);
  };
}
