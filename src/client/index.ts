/**
 * The Starling MQTT client (`starling/client`).
 *
 * ```ts
 * import { connect } from 'starling/client';
 * const client = await connect('mqtt://localhost:1883', { protocolVersion: 5 });
 * const sub = await client.subscribe('sensors/#', { qos: 1 });
 * await client.publish('sensors/1', 'hello', { qos: 1 });
 * for await (const message of sub) console.log(message.topic, message.payload.toString());
 * ```
 */
export { MqttError } from '../packets/errors.js';
export { ReasonCode } from '../packets/reason-codes.js';
export type { Properties, ProtocolVersionNumber, QoS, UserProperty } from '../packets/types.js';
export { Client, connect } from './client.js';
export { DEFAULT_RECONNECT_POLICY, type ReconnectPolicy } from './reconnect.js';
export { Subscription, topicMatches } from './subscription.js';
export type {
  AuthChallenge,
  AuthHandler,
  ClientEvent,
  ClientOptions,
  ClientStatus,
  EndOptions,
  Message,
  PacketDirection,
  PacketObserver,
  PublishOptions,
  ReconnectOptions,
  ServerCapabilities,
  SubscribeOptions,
  WillOptions,
} from './types.js';
