/**
 * Local checks of publish and subscribe requests against the protocol and the server's announced limits,
 * and the SUBSCRIBE / UNSUBSCRIBE packets they become.
 */
import { MqttError } from '../packets/errors.js';
import { ReasonCode } from '../packets/reason-codes.js';
import { isValidTopicFilter } from '../packets/topic.js';
import type {
  Properties,
  ProtocolVersionNumber,
  SubscribePacket,
  Subscription as SubscriptionRequest,
  UnsubscribePacket,
} from '../packets/types.js';
import type { PublishOptions, ServerCapabilities, SubscribeOptions } from './types.js';

/** Why a publish cannot be sent to this server (topic name validity aside), or undefined. */
export function publishProblem(
  capabilities: ServerCapabilities,
  qos: number,
  retain: boolean,
  options: PublishOptions | undefined,
): MqttError | undefined {
  if (qos !== 0 && qos !== 1 && qos !== 2) return MqttError.protocol(`invalid QoS ${qos}`);
  // [MQTT-3.2.2-11] never above the server's Maximum QoS.
  if (qos > capabilities.maximumQoS) {
    return new MqttError(
      ReasonCode.QoSNotSupported,
      `QoS ${qos} exceeds the server's ${capabilities.maximumQoS}`,
    );
  }
  // [MQTT-3.2.2-14] no RETAIN when the server said Retain Available 0.
  if (retain && !capabilities.retainAvailable) {
    return new MqttError(ReasonCode.RetainNotSupported, 'the server does not support retained messages');
  }
  // [MQTT-3.3.1-2] DUP is 0 for QoS 0.
  if (options?.dup === true && qos === 0) return MqttError.protocol('DUP cannot be set on a QoS 0 message');
  const alias = options?.properties?.topicAlias;
  // [MQTT-3.3.2-8] no alias 0; [MQTT-3.2.2-17] none above the server's Topic Alias Maximum.
  if (alias !== undefined && (alias === 0 || alias > capabilities.topicAliasMaximum)) {
    return new MqttError(ReasonCode.TopicAliasInvalid, `topic alias ${alias} not allowed by the server`);
  }
  return undefined;
}

/** Throws MqttError when the filters or options cannot be subscribed on this server. */
export function checkSubscribe(
  filters: readonly string[],
  options: SubscribeOptions,
  capabilities: ServerCapabilities,
  version: ProtocolVersionNumber,
): void {
  // [MQTT-3.8.3-2] (3.1.1: [MQTT-3.8.3-3]) at least one filter.
  if (filters.length === 0) throw MqttError.protocol('SUBSCRIBE needs at least one topic filter');
  for (const f of filters) {
    if (!isValidTopicFilter(f))
      throw new MqttError(ReasonCode.TopicFilterInvalid, `invalid topic filter '${f}'`);
    if (version !== 5) continue;
    const shared = f.startsWith('$share/');
    if (shared && !capabilities.sharedSubscriptionAvailable) {
      throw new MqttError(
        ReasonCode.SharedSubscriptionsNotSupported,
        'the server has no shared subscriptions',
      );
    }
    // [MQTT-3.8.3-4] No Local on a shared subscription is a Protocol Error.
    if (shared && options.noLocal === true)
      throw MqttError.protocol('noLocal cannot be set on a shared subscription');
    if (!capabilities.wildcardSubscriptionAvailable && /[+#]/.test(f)) {
      throw new MqttError(
        ReasonCode.WildcardSubscriptionsNotSupported,
        'the server has no wildcard subscriptions',
      );
    }
  }
  if (
    version === 5 &&
    options.subscriptionIdentifier !== undefined &&
    !capabilities.subscriptionIdentifiersAvailable
  ) {
    throw new MqttError(
      ReasonCode.SubscriptionIdentifiersNotSupported,
      'the server has no subscription identifiers',
    );
  }
}

/** The SUBSCRIBE for `filters` with `options`; the packet identifier is assigned when it is sent. */
export function subscribePacket(
  filters: readonly string[],
  options: SubscribeOptions,
  version: ProtocolVersionNumber,
): SubscribePacket {
  const subscriptions = filters.map((topicFilter) => {
    const request: SubscriptionRequest = { topicFilter, qos: options.qos ?? 0 };
    if (options.noLocal !== undefined) request.noLocal = options.noLocal;
    if (options.retainAsPublished !== undefined) request.retainAsPublished = options.retainAsPublished;
    if (options.retainHandling !== undefined) request.retainHandling = options.retainHandling;
    return request;
  });
  const packet: SubscribePacket = { type: 'subscribe', packetId: 0, subscriptions };
  if (version === 5 && (options.properties !== undefined || options.subscriptionIdentifier !== undefined)) {
    const properties: Properties = { ...options.properties };
    if (options.subscriptionIdentifier !== undefined)
      properties.subscriptionIdentifiers = [options.subscriptionIdentifier];
    packet.properties = properties;
  }
  return packet;
}

/** The UNSUBSCRIBE for `topicFilters`; the packet identifier is assigned when it is sent. */
export function unsubscribePacket(topicFilters: string[]): UnsubscribePacket {
  return { type: 'unsubscribe', packetId: 0, topicFilters };
}
