/**
 * MQTT 5 properties (spec 2.2.2): a Variable Byte Integer length, then identifier/value pairs. The
 * data type and the packets each identifier may appear in come from PropertyDefinitions.
 */
import { MqttError } from './errors.js';
import {
  binaryLength,
  MAX_UINT16,
  MAX_UINT32,
  MAX_VARINT,
  type PacketReader,
  utf8Length,
  varintLength,
  writeBinary,
  writeUint16,
  writeUint32,
  writeUtf8,
  writeVarint,
} from './primitives.js';
import {
  type Properties,
  PropertyById,
  type PropertyContext,
  type PropertyDefinition,
  PropertyDefinitions,
  PropertyId,
  type UserProperty,
} from './types.js';

/** Per context, a byte-indexed table: 1 where the property identifier is allowed. */
const allowedIn: Readonly<Record<PropertyContext, Uint8Array>> = (() => {
  const tables: Partial<Record<PropertyContext, Uint8Array>> = {};
  for (const def of PropertyDefinitions) {
    for (const context of def.packets) {
      let table = tables[context];
      if (table === undefined) {
        table = new Uint8Array(256);
        tables[context] = table;
      }
      table[def.id] = 1;
    }
  }
  const empty = new Uint8Array(256);
  const contexts: readonly PropertyContext[] = [
    'connect',
    'connack',
    'publish',
    'puback',
    'pubrec',
    'pubrel',
    'pubcomp',
    'subscribe',
    'suback',
    'unsubscribe',
    'unsuback',
    'pingreq',
    'pingresp',
    'disconnect',
    'auth',
    'will',
  ];
  for (const context of contexts) tables[context] ??= empty;
  return tables as Record<PropertyContext, Uint8Array>;
})();

/**
 * Semantic range checks on numeric property values; every violation is a Protocol Error (0x82):
 * Payload Format Indicator 0/1 (3.3.2.3.2), Request Problem / Response Information 0/1 (3.1.2.11.7,
 * 3.1.2.11.6), Maximum QoS 0/1 (3.2.2.3.4), Retain / Wildcard / Subscription Identifiers / Shared
 * Subscription Available 0/1 (3.2.2.3.5, 3.2.2.3.11-13), Receive Maximum and Maximum Packet Size
 * non-zero (3.1.2.11.3-4, 3.2.2.3.3, 3.2.2.3.6), Topic Alias non-zero ([MQTT-3.3.2-8]) and
 * Subscription Identifier 1..268435455 (3.3.2.3.8, 3.8.2.1.2).
 */
function checkNumericValue(id: number, value: number): void {
  switch (id) {
    case PropertyId.payloadFormatIndicator:
    case PropertyId.requestProblemInformation:
    case PropertyId.requestResponseInformation:
    case PropertyId.maximumQoS:
    case PropertyId.retainAvailable:
    case PropertyId.wildcardSubscriptionAvailable:
    case PropertyId.subscriptionIdentifiersAvailable:
    case PropertyId.sharedSubscriptionAvailable:
      if (value > 1) throw MqttError.protocol(`${PropertyById[id]!.name} must be 0 or 1, got ${value}`);
      return;
    case PropertyId.receiveMaximum:
    case PropertyId.maximumPacketSize:
    case PropertyId.topicAlias:
    case PropertyId.subscriptionIdentifiers:
      if (value === 0) throw MqttError.protocol(`${PropertyById[id]!.name} must not be 0`);
      return;
  }
}

/**
 * Read a property list (length included) for `context`. Returns undefined when the list is empty.
 * Unknown identifiers and identifiers not allowed in the packet are a Malformed Packet (spec 2.2.2.2:
 * "a Control Packet which contains an Identifier which is not valid for its packet type ... is a
 * Malformed Packet"); a property given twice is a Protocol Error (stated per property in 3.x.2.x),
 * except User Property and, in PUBLISH, Subscription Identifier which may repeat.
 */
export function readProperties(r: PacketReader, context: PropertyContext): Properties | undefined {
  const length = r.readVarint('property length');
  if (length === 0) return undefined;
  const packetEnd = r.end;
  const end = r.pos + length;
  if (end > packetEnd) throw MqttError.malformed('property length exceeds the packet');
  // Bound every read by the property list so a value cannot run into the payload unnoticed.
  r.end = end;
  const allowed = allowedIn[context];
  const props: Properties = {};
  const record = props as Record<string, unknown>;
  while (r.pos < end) {
    const id = r.buf[r.pos++]!;
    const def = PropertyById[id];
    if (def === undefined) throw MqttError.malformed(`unknown property identifier 0x${id.toString(16)}`);
    if (allowed[id] !== 1) throw MqttError.malformed(`property ${def.name} is not allowed in ${context}`);
    let value: number | string | Buffer;
    switch (def.dataType) {
      case 'byte':
        value = r.readByte(def.name);
        break;
      case 'uint16':
        value = r.readUint16(def.name);
        break;
      case 'uint32':
        value = r.readUint32(def.name);
        break;
      case 'varint':
        value = r.readVarint(def.name);
        break;
      case 'utf8':
        value = r.readUtf8(def.name);
        break;
      case 'binary':
        value = r.readBinary(def.name);
        break;
      case 'pair': {
        // [MQTT-1.5.7-1]: both strings follow the UTF-8 string rules.
        const pair: UserProperty = [r.readUtf8('user property name'), r.readUtf8('user property value')];
        if (props.userProperties === undefined) props.userProperties = [pair];
        else props.userProperties.push(pair);
        continue;
      }
    }
    if (typeof value === 'number') checkNumericValue(id, value);
    if (id === PropertyId.subscriptionIdentifiers) {
      const ids = props.subscriptionIdentifiers;
      if (ids === undefined) props.subscriptionIdentifiers = [value as number];
      else if (context === 'publish') ids.push(value as number);
      else throw MqttError.protocol('subscriptionIdentifiers included more than once');
      continue;
    }
    if (record[def.name] !== undefined)
      throw MqttError.protocol(`property ${def.name} included more than once`);
    record[def.name] = value;
  }
  r.end = packetEnd;
  return props;
}

/** Property definitions by property name; null prototype so inherited names never match. */
const definitionByName: Readonly<Record<string, PropertyDefinition | undefined>> = (() => {
  const table: Record<string, PropertyDefinition | undefined> = Object.create(null);
  for (const def of PropertyDefinitions) table[def.name] = def;
  return table;
})();

/**
 * Scratch list filled by collectPresent. Shared module state is safe because measuring and writing are
 * synchronous and each call uses the list only until it returns.
 */
const present: PropertyDefinition[] = [];

/**
 * Put the definitions of the properties `props` actually holds into `present`, in identifier order, and
 * return how many. A packet carries a handful of the 27 properties, so walking its own keys and
 * insertion-sorting the few found is much cheaper than probing every definition by name; the order
 * keeps the encoding deterministic (the fixtures compare bytes) and the first error the same.
 */
function collectPresent(props: Properties): number {
  let count = 0;
  const record = props as Readonly<Record<string, unknown>>;
  for (const name in record) {
    const def = definitionByName[name];
    if (def === undefined || record[name] === undefined) continue;
    let at = count++;
    while (at > 0 && present[at - 1]!.id > def.id) {
      present[at] = present[at - 1]!;
      at--;
    }
    present[at] = def;
  }
  return count;
}

/** Refuse a number that does not fit the property's wire type. */
function checkEncodable(def: PropertyDefinition, value: unknown, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw MqttError.malformed(`property ${def.name} must be an integer in 0..${max}, got ${String(value)}`);
  }
  checkNumericValue(def.id, value);
  return value;
}

/**
 * Bytes taken by the property list content (without its length prefix), validating every value for
 * `context`. A property not allowed in the packet is refused (0x81, as a receiver would see it).
 */
export function propertiesLength(props: Properties | undefined, context: PropertyContext): number {
  if (props === undefined) return 0;
  const allowed = allowedIn[context];
  let length = 0;
  const count = collectPresent(props);
  for (let i = 0; i < count; i++) {
    const def = present[i]!;
    const value = props[def.name];
    if (allowed[def.id] !== 1) throw MqttError.malformed(`property ${def.name} is not allowed in ${context}`);
    switch (def.dataType) {
      case 'byte':
        checkEncodable(def, value, 0xff);
        length += 2;
        break;
      case 'uint16':
        checkEncodable(def, value, MAX_UINT16);
        length += 3;
        break;
      case 'uint32':
        checkEncodable(def, value, MAX_UINT32);
        length += 5;
        break;
      case 'varint': {
        const ids = value as readonly number[];
        if (context !== 'publish' && ids.length > 1) {
          throw MqttError.protocol(`only one subscription identifier is allowed in ${context}`);
        }
        for (const id of ids) length += 1 + varintLength(checkEncodable(def, id, MAX_VARINT));
        break;
      }
      case 'utf8':
        length += 3 + utf8Length(value as string, def.name);
        break;
      case 'binary':
        length += 3 + binaryLength(value as Buffer, def.name);
        break;
      case 'pair':
        for (const [name, text] of value as readonly UserProperty[]) {
          length += 5 + utf8Length(name, 'user property name') + utf8Length(text, 'user property value');
        }
        break;
    }
  }
  return length;
}

/** Bytes taken by a property list including its length prefix, given the content length. */
export function propertiesSize(contentLength: number): number {
  return varintLength(contentLength) + contentLength;
}

/**
 * Write the property list (length prefix + content) validated and measured by propertiesLength.
 * Properties are written in identifier order so that encoding is deterministic.
 */
export function writeProperties(
  buf: Buffer,
  offset: number,
  props: Properties | undefined,
  contentLength: number,
): number {
  offset = writeVarint(buf, offset, contentLength);
  if (props === undefined || contentLength === 0) return offset;
  const count = collectPresent(props);
  for (let i = 0; i < count; i++) {
    const def = present[i]!;
    const value = props[def.name];
    const id = def.id;
    switch (def.dataType) {
      case 'byte':
        buf[offset++] = id;
        buf[offset++] = value as number;
        break;
      case 'uint16':
        buf[offset++] = id;
        offset = writeUint16(buf, offset, value as number);
        break;
      case 'uint32':
        buf[offset++] = id;
        offset = writeUint32(buf, offset, value as number);
        break;
      case 'varint':
        for (const subscriptionId of value as readonly number[]) {
          buf[offset++] = id;
          offset = writeVarint(buf, offset, subscriptionId);
        }
        break;
      case 'utf8':
        buf[offset++] = id;
        offset = writeUtf8(buf, offset, value as string);
        break;
      case 'binary':
        buf[offset++] = id;
        offset = writeBinary(buf, offset, value as Buffer);
        break;
      case 'pair':
        for (const [name, text] of value as readonly UserProperty[]) {
          buf[offset++] = id;
          offset = writeUtf8(buf, offset, name);
          offset = writeUtf8(buf, offset, text);
        }
        break;
    }
  }
  return offset;
}
