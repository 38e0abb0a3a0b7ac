/** Encoding of the subscription packets: SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK (see `encode.ts`). */
import { MqttError } from './errors.js';
import { allocPacket, bodyOffset } from './fixed-header.js';
import { utf8Length, writeUint16, writeUtf8 } from './primitives.js';
import { propertiesLength, propertiesSize, writeProperties } from './properties.js';
import type {
  ProtocolVersionNumber,
  SubackPacket,
  SubscribePacket,
  UnsubackPacket,
  UnsubscribePacket,
} from './types.js';
import { checkByte, checkPacketIdToEncode, checkQoSToEncode, checkReasonCode } from './validate.js';

export function encodeSubscribe(packet: SubscribePacket, version: ProtocolVersionNumber): Buffer {
  const packetId = checkPacketIdToEncode(packet.packetId, 'SUBSCRIBE');
  const { subscriptions } = packet;
  if (subscriptions.length === 0) throw MqttError.protocol('SUBSCRIBE needs a topic filter'); // [MQTT-3.8.3-2]
  let length = 2;
  let propsLength = 0;
  if (version === 5) {
    propsLength = propertiesLength(packet.properties, 'subscribe');
    length += propertiesSize(propsLength);
  }
  for (const sub of subscriptions) {
    checkQoSToEncode(sub.qos, 'subscription QoS');
    const retainHandling = sub.retainHandling ?? 0;
    if (retainHandling !== 0 && retainHandling !== 1 && retainHandling !== 2) {
      throw MqttError.protocol(`retain handling must be 0, 1 or 2, got ${String(retainHandling)}`);
    }
    length += 3 + utf8Length(sub.topicFilter, 'topic filter');
  }
  const buf = allocPacket(0x82, length);
  let offset = writeUint16(buf, bodyOffset(length), packetId);
  if (version === 5) offset = writeProperties(buf, offset, packet.properties, propsLength);
  for (const sub of subscriptions) {
    offset = writeUtf8(buf, offset, sub.topicFilter);
    let options: number = sub.qos;
    if (version === 5) {
      options |=
        (sub.noLocal ? 0x04 : 0) | (sub.retainAsPublished ? 0x08 : 0) | ((sub.retainHandling ?? 0) << 4);
    }
    buf[offset++] = options;
  }
  return buf;
}

export function encodeSuback(packet: SubackPacket, version: ProtocolVersionNumber): Buffer {
  const packetId = checkPacketIdToEncode(packet.packetId, 'SUBACK');
  const { reasonCodes } = packet;
  let length = 2 + reasonCodes.length;
  let propsLength = 0;
  if (version === 5) {
    propsLength = propertiesLength(packet.properties, 'suback');
    length += propertiesSize(propsLength);
  }
  for (const code of reasonCodes) {
    checkByte(code, 'SUBACK reason code');
    // v3 return codes are written as given (0, 1, 2, 0x80; 0x80 does not exist in 3.1).
    if (version === 5) checkReasonCode('suback', code);
  }
  const buf = allocPacket(0x90, length);
  let offset = writeUint16(buf, bodyOffset(length), packetId);
  if (version === 5) offset = writeProperties(buf, offset, packet.properties, propsLength);
  for (const code of reasonCodes) buf[offset++] = code;
  return buf;
}

export function encodeUnsubscribe(packet: UnsubscribePacket, version: ProtocolVersionNumber): Buffer {
  const packetId = checkPacketIdToEncode(packet.packetId, 'UNSUBSCRIBE');
  const { topicFilters } = packet;
  if (topicFilters.length === 0) throw MqttError.protocol('UNSUBSCRIBE needs a topic filter'); // [MQTT-3.10.3-2]
  let length = 2;
  let propsLength = 0;
  if (version === 5) {
    propsLength = propertiesLength(packet.properties, 'unsubscribe');
    length += propertiesSize(propsLength);
  }
  for (const filter of topicFilters) length += 2 + utf8Length(filter, 'topic filter');
  const buf = allocPacket(0xa2, length);
  let offset = writeUint16(buf, bodyOffset(length), packetId);
  if (version === 5) offset = writeProperties(buf, offset, packet.properties, propsLength);
  for (const filter of topicFilters) offset = writeUtf8(buf, offset, filter);
  return buf;
}

export function encodeUnsuback(packet: UnsubackPacket, version: ProtocolVersionNumber): Buffer {
  const packetId = checkPacketIdToEncode(packet.packetId, 'UNSUBACK');
  if (version < 5) {
    const buf = allocPacket(0xb0, 2);
    writeUint16(buf, 2, packetId);
    return buf;
  }
  const reasonCodes = packet.reasonCodes ?? [];
  for (const code of reasonCodes) {
    checkByte(code, 'UNSUBACK reason code');
    checkReasonCode('unsuback', code);
  }
  const propsLength = propertiesLength(packet.properties, 'unsuback');
  const length = 2 + propertiesSize(propsLength) + reasonCodes.length;
  const buf = allocPacket(0xb0, length);
  let offset = writeUint16(buf, bodyOffset(length), packetId);
  offset = writeProperties(buf, offset, packet.properties, propsLength);
  for (const code of reasonCodes) buf[offset++] = code;
  return buf;
}
