import { encodePublish } from '../packets/index.js';
import type { Properties, ProtocolVersionNumber, PublishPacket, QoS } from '../packets/types.js';
import type { HookRegistry } from './hook-registry.js';
import type { ClientInfo, DropReason } from './hooks.js';
import { type Message, remainingExpirySeconds } from './message.js';
import { COPY_LIMIT, type OutboundWriter } from './outbound-writer.js';
import type { AliasUse, SharedPublishHeaders } from './shared-header.js';

/** A connection as the PUBLISH writer sees it. */
export interface PublishTarget extends ClientInfo {
  readonly protocolVersion: ProtocolVersionNumber;
  readonly writer: OutboundWriter;
  readonly clientMaximumPacketSize: number;
  readonly clientTopicAliasMaximum: number;
  /** Outbound topic aliases assigned so far (v5): topic -> alias. */
  outboundAliases: Map<string, number> | undefined;
}

/**
 * Write one PUBLISH for one subscriber into its writer. Messages that need nothing per subscriber share
 * the fan-out's header (the packet id patched in); per-subscriber properties (expiry left, subscription ids,
 * a topic alias) or encode hooks take a packet of their own. Returns why it was not written, or undefined.
 */
export function writePublish(
  target: PublishTarget,
  hooks: HookRegistry,
  message: Message,
  qos: QoS,
  retain: boolean,
  subscriptionIds: readonly number[] | undefined,
  packetId: number,
  dup: boolean,
  headers: SharedPublishHeaders,
): DropReason | undefined {
  const v5 = target.protocolVersion === 5;
  if (hooks.on.onPacketEncode.length > 0)
    return writeOwnPacket(target, hooks, message, qos, retain, subscriptionIds, packetId, dup);
  if (
    v5 &&
    (message.properties !== undefined ||
      message.expiresAt !== undefined ||
      subscriptionIds !== undefined ||
      target.clientTopicAliasMaximum > 0)
  ) {
    return writeSharedV5(target, hooks, message, qos, retain, subscriptionIds, packetId, dup, headers);
  }
  const header = headers.get(message, v5, qos, retain, dup);
  const packetIdAt = qos > 0 ? header.length - (v5 ? 3 : 2) : -1;
  // [MQTT-3.1.2-25] A packet larger than the client's Maximum Packet Size is not sent to it.
  if (header.length + message.payload.length > target.clientMaximumPacketSize) return 'packet-too-large';
  // A header too large to be staged would go out by reference and could not be patched: encode a copy.
  if (packetIdAt >= 0 && header.length >= COPY_LIMIT) {
    return writeOwnPacket(target, hooks, message, qos, retain, subscriptionIds, packetId, dup);
  }
  appendShared(target.writer, header, packetIdAt, packetId, -1, 0, message.payload);
  return undefined;
}

/**
 * A v5 subscriber whose PUBLISH carries something of its own (the expiry left, subscription ids, a topic
 * alias) or the message's properties: the header is still shared by every subscriber of the same shape, with
 * the packet id and the alias patched in.
 */
function writeSharedV5(
  target: PublishTarget,
  hooks: HookRegistry,
  message: Message,
  qos: QoS,
  retain: boolean,
  subscriptionIds: readonly number[] | undefined,
  packetId: number,
  dup: boolean,
  headers: SharedPublishHeaders,
): DropReason | undefined {
  const { use, alias } = topicAlias(target, message.topic);
  // [MQTT-3.3.2-6] The Message Expiry Interval sent on is the time left.
  const left = remainingExpirySeconds(message, Date.now());
  // [MQTT-3.3.4-3] Every matching subscription's identifier goes with the message.
  const shape = headers.getV5(message, qos, retain, dup, subscriptionIds, use, left);
  const header = shape.header;
  const tooLarge = header.length + message.payload.length > target.clientMaximumPacketSize;
  if (tooLarge || header.length >= COPY_LIMIT) {
    // The alias this PUBLISH was to set is not set by it.
    if (use === 'set') target.outboundAliases?.delete(message.topic);
    if (tooLarge) return 'packet-too-large';
    return writeOwnPacket(target, hooks, message, qos, retain, subscriptionIds, packetId, dup);
  }
  appendShared(target.writer, header, shape.packetIdAt, packetId, shape.aliasAt, alias, message.payload);
  return undefined;
}

/** Stage a shared header with this subscriber's packet id (and topic alias) patched in, then the payload. */
function appendShared(
  writer: OutboundWriter,
  header: Buffer,
  packetIdAt: number,
  packetId: number,
  aliasAt: number,
  alias: number,
  payload: Buffer,
): void {
  const at = writer.append(header);
  if (packetIdAt >= 0) writer.patchUint16(at + packetIdAt, packetId);
  if (aliasAt >= 0) writer.patchUint16(at + aliasAt, alias);
  if (payload.length > 0) writer.append(payload);
}

function writeOwnPacket(
  target: PublishTarget,
  hooks: HookRegistry,
  message: Message,
  qos: QoS,
  retain: boolean,
  subscriptionIds: readonly number[] | undefined,
  packetId: number,
  dup: boolean,
): DropReason | undefined {
  let properties: Properties | undefined;
  if (target.protocolVersion === 5) {
    properties = message.properties === undefined ? {} : { ...message.properties };
    // [MQTT-3.3.2-6] The Message Expiry Interval sent on is the time left.
    const remaining = remainingExpirySeconds(message, Date.now());
    if (remaining !== undefined) properties.messageExpiryInterval = remaining;
    // [MQTT-3.3.4-3] Every matching subscription's identifier goes with the message.
    if (subscriptionIds !== undefined) properties.subscriptionIdentifiers = [...subscriptionIds];
  }
  let topic = message.topic;
  let assignedAlias = false;
  if (properties !== undefined) {
    const { use, alias } = topicAlias(target, topic);
    if (use !== 'none') properties.topicAlias = alias;
    if (use === 'use') topic = '';
    assignedAlias = use === 'set';
  }
  if (properties !== undefined && Object.keys(properties).length === 0) properties = undefined;
  let packet: PublishPacket = { type: 'publish', topic, payload: message.payload, qos, retain, dup };
  if (qos > 0) packet.packetId = packetId;
  if (properties !== undefined) packet.properties = properties;
  for (const hook of hooks.on.onPacketEncode) {
    let changed: ReturnType<typeof hook.onPacketEncode>;
    try {
      changed = hook.onPacketEncode(target, packet);
    } catch (err) {
      // A broken encode hook costs this subscriber its copy, never the publisher or the other subscribers.
      hooks.reportError(err, 'onPacketEncode');
      return 'encode-hook';
    }
    if (changed === undefined || changed.type !== 'publish') return 'encode-hook';
    packet = changed;
  }
  const encoded = encodePublish(packet, target.protocolVersion);
  if (encoded.header.length + encoded.payload.length > target.clientMaximumPacketSize) {
    if (assignedAlias) target.outboundAliases?.delete(message.topic);
    return 'packet-too-large';
  }
  target.writer.append(encoded.header);
  if (encoded.payload.length > 0) target.writer.append(encoded.payload);
  return undefined;
}

/** The topic alias a v5 subscriber gets for `topic`: one it has, a new one while there is room, or none. */
function topicAlias(target: PublishTarget, topic: string): { use: AliasUse; alias: number } {
  if (target.clientTopicAliasMaximum === 0) return { use: 'none', alias: 0 };
  target.outboundAliases ??= new Map();
  const aliases = target.outboundAliases;
  const known = aliases.get(topic);
  if (known !== undefined) return { use: 'use', alias: known };
  // [MQTT-3.3.2-11] [MQTT-3.1.2-26] Aliases the broker assigns never exceed the client's Topic Alias Maximum.
  if (aliases.size >= target.clientTopicAliasMaximum) return { use: 'none', alias: 0 };
  const alias = aliases.size + 1;
  aliases.set(topic, alias);
  return { use: 'set', alias };
}
