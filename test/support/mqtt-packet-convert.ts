/**
 * Conversion between Starling's packet shape (`src/packets/types.ts`) and the objects of the
 * mqtt-packet library (what its `generate` takes and its parser emits), plus the normal form both
 * sides are compared in.
 *
 * mqtt-packet's shape differs in: `cmd` for `type`, `messageId` for `packetId`, `protocolId` for
 * `protocolName`, `returnCode` (3.1.1 CONNACK) or `reasonCode` (5.0), `granted` for SUBACK/UNSUBACK
 * codes, `unsubscriptions`, subscriptions as `{ topic, qos, nl, rap, rh }`, byte-flag properties as
 * booleans, `subscriptionIdentifier` as a number or an array, and user properties as an object
 * `{ name: value | value[] }`.
 */
import type * as MqttPacketJs from 'mqtt-packet';
import type {
  AuthPacket,
  ConnectPacket,
  DisconnectPacket,
  Packet,
  Properties,
  PropertyName,
  PubackPacket,
  PubcompPacket,
  PubrecPacket,
  PubrelPacket,
  QoS,
  Subscription,
  UserProperty,
  WillMessage,
} from '../../src/packets/types.js';
import { PropertyDefinitions } from '../../src/packets/types.js';

/** A packet object as mqtt-packet's `generate` takes it and its parser emits it. */
export type MqttPacketObject = MqttPacketJs.Packet;

type AckPacket = PubackPacket | PubrecPacket | PubrelPacket | PubcompPacket;

/** The protocol levels the conversion covers. */
export type ConvertVersion = 4 | 5;

/** mqtt-packet's property bag: our names, except `subscriptionIdentifier`, booleans for flags. */
type MqttPacketProperties = Record<string, unknown>;

/**
 * Properties mqtt-packet stores as booleans (its `byte` type). Maximum QoS is a byte too, but
 * mqtt-packet keeps it numeric (`int8`), so it is not in this set.
 */
const BOOLEAN_PROPERTIES: ReadonlySet<PropertyName> = new Set<PropertyName>([
  'payloadFormatIndicator',
  'requestProblemInformation',
  'requestResponseInformation',
  'retainAvailable',
  'wildcardSubscriptionAvailable',
  'subscriptionIdentifiersAvailable',
  'sharedSubscriptionAvailable',
]);

/** Our properties to mqtt-packet's property object (undefined for none). */
export function toMqttPacketProperties(properties: Properties | undefined): MqttPacketProperties | undefined {
  if (properties === undefined) return undefined;
  const out: MqttPacketProperties = {};
  for (const def of PropertyDefinitions) {
    const value = properties[def.name];
    if (value === undefined) continue;
    if (def.name === 'userProperties') {
      out.userProperties = toUserPropertiesObject(properties.userProperties ?? []);
    } else if (def.name === 'subscriptionIdentifiers') {
      const ids = properties.subscriptionIdentifiers ?? [];
      out.subscriptionIdentifier = ids.length === 1 ? ids[0] : ids;
    } else if (BOOLEAN_PROPERTIES.has(def.name)) {
      out[def.name] = value === 1;
    } else {
      out[def.name] = value;
    }
  }
  return out;
}

/**
 * User properties as mqtt-packet's object: repeated names collect their values in an array, so
 * pairs with different names lose their relative order (the caller generates them grouped).
 */
export function toUserPropertiesObject(pairs: readonly UserProperty[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null);
  for (const [name, value] of pairs) {
    const existing = out[name];
    if (existing === undefined) out[name] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else out[name] = [existing, value];
  }
  return out;
}

/** mqtt-packet's user property object back to pairs, in the object's key order. */
export function fromUserPropertiesObject(object: Record<string, string | string[]>): UserProperty[] {
  const pairs: UserProperty[] = [];
  for (const name of Object.getOwnPropertyNames(object)) {
    const value = object[name];
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) pairs.push([name, v]);
  }
  return pairs;
}

/** mqtt-packet's property object to ours (undefined for none or empty). */
export function fromMqttPacketProperties(properties: unknown): Properties | undefined {
  if (properties === undefined || properties === null || typeof properties !== 'object') return undefined;
  const source = properties as MqttPacketProperties;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(source)) {
    if (value === undefined) continue;
    if (key === 'userProperties') {
      out.userProperties = fromUserPropertiesObject(value as Record<string, string | string[]>);
    } else if (key === 'subscriptionIdentifier') {
      out.subscriptionIdentifiers = Array.isArray(value) ? [...(value as number[])] : [value as number];
    } else if (BOOLEAN_PROPERTIES.has(key as PropertyName)) {
      out[key] = value === true ? 1 : 0;
    } else {
      out[key] = value;
    }
  }
  return Object.keys(out).length === 0 ? undefined : (out as Properties);
}

function withProperties<T extends object>(
  target: T,
  properties: Properties | undefined,
  version: ConvertVersion,
): T {
  const converted = version === 5 ? toMqttPacketProperties(properties) : undefined;
  if (converted !== undefined) (target as { properties?: MqttPacketProperties }).properties = converted;
  return target;
}

/** Our packet to the object mqtt-packet's `generate(object, { protocolVersion: version })` takes. */
export function toMqttPacketObject(packet: Packet, version: ConvertVersion): MqttPacketObject {
  switch (packet.type) {
    case 'connect': {
      const out: Record<string, unknown> = {
        cmd: 'connect',
        protocolId: packet.protocolName,
        protocolVersion: packet.protocolVersion,
        clean: packet.clean,
        keepalive: packet.keepalive,
        clientId: packet.clientId,
      };
      if (packet.will !== undefined) {
        out.will = withProperties(
          {
            topic: packet.will.topic,
            payload: packet.will.payload,
            qos: packet.will.qos,
            retain: packet.will.retain,
          },
          packet.will.properties,
          version,
        );
      }
      if (packet.username !== undefined) out.username = packet.username;
      if (packet.password !== undefined) out.password = packet.password;
      return withProperties(out, packet.properties, version) as unknown as MqttPacketObject;
    }
    case 'connack': {
      const out: Record<string, unknown> = { cmd: 'connack', sessionPresent: packet.sessionPresent };
      if (version === 5) out.reasonCode = packet.reasonCode;
      else out.returnCode = packet.reasonCode;
      return withProperties(out, packet.properties, version) as unknown as MqttPacketObject;
    }
    case 'publish': {
      const out: Record<string, unknown> = {
        cmd: 'publish',
        topic: packet.topic,
        payload: packet.payload,
        qos: packet.qos,
        retain: packet.retain,
        dup: packet.dup,
      };
      if (packet.packetId !== undefined) out.messageId = packet.packetId;
      return withProperties(out, packet.properties, version) as unknown as MqttPacketObject;
    }
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp': {
      const out: Record<string, unknown> = { cmd: packet.type, messageId: packet.packetId };
      // mqtt-packet writes `reasonCode` as given; an absent one would become byte 0 by accident.
      if (version === 5) out.reasonCode = packet.reasonCode ?? 0;
      return withProperties(out, packet.properties, version) as unknown as MqttPacketObject;
    }
    case 'subscribe': {
      const subscriptions = packet.subscriptions.map((s) =>
        version === 5
          ? {
              topic: s.topicFilter,
              qos: s.qos,
              nl: s.noLocal ?? false,
              rap: s.retainAsPublished ?? false,
              rh: s.retainHandling ?? 0,
            }
          : { topic: s.topicFilter, qos: s.qos },
      );
      const out = { cmd: 'subscribe', messageId: packet.packetId, subscriptions };
      return withProperties(out, packet.properties, version) as unknown as MqttPacketObject;
    }
    case 'suback': {
      const out = { cmd: 'suback', messageId: packet.packetId, granted: [...packet.reasonCodes] };
      return withProperties(out, packet.properties, version) as unknown as MqttPacketObject;
    }
    case 'unsubscribe': {
      const out = {
        cmd: 'unsubscribe',
        messageId: packet.packetId,
        unsubscriptions: [...packet.topicFilters],
      };
      return withProperties(out, packet.properties, version) as unknown as MqttPacketObject;
    }
    case 'unsuback': {
      const out: Record<string, unknown> = { cmd: 'unsuback', messageId: packet.packetId };
      if (version === 5) out.granted = [...(packet.reasonCodes ?? [])];
      return withProperties(out, packet.properties, version) as unknown as MqttPacketObject;
    }
    case 'pingreq':
    case 'pingresp':
      return { cmd: packet.type };
    case 'disconnect':
    case 'auth': {
      const out: Record<string, unknown> = { cmd: packet.type };
      if (version === 5) out.reasonCode = packet.reasonCode ?? 0;
      return withProperties(out, packet.properties, version) as unknown as MqttPacketObject;
    }
  }
}

/** The fields of mqtt-packet's parsed objects this module reads (its typings omit some). */
interface ParsedFields {
  cmd: string;
  messageId?: number;
  protocolId?: string;
  protocolVersion?: number;
  clean?: boolean;
  keepalive?: number;
  clientId?: string;
  will?: { topic: string; payload: Buffer; qos: number; retain: boolean; properties?: unknown };
  username?: string;
  password?: Buffer;
  sessionPresent?: boolean;
  returnCode?: number;
  reasonCode?: number;
  topic?: string;
  payload?: Buffer;
  qos?: number;
  retain?: boolean;
  dup?: boolean;
  subscriptions?: { topic: string; qos: number; nl?: boolean; rap?: boolean; rh?: number }[];
  unsubscriptions?: string[];
  granted?: number[];
  properties?: unknown;
}

function requireField<T>(value: T | undefined | null, field: string, cmd: string): T {
  if (value === undefined || value === null) throw new TypeError(`mqtt-packet ${cmd} object has no ${field}`);
  return value;
}

function asQoS(value: number, what: string): QoS {
  if (value === 0 || value === 1 || value === 2) return value;
  throw new RangeError(`${what} ${value} is not a QoS`);
}

function convertWill(will: NonNullable<ParsedFields['will']>): WillMessage {
  const out: WillMessage = {
    topic: will.topic,
    payload: will.payload,
    qos: asQoS(will.qos, 'will QoS'),
    retain: will.retain,
  };
  const properties = fromMqttPacketProperties(will.properties);
  if (properties !== undefined) out.properties = properties;
  return out;
}

/** An object mqtt-packet's parser emitted (for `version`) to our packet shape. */
export function fromMqttPacketObject(object: MqttPacketObject, version: ConvertVersion): Packet {
  const o = object as unknown as ParsedFields;
  const properties = version === 5 ? fromMqttPacketProperties(o.properties) : undefined;
  const withProps = <T extends Packet>(packet: T): T => {
    if (properties !== undefined) (packet as { properties?: Properties }).properties = properties;
    return packet;
  };
  const cmd = o.cmd;
  switch (cmd) {
    case 'connect': {
      const protocolVersion = requireField(o.protocolVersion, 'protocolVersion', cmd);
      if (protocolVersion !== 3 && protocolVersion !== 4 && protocolVersion !== 5) {
        throw new RangeError(`protocol version ${protocolVersion}`);
      }
      const packet: ConnectPacket = {
        type: 'connect',
        protocolName: requireField(o.protocolId, 'protocolId', cmd),
        protocolVersion,
        clean: requireField(o.clean, 'clean', cmd),
        keepalive: requireField(o.keepalive, 'keepalive', cmd),
        clientId: requireField(o.clientId, 'clientId', cmd),
      };
      if (o.will !== undefined) packet.will = convertWill(o.will);
      if (o.username !== undefined) packet.username = o.username;
      if (o.password !== undefined) packet.password = o.password;
      return withProps(packet);
    }
    case 'connack':
      return withProps({
        type: 'connack',
        sessionPresent: requireField(o.sessionPresent, 'sessionPresent', cmd),
        reasonCode: requireField(version === 5 ? o.reasonCode : o.returnCode, 'reason/return code', cmd),
      });
    case 'publish': {
      const qos = asQoS(requireField(o.qos, 'qos', cmd), 'PUBLISH QoS');
      const packet: Packet = {
        type: 'publish',
        topic: requireField(o.topic, 'topic', cmd),
        payload: requireField(o.payload, 'payload', cmd),
        qos,
        retain: requireField(o.retain, 'retain', cmd),
        dup: requireField(o.dup, 'dup', cmd),
      };
      if (qos > 0) packet.packetId = requireField(o.messageId, 'messageId', cmd);
      return withProps(packet);
    }
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp': {
      const packet: AckPacket = { type: cmd, packetId: requireField(o.messageId, 'messageId', cmd) };
      if (version === 5 && o.reasonCode !== undefined) packet.reasonCode = o.reasonCode;
      return withProps(packet);
    }
    case 'subscribe': {
      const subscriptions = requireField(o.subscriptions, 'subscriptions', cmd).map((s): Subscription => {
        const subscription: Subscription = { topicFilter: s.topic, qos: asQoS(s.qos, 'subscription QoS') };
        if (version === 5) {
          subscription.noLocal = s.nl ?? false;
          subscription.retainAsPublished = s.rap ?? false;
          const rh = s.rh ?? 0;
          if (rh !== 0 && rh !== 1 && rh !== 2) throw new RangeError(`retain handling ${rh}`);
          subscription.retainHandling = rh;
        }
        return subscription;
      });
      return withProps({
        type: 'subscribe',
        packetId: requireField(o.messageId, 'messageId', cmd),
        subscriptions,
      });
    }
    case 'suback':
      return withProps({
        type: 'suback',
        packetId: requireField(o.messageId, 'messageId', cmd),
        reasonCodes: [...requireField(o.granted, 'granted', cmd)],
      });
    case 'unsubscribe':
      return withProps({
        type: 'unsubscribe',
        packetId: requireField(o.messageId, 'messageId', cmd),
        topicFilters: [...requireField(o.unsubscriptions, 'unsubscriptions', cmd)],
      });
    case 'unsuback': {
      const packet: Packet = { type: 'unsuback', packetId: requireField(o.messageId, 'messageId', cmd) };
      if (version === 5 && o.granted !== undefined) packet.reasonCodes = [...o.granted];
      return withProps(packet);
    }
    case 'pingreq':
    case 'pingresp':
      return { type: cmd };
    case 'disconnect':
    case 'auth': {
      const packet: DisconnectPacket | AuthPacket = { type: cmd };
      if (version === 5 && o.reasonCode !== undefined) packet.reasonCode = o.reasonCode;
      return withProps(packet);
    }
    default:
      throw new TypeError(`unknown mqtt-packet cmd ${String(cmd)}`);
  }
}

/** Copies a Buffer view so comparisons see plain, equal-prototype Buffers. */
function copyBytes(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes);
}

/** Properties in normal form: no undefined keys, no empty lists, Buffers copied; undefined when empty. */
export function normalizeProperties(properties: Properties | undefined): Properties | undefined {
  if (properties === undefined) return undefined;
  const out: Record<string, unknown> = {};
  for (const def of PropertyDefinitions) {
    const value = properties[def.name];
    if (value === undefined) continue;
    if (Array.isArray(value)) {
      if (value.length === 0) continue;
      out[def.name] =
        def.name === 'userProperties'
          ? (value as UserProperty[]).map(([n, v]): UserProperty => [n, v])
          : [...(value as number[])];
    } else if (value instanceof Uint8Array) {
      out[def.name] = copyBytes(value);
    } else {
      out[def.name] = value;
    }
  }
  return Object.keys(out).length === 0 ? undefined : (out as Properties);
}

function normalizeWill(will: WillMessage, version: ConvertVersion): WillMessage {
  const out: WillMessage = {
    topic: will.topic,
    payload: copyBytes(will.payload),
    qos: will.qos,
    retain: will.retain,
  };
  const properties = version === 5 ? normalizeProperties(will.properties) : undefined;
  if (properties !== undefined) out.properties = properties;
  return out;
}

/**
 * The normal form two packets are compared in at `version`: fields the level does not carry are
 * dropped (properties and reason codes in 3.1.1, v5 subscription options), absent v5 reason codes
 * become 0x00 (the spec's meaning of an omitted code, 3.4.2.1, 3.14.2.1, 3.15.2.1), absent
 * subscription options become their defaults, Buffers are copied, empty properties vanish.
 */
export function normalizePacket(packet: Packet, version: ConvertVersion): Packet {
  const properties =
    version === 5 && 'properties' in packet ? normalizeProperties(packet.properties) : undefined;
  const withProps = <T extends Packet>(p: T): T => {
    if (properties !== undefined) (p as { properties?: Properties }).properties = properties;
    return p;
  };
  switch (packet.type) {
    case 'connect': {
      const out: ConnectPacket = {
        type: 'connect',
        protocolName: packet.protocolName,
        protocolVersion: packet.protocolVersion,
        clean: packet.clean,
        keepalive: packet.keepalive,
        clientId: packet.clientId,
      };
      if (packet.will !== undefined) out.will = normalizeWill(packet.will, version);
      if (packet.username !== undefined) out.username = packet.username;
      if (packet.password !== undefined) out.password = copyBytes(packet.password);
      return withProps(out);
    }
    case 'connack':
      return withProps({
        type: 'connack',
        sessionPresent: packet.sessionPresent,
        reasonCode: packet.reasonCode,
      });
    case 'publish': {
      const out: Packet = {
        type: 'publish',
        topic: packet.topic,
        payload: copyBytes(packet.payload),
        qos: packet.qos,
        retain: packet.retain,
        dup: packet.dup,
      };
      if (packet.qos > 0 && packet.packetId !== undefined) out.packetId = packet.packetId;
      return withProps(out);
    }
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp': {
      const out: AckPacket = { type: packet.type, packetId: packet.packetId };
      if (version === 5) out.reasonCode = packet.reasonCode ?? 0;
      return withProps(out);
    }
    case 'subscribe':
      return withProps({
        type: 'subscribe',
        packetId: packet.packetId,
        subscriptions: packet.subscriptions.map((s): Subscription => {
          if (version !== 5) return { topicFilter: s.topicFilter, qos: s.qos };
          return {
            topicFilter: s.topicFilter,
            qos: s.qos,
            noLocal: s.noLocal ?? false,
            retainAsPublished: s.retainAsPublished ?? false,
            retainHandling: s.retainHandling ?? 0,
          };
        }),
      });
    case 'suback':
      return withProps({ type: 'suback', packetId: packet.packetId, reasonCodes: [...packet.reasonCodes] });
    case 'unsubscribe':
      return withProps({
        type: 'unsubscribe',
        packetId: packet.packetId,
        topicFilters: [...packet.topicFilters],
      });
    case 'unsuback': {
      const out: Packet = { type: 'unsuback', packetId: packet.packetId };
      if (version === 5) out.reasonCodes = [...(packet.reasonCodes ?? [])];
      return withProps(out);
    }
    case 'pingreq':
    case 'pingresp':
      return { type: packet.type };
    case 'disconnect':
    case 'auth': {
      const out: DisconnectPacket | AuthPacket = { type: packet.type };
      if (version === 5) out.reasonCode = packet.reasonCode ?? 0;
      return withProps(out);
    }
  }
}
