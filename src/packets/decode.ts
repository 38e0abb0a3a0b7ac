/**
 * Decoding of one whole packet. Payloads and binary fields are views of the input (no copies); the
 * caller keeps the input alive as long as the packet.
 */
import { MqttError } from './errors.js';
import { checkFirstByte, type FixedHeader, parseFixedHeader } from './fixed-header.js';
import { PacketReader } from './primitives.js';
import { readProperties } from './properties.js';
import { ReasonCode } from './reason-codes.js';
import { TopicNameCache } from './topic.js';
import type {
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  Packet,
  ProtocolVersionNumber,
  PublishPacket,
  QoS,
  SubackPacket,
  SubscribePacket,
  Subscription,
  UnsubackPacket,
  UnsubscribePacket,
  WillMessage,
} from './types.js';
import { checkReasonCode, checkReceivedPacketId } from './validate.js';

/** Recently decoded topic names, shared by every parser (topics repeat across connections). */
const topicCache = new TopicNameCache(1024);

/** Decoding is synchronous and never re-entered, so one reader serves every packet. */
const reader = new PacketReader();
const EMPTY = Buffer.alloc(0);
const header: FixedHeader = { firstByte: 0, remainingLength: 0, headerLength: 0 };

/**
 * Decode exactly one whole packet (fixed header included) for a protocol version (3, 4 or 5).
 * Throws MqttError: 0x81 Malformed Packet, 0x82 Protocol Error, 0x84 for an unsupported CONNECT
 * protocol level (with `protocolLevel`), 0x90 for a PUBLISH topic with wildcards.
 */
export function decode(buffer: Buffer, version: ProtocolVersionNumber): Packet {
  if (buffer.length < 2 || !parseFixedHeader(buffer, 0, buffer.length, header)) {
    throw MqttError.malformed('buffer shorter than the fixed header');
  }
  if (header.headerLength + header.remainingLength !== buffer.length) {
    throw MqttError.malformed(
      `remaining length ${header.remainingLength} does not match the ${buffer.length - header.headerLength} bytes given`,
    );
  }
  checkFirstByte(header.firstByte, version);
  return decodeBody(header.firstByte, buffer, header.headerLength, buffer.length, version);
}

/**
 * Decode a packet body [start, end) whose fixed header first byte was already checked with
 * checkFirstByte. Used by decode() and by the stream parser.
 */
export function decodeBody(
  firstByte: number,
  buf: Buffer,
  start: number,
  end: number,
  version: ProtocolVersionNumber,
): Packet {
  const r = reader.reset(buf, start, end);
  try {
    const packet = decodeWithReader(firstByte, r, version);
    // Every field is read; bytes left over mean the Remaining Length was too long for the content.
    if (r.pos !== r.end)
      throw MqttError.malformed(`${packet.type}: ${r.end - r.pos} unexpected trailing bytes`);
    return packet;
  } finally {
    // Do not keep the caller's chunk reachable from the shared reader.
    r.reset(EMPTY, 0, 0);
  }
}

function decodeWithReader(firstByte: number, r: PacketReader, version: ProtocolVersionNumber): Packet {
  switch (firstByte >>> 4) {
    case 1:
      return decodeConnect(r);
    case 2:
      return decodeConnack(r, version);
    case 3:
      return decodePublish(firstByte, r, version);
    case 4:
      return decodeAck('puback', r, version);
    case 5:
      return decodeAck('pubrec', r, version);
    case 6:
      return decodeAck('pubrel', r, version);
    case 7:
      return decodeAck('pubcomp', r, version);
    case 8:
      return decodeSubscribe(r, version);
    case 9:
      return decodeSuback(r, version);
    case 10:
      return decodeUnsubscribe(r, version);
    case 11:
      return decodeUnsuback(r, version);
    case 12:
      return { type: 'pingreq' };
    case 13:
      return { type: 'pingresp' };
    case 14:
      return decodeDisconnectOrAuth('disconnect', r, version);
    default:
      // Type 15: checkFirstByte already refused AUTH before v5 and type 0.
      return decodeDisconnectOrAuth('auth', r, version);
  }
}

/** Protocol name and level pairs: `MQIsdp` level 3 (MQTT 3.1), `MQTT` levels 4 and 5. */
function connectVersion(name: string, level: number): ProtocolVersionNumber | undefined {
  if (name === 'MQTT') return level === 4 || level === 5 ? level : undefined;
  if (name === 'MQIsdp') return level === 3 ? 3 : undefined;
  return undefined;
}

function decodeConnect(r: PacketReader): ConnectPacket {
  const protocolName = r.readUtf8('protocol name');
  const level = r.readByte('protocol level');
  const protocolVersion = connectVersion(protocolName, level);
  if (protocolVersion === undefined) {
    // [MQTT-3.1.2-1] name must be "MQTT" (MQIsdp for 3.1); [MQTT-3.1.2-2] unsupported level: the
    // server answers CONNACK 0x84 (v3: return code 1) and closes, so report the level it saw.
    throw new MqttError(
      ReasonCode.UnsupportedProtocolVersion,
      `unsupported protocol ${JSON.stringify(protocolName)} level ${level}`,
      { protocolLevel: level },
    );
  }
  const flags = r.readByte('connect flags');
  if ((flags & 0x01) !== 0) throw MqttError.malformed('CONNECT reserved flag set'); // [MQTT-3.1.2-3]
  const willFlag = (flags & 0x04) !== 0;
  const willQoS = (flags >>> 3) & 3;
  const willRetain = (flags & 0x20) !== 0;
  const hasPassword = (flags & 0x40) !== 0;
  const hasUsername = (flags & 0x80) !== 0;
  if (!willFlag) {
    // Will QoS 0 without the will flag: [MQTT-3.1.2-11] (3.1.1 [MQTT-3.1.2-11] [MQTT-3.1.2-13]).
    if (willQoS !== 0) throw MqttError.malformed('will QoS set without the will flag');
    // Will Retain 0 without the will flag: [MQTT-3.1.2-13] (3.1.1 [MQTT-3.1.2-15]).
    if (willRetain) throw MqttError.malformed('will retain set without the will flag');
  } else if (willQoS === 3) {
    throw MqttError.malformed('will QoS 3'); // [MQTT-3.1.2-12] (3.1.1 [MQTT-3.1.2-14])
  }
  if (hasPassword && !hasUsername && protocolVersion < 5) {
    // 3.1.1 [MQTT-3.1.2-22]; MQTT 5 allows a password without a user name (3.1.2.9).
    throw MqttError.malformed('password flag set without the user name flag');
  }
  const keepalive = r.readUint16('keep alive');
  const properties = protocolVersion === 5 ? readProperties(r, 'connect') : undefined;
  if (properties?.authenticationData !== undefined && properties.authenticationMethod === undefined) {
    // 3.1.2.11.10: "It is a Protocol Error to include Authentication Data if there is no Authentication Method".
    throw MqttError.protocol('authentication data without an authentication method');
  }
  const packet: ConnectPacket = {
    type: 'connect',
    protocolName,
    protocolVersion,
    clean: (flags & 0x02) !== 0,
    keepalive,
    clientId: r.readUtf8('client identifier'), // [MQTT-3.1.3-3] [MQTT-3.1.3-4]
  };
  if (properties !== undefined) packet.properties = properties;
  if (willFlag) {
    // [MQTT-3.1.2-9]: will properties (v5), topic and payload are present when the will flag is set.
    const willProperties = protocolVersion === 5 ? readProperties(r, 'will') : undefined;
    const will: WillMessage = {
      topic: r.readUtf8('will topic'),
      payload: r.readBinary('will payload'),
      qos: willQoS as QoS,
      retain: willRetain,
    };
    if (willProperties !== undefined) will.properties = willProperties;
    packet.will = will;
  }
  // Fields present exactly when flagged ([MQTT-3.1.2-16]..[MQTT-3.1.2-19]; 3.1.1 [MQTT-3.1.2-18]..
  // [MQTT-3.1.2-21]): extra bytes are refused by the trailing-bytes check, missing ones by the reader.
  if (hasUsername) packet.username = r.readUtf8('user name');
  if (hasPassword) packet.password = r.readBinary('password');
  return packet;
}

function decodeConnack(r: PacketReader, version: ProtocolVersionNumber): ConnackPacket {
  const flags = r.readByte('connect acknowledge flags');
  // [MQTT-3.2.2-1] (3.1.1: section 3.2.2.1, no statement id).
  if ((flags & 0xfe) !== 0) throw MqttError.malformed('CONNACK reserved flags set');
  const reasonCode = r.readByte('connect reason code');
  const packet: ConnackPacket = { type: 'connack', sessionPresent: flags === 1, reasonCode };
  if (version === 5) {
    checkReasonCode('connack', reasonCode);
    const properties = readProperties(r, 'connack');
    if (properties !== undefined) packet.properties = properties;
  }
  // v3 return codes above 5 are reserved (3.1.1 3.2.2.3) but decoded as given: the client reports them.
  return packet;
}

function decodePublish(firstByte: number, r: PacketReader, version: ProtocolVersionNumber): PublishPacket {
  const qos = ((firstByte >>> 1) & 3) as QoS;
  // A topic seen recently comes from the cache: same bytes, already validated, no new string.
  const buf = r.buf;
  const topicStart = r.pos + 2;
  const topicBytes = topicStart <= r.end ? (buf[topicStart - 2]! << 8) | buf[topicStart - 1]! : 0;
  const cached = topicStart + topicBytes <= r.end ? topicCache.get(buf, topicStart, topicBytes) : undefined;
  let topic: string;
  if (cached === undefined) {
    topic = r.readUtf8('topic name'); // [MQTT-3.3.2-1]
  } else {
    topic = cached;
    r.pos = topicStart + topicBytes;
  }
  let packetId: number | undefined;
  if (qos > 0) {
    packetId = r.readUint16('packet identifier');
    checkReceivedPacketId(packetId);
  }
  const properties = version === 5 ? readProperties(r, 'publish') : undefined;
  if (cached === undefined) {
    checkTopicName(topic, properties !== undefined && properties.topicAlias !== undefined, version);
    topicCache.set(buf, topicStart, topicBytes, topic);
  }
  const packet: PublishPacket = {
    type: 'publish',
    topic,
    payload: r.readRest(),
    qos,
    retain: (firstByte & 1) !== 0,
    dup: (firstByte & 8) !== 0,
  };
  if (packetId !== undefined) packet.packetId = packetId;
  if (properties !== undefined) packet.properties = properties;
  return packet;
}

/**
 * A received topic name: no wildcards ([MQTT-3.3.2-2], [MQTT-4.7.0-1]; 3.1.1 [MQTT-4.7.1-1]) -> 0x90
 * Topic Name invalid; at least one character ([MQTT-4.7.3-1]) except in v5 when a Topic Alias
 * stands in for it (3.3.2.3.4: otherwise a Protocol Error). U+0000 was refused by the reader.
 */
function checkTopicName(topic: string, hasAlias: boolean, version: ProtocolVersionNumber): void {
  if (topic.length === 0) {
    if (version === 5) {
      if (!hasAlias) throw MqttError.protocol('empty topic name without a topic alias');
      return;
    }
    throw new MqttError(ReasonCode.TopicNameInvalid, 'empty topic name');
  }
  if (topic.includes('+') || topic.includes('#')) {
    throw new MqttError(ReasonCode.TopicNameInvalid, `topic name with wildcard: ${topic}`);
  }
}

type AckType = 'puback' | 'pubrec' | 'pubrel' | 'pubcomp';

function decodeAck(type: AckType, r: PacketReader, version: ProtocolVersionNumber): Packet {
  const packetId = r.readUint16('packet identifier');
  checkReceivedPacketId(packetId);
  if (version < 5) return { type, packetId };
  // v5: Remaining Length 2 means reason code 0x00 and no properties; 3 means no properties (3.4.2.1).
  const reasonCode = r.remaining > 0 ? r.readByte('reason code') : ReasonCode.Success;
  checkReasonCode(type, reasonCode);
  const properties = r.remaining > 0 ? readProperties(r, type) : undefined;
  return properties === undefined
    ? { type, packetId, reasonCode }
    : { type, packetId, reasonCode, properties };
}

function decodeSubscribe(r: PacketReader, version: ProtocolVersionNumber): SubscribePacket {
  const packetId = r.readUint16('packet identifier');
  checkReceivedPacketId(packetId);
  const properties = version === 5 ? readProperties(r, 'subscribe') : undefined;
  const subscriptions: Subscription[] = [];
  while (r.remaining > 0) {
    // Filter syntax (wildcards, empty levels, $share) is left to the broker: a bad filter is refused
    // on its own in the SUBACK (0x8F / 0x80) while the others are kept.
    const topicFilter = r.readUtf8('topic filter'); // [MQTT-3.8.3-1]
    const options = r.readByte('subscription options');
    const qos = options & 3;
    if (version < 5) {
      // 3.1.1 [MQTT-3.8.3-4]: reserved bits non-zero or QoS 3 is malformed.
      if ((options & 0xfc) !== 0) throw MqttError.malformed('SUBSCRIBE reserved option bits set');
      if (qos === 3) throw MqttError.malformed('SUBSCRIBE requested QoS 3');
      subscriptions.push({ topicFilter, qos: qos as QoS });
      continue;
    }
    if ((options & 0xc0) !== 0) throw MqttError.malformed('SUBSCRIBE reserved option bits set'); // [MQTT-3.8.3-5]
    // 3.8.3.1: "It is a Protocol Error if the Maximum QoS field has the value 3" and likewise for
    // Retain Handling 3; both are well-formed bytes with forbidden values.
    if (qos === 3) throw MqttError.protocol('SUBSCRIBE maximum QoS 3');
    const retainHandling = (options >>> 4) & 3;
    if (retainHandling === 3) throw MqttError.protocol('SUBSCRIBE retain handling 3');
    const noLocal = (options & 0x04) !== 0;
    if (noLocal && topicFilter.startsWith('$share/')) {
      throw MqttError.protocol('No Local set on a shared subscription'); // [MQTT-3.8.3-4]
    }
    subscriptions.push({
      topicFilter,
      qos: qos as QoS,
      noLocal,
      retainAsPublished: (options & 0x08) !== 0,
      retainHandling: retainHandling as 0 | 1 | 2,
    });
  }
  if (subscriptions.length === 0) {
    // v5 [MQTT-3.8.3-2] (Protocol Error), 3.1.1 [MQTT-3.8.3-3] ("a protocol violation": malformed).
    if (version === 5) throw MqttError.protocol('SUBSCRIBE without a topic filter');
    throw MqttError.malformed('SUBSCRIBE without a topic filter');
  }
  return properties === undefined
    ? { type: 'subscribe', packetId, subscriptions }
    : { type: 'subscribe', packetId, subscriptions, properties };
}

function decodeSuback(r: PacketReader, version: ProtocolVersionNumber): SubackPacket {
  const packetId = r.readUint16('packet identifier');
  checkReceivedPacketId(packetId);
  const properties = version === 5 ? readProperties(r, 'suback') : undefined;
  const reasonCodes: number[] = [];
  while (r.remaining > 0) {
    const code = r.readByte('reason code');
    if (version === 5) checkReasonCode('suback', code);
    else if (code > 2 && code !== 0x80) throw MqttError.malformed(`SUBACK return code ${code}`); // 3.1.1 [MQTT-3.9.3-2]
    reasonCodes.push(code);
  }
  return properties === undefined
    ? { type: 'suback', packetId, reasonCodes }
    : { type: 'suback', packetId, reasonCodes, properties };
}

function decodeUnsubscribe(r: PacketReader, version: ProtocolVersionNumber): UnsubscribePacket {
  const packetId = r.readUint16('packet identifier');
  checkReceivedPacketId(packetId);
  const properties = version === 5 ? readProperties(r, 'unsubscribe') : undefined;
  const topicFilters: string[] = [];
  while (r.remaining > 0) topicFilters.push(r.readUtf8('topic filter')); // [MQTT-3.10.3-1]
  if (topicFilters.length === 0) {
    // [MQTT-3.10.3-2] (same id in 3.1.1).
    if (version === 5) throw MqttError.protocol('UNSUBSCRIBE without a topic filter');
    throw MqttError.malformed('UNSUBSCRIBE without a topic filter');
  }
  return properties === undefined
    ? { type: 'unsubscribe', packetId, topicFilters }
    : { type: 'unsubscribe', packetId, topicFilters, properties };
}

function decodeUnsuback(r: PacketReader, version: ProtocolVersionNumber): UnsubackPacket {
  const packetId = r.readUint16('packet identifier');
  checkReceivedPacketId(packetId);
  if (version < 5) return { type: 'unsuback', packetId };
  const properties = readProperties(r, 'unsuback');
  const reasonCodes: number[] = [];
  while (r.remaining > 0) {
    const code = r.readByte('reason code');
    checkReasonCode('unsuback', code);
    reasonCodes.push(code);
  }
  return properties === undefined
    ? { type: 'unsuback', packetId, reasonCodes }
    : { type: 'unsuback', packetId, reasonCodes, properties };
}

function decodeDisconnectOrAuth(
  type: 'disconnect' | 'auth',
  r: PacketReader,
  version: ProtocolVersionNumber,
): DisconnectPacket | AuthPacket {
  // v3 DISCONNECT has no variable header: any remaining byte is refused as trailing.
  if (version < 5) return { type };
  // v5: Remaining Length 0 means reason code 0x00 and no properties; 1 means no properties
  // (3.14.2.2.1: "If the Remaining Length is less than 2, a value of 0 is used"; AUTH decoded alike).
  const reasonCode = r.remaining > 0 ? r.readByte('reason code') : ReasonCode.Success;
  checkReasonCode(type, reasonCode);
  const properties = r.remaining > 0 ? readProperties(r, type) : undefined;
  return properties === undefined ? { type, reasonCode } : { type, reasonCode, properties };
}
