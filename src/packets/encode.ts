/**
 * Encoding: every encoder measures the packet first, allocates one Buffer of the exact size and
 * writes into it. Fields that do not exist in the target version (v5 properties and reason codes
 * when encoding for 3.1 / 3.1.1) are ignored.
 */

import { encodeSuback, encodeSubscribe, encodeUnsuback, encodeUnsubscribe } from './encode-subscribe.js';
import { MqttError } from './errors.js';
import { allocPacket, bodyOffset, fixedHeaderLength, writeFixedHeader } from './fixed-header.js';
import { binaryLength, utf8Length, writeBinary, writeUint16, writeUtf8 } from './primitives.js';
import { propertiesLength, propertiesSize, writeProperties } from './properties.js';
import { ReasonCode } from './reason-codes.js';
import type {
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  Packet,
  Properties,
  ProtocolVersionNumber,
  PublishPacket,
} from './types.js';
import {
  checkByte,
  checkPacketIdToEncode,
  checkQoSToEncode,
  checkReasonCode,
  type ReasonCodePacket,
} from './validate.js';

/** A PUBLISH split into its header bytes and its payload, which is the caller's Buffer (not copied). */
export interface EncodedPublish {
  /** Fixed header, topic, packet identifier and properties. */
  header: Buffer;
  /** The packet's payload, by reference. */
  payload: Buffer;
}

/**
 * Encode a whole packet for a protocol version (3, 4 or 5) into one Buffer.
 * Throws MqttError on a packet that cannot be encoded validly.
 */
export function encode(packet: Packet, version: ProtocolVersionNumber): Buffer {
  switch (packet.type) {
    case 'publish':
      return encodePublishWhole(packet, version);
    case 'connect':
      return encodeConnect(packet, version);
    case 'connack':
      return encodeConnack(packet, version);
    case 'puback':
      return encodeAck(0x40, 'puback', packet.packetId, packet.reasonCode, packet.properties, version);
    case 'pubrec':
      return encodeAck(0x50, 'pubrec', packet.packetId, packet.reasonCode, packet.properties, version);
    case 'pubrel':
      return encodeAck(0x62, 'pubrel', packet.packetId, packet.reasonCode, packet.properties, version);
    case 'pubcomp':
      return encodeAck(0x70, 'pubcomp', packet.packetId, packet.reasonCode, packet.properties, version);
    case 'subscribe':
      return encodeSubscribe(packet, version);
    case 'suback':
      return encodeSuback(packet, version);
    case 'unsubscribe':
      return encodeUnsubscribe(packet, version);
    case 'unsuback':
      return encodeUnsuback(packet, version);
    case 'pingreq':
      return allocPacket(0xc0, 0);
    case 'pingresp':
      return allocPacket(0xd0, 0);
    case 'disconnect':
      return encodeDisconnectOrAuth(0xe0, packet, version);
    case 'auth':
      if (version < 5) throw MqttError.protocol('AUTH does not exist before MQTT 5');
      return encodeDisconnectOrAuth(0xf0, packet, version);
    default:
      throw MqttError.malformed(`unknown packet type ${String((packet as { type: unknown }).type)}`);
  }
}

/**
 * Length of the variable header of a PUBLISH, validating the packet. The property list length it
 * computed is left in `measuredPropsLength` for writePublishHeader, which always runs right after
 * (encoding is synchronous), so the properties are measured only once.
 */
let measuredPropsLength = 0;

function measurePublish(packet: PublishPacket, version: ProtocolVersionNumber): number {
  const { qos, topic, properties } = packet;
  checkQoSToEncode(qos, 'PUBLISH QoS');
  if (qos === 0 && packet.dup) throw MqttError.malformed('PUBLISH with QoS 0 must not set DUP'); // [MQTT-3.3.1-2]
  const topicLength = utf8Length(topic, 'topic name');
  if (topicLength === 0) {
    // [MQTT-4.7.3-1]; v5 allows an empty topic only with a Topic Alias (3.3.2.3.4).
    if (version < 5) throw new MqttError(ReasonCode.TopicNameInvalid, 'empty topic name');
    if (properties?.topicAlias === undefined)
      throw MqttError.protocol('empty topic name without a topic alias');
  } else if (topic.includes('+') || topic.includes('#')) {
    throw new MqttError(ReasonCode.TopicNameInvalid, `topic name with wildcard: ${topic}`); // [MQTT-3.3.2-2]
  }
  let length = 2 + topicLength;
  if (qos > 0) {
    checkPacketIdToEncode(packet.packetId, 'PUBLISH');
    length += 2;
  }
  if (version === 5) {
    measuredPropsLength = properties === undefined ? 0 : propertiesLength(properties, 'publish');
    length += propertiesSize(measuredPropsLength);
  }
  return length;
}

/** Write the fixed header and variable header of a PUBLISH measured by measurePublish; returns the offset after them. */
function writePublishHeader(
  buf: Buffer,
  packet: PublishPacket,
  version: ProtocolVersionNumber,
  remainingLength: number,
): number {
  const qos = packet.qos;
  let offset = writeFixedHeader(
    buf,
    0x30 | (packet.dup ? 8 : 0) | (qos << 1) | (packet.retain ? 1 : 0),
    remainingLength,
  );
  offset = writeUtf8(buf, offset, packet.topic);
  if (qos > 0) offset = writeUint16(buf, offset, packet.packetId!);
  if (version === 5) {
    if (measuredPropsLength === 0) buf[offset++] = 0;
    else offset = writeProperties(buf, offset, packet.properties, measuredPropsLength);
  }
  return offset;
}

/**
 * Encode a PUBLISH as its header (fixed header, topic, packet identifier, properties) and its payload
 * by reference, so a payload fanned out to many subscribers is never copied.
 */
export function encodePublish(packet: PublishPacket, version: ProtocolVersionNumber): EncodedPublish {
  const variableLength = measurePublish(packet, version);
  const payload = packet.payload;
  const remainingLength = variableLength + payload.length;
  const header = Buffer.allocUnsafe(fixedHeaderLength(remainingLength) + variableLength);
  writePublishHeader(header, packet, version, remainingLength);
  return { header, payload };
}

/** A whole PUBLISH in one buffer: header written in place, payload copied after it. */
function encodePublishWhole(packet: PublishPacket, version: ProtocolVersionNumber): Buffer {
  const variableLength = measurePublish(packet, version);
  const payload = packet.payload;
  const remainingLength = variableLength + payload.length;
  const buf = Buffer.allocUnsafe(fixedHeaderLength(remainingLength) + remainingLength);
  const offset = writePublishHeader(buf, packet, version, remainingLength);
  buf.set(payload, offset);
  return buf;
}

function encodeConnect(packet: ConnectPacket, version: ProtocolVersionNumber): Buffer {
  if (packet.protocolVersion !== version) {
    throw MqttError.protocol(`CONNECT level ${packet.protocolVersion} encoded for version ${version}`);
  }
  const { will, username, password } = packet;
  const keepalive = packet.keepalive;
  if (!Number.isInteger(keepalive) || keepalive < 0 || keepalive > 0xffff) {
    throw MqttError.malformed(`keep alive must be in 0..65535, got ${keepalive}`);
  }
  if (password !== undefined && username === undefined && version < 5) {
    throw MqttError.malformed('a password needs a user name before MQTT 5'); // 3.1.1 [MQTT-3.1.2-22]
  }
  let length = 2 + utf8Length(packet.protocolName, 'protocol name') + 4;
  let propsLength = 0;
  if (version === 5) {
    propsLength = propertiesLength(packet.properties, 'connect');
    length += propertiesSize(propsLength);
  }
  length += 2 + utf8Length(packet.clientId, 'client identifier');
  let flags = packet.clean ? 0x02 : 0;
  let willPropsLength = 0;
  if (will !== undefined) {
    checkQoSToEncode(will.qos, 'will QoS');
    flags |= 0x04 | (will.qos << 3) | (will.retain ? 0x20 : 0);
    if (version === 5) {
      willPropsLength = propertiesLength(will.properties, 'will');
      length += propertiesSize(willPropsLength);
    }
    length += 2 + utf8Length(will.topic, 'will topic') + 2 + binaryLength(will.payload, 'will payload');
  }
  if (username !== undefined) {
    flags |= 0x80;
    length += 2 + utf8Length(username, 'user name');
  }
  if (password !== undefined) {
    flags |= 0x40;
    length += 2 + binaryLength(password, 'password');
  }
  const buf = allocPacket(0x10, length);
  let offset = bodyOffset(length);
  offset = writeUtf8(buf, offset, packet.protocolName);
  buf[offset++] = packet.protocolVersion;
  buf[offset++] = flags;
  offset = writeUint16(buf, offset, keepalive);
  if (version === 5) offset = writeProperties(buf, offset, packet.properties, propsLength);
  offset = writeUtf8(buf, offset, packet.clientId);
  if (will !== undefined) {
    if (version === 5) offset = writeProperties(buf, offset, will.properties, willPropsLength);
    offset = writeUtf8(buf, offset, will.topic);
    offset = writeBinary(buf, offset, will.payload);
  }
  if (username !== undefined) offset = writeUtf8(buf, offset, username);
  if (password !== undefined) writeBinary(buf, offset, password);
  return buf;
}

function encodeConnack(packet: ConnackPacket, version: ProtocolVersionNumber): Buffer {
  const reasonCode = packet.reasonCode;
  checkByte(reasonCode, 'CONNACK reason code');
  // v3 return codes are written as given: the caller maps v5 codes with toV3ConnackCode.
  if (version < 5) {
    const buf = allocPacket(0x20, 2);
    buf[2] = packet.sessionPresent ? 1 : 0;
    buf[3] = reasonCode;
    return buf;
  }
  checkReasonCode('connack', reasonCode);
  const propsLength = propertiesLength(packet.properties, 'connack');
  const length = 2 + propertiesSize(propsLength);
  const buf = allocPacket(0x20, length);
  let offset = bodyOffset(length);
  buf[offset++] = packet.sessionPresent ? 1 : 0;
  buf[offset++] = reasonCode;
  writeProperties(buf, offset, packet.properties, propsLength);
  return buf;
}

function hasProperties(properties: Properties | undefined): properties is Properties {
  if (properties === undefined) return false;
  for (const _ in properties) return true;
  return false;
}

/**
 * PUBACK, PUBREC, PUBREL, PUBCOMP. In v5 the short forms are used when possible (3.4.2.1): Remaining
 * Length 2 for reason code 0x00 without properties, 3 for another code without properties.
 */
function encodeAck(
  firstByte: number,
  type: ReasonCodePacket,
  packetIdValue: number,
  reasonCodeValue: number | undefined,
  properties: Properties | undefined,
  version: ProtocolVersionNumber,
): Buffer {
  const packetId = checkPacketIdToEncode(packetIdValue, type);
  const reasonCode = reasonCodeValue ?? ReasonCode.Success;
  let length = 2;
  let propsLength = 0;
  const withProperties = version === 5 && hasProperties(properties);
  if (version === 5) {
    checkReasonCode(type, reasonCode);
    if (withProperties) {
      propsLength = propertiesLength(properties, type);
      length = 3 + propertiesSize(propsLength);
    } else if (reasonCode !== ReasonCode.Success) {
      length = 3;
    }
  }
  const buf = allocPacket(firstByte, length);
  const offset = writeUint16(buf, bodyOffset(length), packetId);
  if (length > 2) {
    buf[offset] = reasonCode;
    if (withProperties) writeProperties(buf, offset + 1, properties, propsLength);
  }
  return buf;
}

/** DISCONNECT and AUTH: v5 short form of Remaining Length 0 for code 0x00 without properties, 1 without properties. */
function encodeDisconnectOrAuth(
  firstByte: number,
  packet: DisconnectPacket | AuthPacket,
  version: ProtocolVersionNumber,
): Buffer {
  if (version < 5) return allocPacket(firstByte, 0);
  const reasonCode = packet.reasonCode ?? ReasonCode.Success;
  checkByte(reasonCode, `${packet.type} reason code`);
  checkReasonCode(packet.type, reasonCode);
  const { properties } = packet;
  if (!hasProperties(properties)) {
    if (reasonCode === ReasonCode.Success) return allocPacket(firstByte, 0);
    const buf = allocPacket(firstByte, 1);
    buf[2] = reasonCode;
    return buf;
  }
  const propsLength = propertiesLength(properties, packet.type);
  const length = 1 + propertiesSize(propsLength);
  const buf = allocPacket(firstByte, length);
  const offset = bodyOffset(length);
  buf[offset] = reasonCode;
  writeProperties(buf, offset + 1, properties, propsLength);
  return buf;
}
