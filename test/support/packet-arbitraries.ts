/**
 * fast-check arbitraries for MQTT control packets, per protocol level 4 (3.1.1) and 5 (5.0).
 *
 * Every generated packet is valid for its level. Rules the generators obey carry their normative
 * statement id (v5 numbering, then the 3.1.1 one where it differs). Strings may hold control
 * characters and non-characters, which the spec discourages but does not forbid (see codePointUnit).
 */
import fc from 'fast-check';
import { ReasonCodesByPacket } from '../../src/packets/reason-codes.js';
import type {
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  Packet,
  PacketOf,
  PacketTypeName,
  PingreqPacket,
  PingrespPacket,
  Properties,
  PropertyContext,
  PropertyName,
  PubackPacket,
  PubcompPacket,
  PublishPacket,
  PubrecPacket,
  PubrelPacket,
  QoS,
  SubackPacket,
  SubscribePacket,
  Subscription,
  UnsubackPacket,
  UnsubscribePacket,
  UserProperty,
  WillMessage,
} from '../../src/packets/types.js';
import { PacketType, PropertyDefinitions } from '../../src/packets/types.js';

/** The protocol levels these arbitraries cover. */
export type ArbitraryVersion = 4 | 5;

/** Knobs shared by the packet arbitraries. */
export interface PacketArbitraryOptions {
  /**
   * Generate user properties with equal names adjacent, names in the order a JavaScript object
   * enumerates its keys (integer-like names first, ascending). Libraries that keep user properties
   * in an object (mqtt-packet) can only reproduce that order; the default interleaves names freely,
   * as the spec allows (3.3.2.3.7: the same name may appear more than once, order is significant).
   */
  groupedUserProperties?: boolean;
}

const ALL_PACKET_TYPES = Object.keys(PacketType) as PacketTypeName[];

/** Packet types valid at each protocol level (AUTH exists only in 5.0). */
export const PACKET_TYPES_BY_VERSION: Readonly<Record<ArbitraryVersion, readonly PacketTypeName[]>> = {
  4: ALL_PACKET_TYPES.filter((type) => type !== 'auth'),
  5: ALL_PACKET_TYPES,
};

/**
 * One code point: mostly printable ASCII, sometimes a control character, anything else from the BMP
 * or an astral plane. Never U+0000 [MQTT-1.5.4-2] (3.1.1: [MQTT-1.5.3-2]) nor a surrogate
 * [MQTT-1.5.4-1] (3.1.1: [MQTT-1.5.3-1]). Controls and non-characters are included on purpose: the
 * spec says they SHOULD NOT be sent but are well-formed (5.0 section 1.5.4, 3.1.1 section 1.5.3).
 */
const codePointUnit: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((cp) => String.fromCodePoint(cp)) },
  {
    weight: 1,
    arbitrary: fc
      .oneof(fc.integer({ min: 0x01, max: 0x1f }), fc.integer({ min: 0x7f, max: 0x9f }))
      .map((cp) => String.fromCodePoint(cp)),
  },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 0xa0, max: 0xffff })
      .filter((cp) => cp < 0xd800 || cp > 0xdfff)
      .map((cp) => String.fromCodePoint(cp)),
  },
  { weight: 1, arbitrary: fc.integer({ min: 0x10000, max: 0x10ffff }).map((cp) => String.fromCodePoint(cp)) },
  // Edges of the 1/2/3/4-byte UTF-8 forms, a BOM that must not be stripped [MQTT-1.5.4-3], U+FFFD.
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfeff, 0xfffd, 0xffff, 0x10000, 0x10ffff)
      .map((cp) => String.fromCodePoint(cp)),
  },
);

/** A valid UTF-8 string (well-formed, no U+0000), counted in code points. */
export function utf8StringArbitrary(constraints: { minLength?: number; maxLength?: number } = {}) {
  return fc.string({
    unit: codePointUnit,
    minLength: constraints.minLength ?? 0,
    maxLength: constraints.maxLength ?? 12,
  });
}

/** A topic level without separators or wildcards (may be empty: `a//b` has an empty level). */
const plainLevel = fc.string({
  unit: codePointUnit.filter((c) => c !== '/' && c !== '+' && c !== '#'),
  maxLength: 6,
});

/**
 * A topic name: at least one character [MQTT-4.7.3-1], no wildcard characters [MQTT-3.3.2-2]
 * (3.1.1: [MQTT-3.3.2-2] and [MQTT-4.7.1-1]).
 */
export function topicNameArbitrary(): fc.Arbitrary<string> {
  return fc
    .array(plainLevel, { minLength: 1, maxLength: 4 })
    .map((levels) => levels.join('/'))
    .filter((name) => name.length > 0);
}

/** A share name: at least one character, no `/`, `+` or `#` [MQTT-4.8.2-1]. */
const shareName = fc.string({
  unit: codePointUnit.filter((c) => c !== '/' && c !== '+' && c !== '#'),
  minLength: 1,
  maxLength: 6,
});

/**
 * A non-shared topic filter: `+` fills a whole level [MQTT-4.7.1-2] (3.1.1: [MQTT-4.7.1-3]), `#` is
 * alone in the last level [MQTT-4.7.1-1] (3.1.1: [MQTT-4.7.1-2]), at least one character [MQTT-4.7.3-1].
 */
function plainTopicFilterArbitrary(): fc.Arbitrary<string> {
  const level = fc.oneof({ weight: 4, arbitrary: plainLevel }, { weight: 1, arbitrary: fc.constant('+') });
  return fc
    .tuple(fc.array(level, { minLength: 0, maxLength: 4 }), fc.boolean())
    .map(([levels, multiLevel]) => (multiLevel ? [...levels, '#'] : levels).join('/'))
    .filter((filter) => filter.length > 0);
}

/**
 * A topic filter, sometimes a shared subscription `$share/{ShareName}/{filter}` [MQTT-4.8.2-2]. In
 * 3.1.1 such a string is an ordinary filter whose first level is `$share`, so it is valid there too.
 */
export function topicFilterArbitrary(): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 5, arbitrary: plainTopicFilterArbitrary() },
    {
      weight: 1,
      arbitrary: fc
        .tuple(shareName, plainTopicFilterArbitrary())
        .map(([share, filter]) => `$share/${share}/${filter}`),
    },
  );
}

/** True when `filter` names a shared subscription (5.0 section 4.8.2). */
export function isSharedFilter(filter: string): boolean {
  return filter.startsWith('$share/');
}

/** A packet identifier: non-zero [MQTT-2.2.1-3] (3.1.1: [MQTT-2.3.1-1]). */
export const packetIdArbitrary: fc.Arbitrary<number> = fc.integer({ min: 1, max: 0xffff });

const qosArbitrary: fc.Arbitrary<QoS> = fc.constantFrom<QoS>(0, 1, 2);

/**
 * Binary data: mostly short random bytes, sometimes a few hundred, rarely tens of KiB so that
 * two- and three-byte Remaining Lengths occur. Long ones are filled from a seed, which is much
 * cheaper to generate (and shrink) than byte-by-byte arrays.
 */
export function bytesArbitrary(maxLength = 20_000): fc.Arbitrary<Buffer> {
  const seeded = fc
    .tuple(fc.integer({ min: 0, max: maxLength }), fc.integer({ min: 1, max: 0x7fffffff }))
    .map(([length, seed]) => {
      const bytes = Buffer.allocUnsafe(length);
      let state = seed;
      for (let i = 0; i < length; i++) {
        // xorshift32: deterministic filler, good enough to avoid accidental structure.
        state ^= state << 13;
        state ^= state >>> 17;
        state ^= state << 5;
        bytes[i] = state & 0xff;
      }
      return bytes;
    });
  return fc.oneof(
    {
      weight: 8,
      arbitrary: fc.uint8Array({ maxLength: Math.min(64, maxLength) }).map((a) => Buffer.from(a)),
    },
    {
      weight: 2,
      arbitrary: fc.uint8Array({ maxLength: Math.min(400, maxLength) }).map((a) => Buffer.from(a)),
    },
    { weight: 1, arbitrary: seeded },
  );
}

/** Short binary data for properties, passwords and correlation data. */
const shortBytes: fc.Arbitrary<Buffer> = fc.uint8Array({ maxLength: 24 }).map((a) => Buffer.from(a));

const uint16 = fc.integer({ min: 0, max: 0xffff });
const uint32 = fc.nat({ max: 0xffffffff });
const flag01 = fc.constantFrom(0, 1);

/**
 * The JavaScript key order of `names`: integer-like keys ascending, then the others in insertion
 * order. Object-backed user properties (mqtt-packet) can only produce this order.
 */
function objectKeyOrder(names: readonly string[]): string[] {
  const probe: Record<string, true> = Object.create(null);
  for (const name of names) probe[name] = true;
  return Object.getOwnPropertyNames(probe);
}

/**
 * User properties (spec 3.1.2.11.8): pairs of UTF-8 strings, names may repeat, order significant.
 * A few fixed names make repeats likely.
 */
export function userPropertiesArbitrary(options: PacketArbitraryOptions = {}): fc.Arbitrary<UserProperty[]> {
  const name = fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom('k', 'region', '1', '') },
    { weight: 3, arbitrary: utf8StringArbitrary({ maxLength: 8 }) },
  );
  const value = utf8StringArbitrary({ maxLength: 10 });
  if (!options.groupedUserProperties) {
    return fc.array(
      fc.tuple(name, value).map(([n, v]): UserProperty => [n, v]),
      { maxLength: 5 },
    );
  }
  return fc
    .uniqueArray(fc.tuple(name, fc.array(value, { minLength: 1, maxLength: 3 })), {
      selector: ([groupName]) => groupName,
      maxLength: 4,
    })
    .map((groups) => {
      const byName = new Map(groups);
      return objectKeyOrder(groups.map(([groupName]) => groupName)).flatMap((groupName) =>
        (byName.get(groupName) ?? []).map((v): UserProperty => [groupName, v]),
      );
    });
}

type PropertyValueArbitraries = { [K in PropertyName]-?: fc.Arbitrary<NonNullable<Properties[K]>> };

/** Value arbitraries for every property, within the ranges the spec allows (section 3.x.2.2). */
function propertyValueArbitraries(
  context: PropertyContext,
  options: PacketArbitraryOptions,
): PropertyValueArbitraries {
  return {
    payloadFormatIndicator: flag01,
    messageExpiryInterval: uint32,
    contentType: utf8StringArbitrary(),
    // Response Topic is a topic name, no wildcards [MQTT-3.3.2-14].
    responseTopic: topicNameArbitrary(),
    correlationData: shortBytes,
    // Subscription Identifier 1..268,435,455, 0 is a Protocol Error (3.3.2.3.8); SUBSCRIBE carries one,
    // a PUBLISH from the server one per matching subscription (3.3.4, [MQTT-3.3.4-4]).
    subscriptionIdentifiers: fc.array(fc.integer({ min: 1, max: 268_435_455 }), {
      minLength: 1,
      maxLength: context === 'subscribe' ? 1 : 3,
    }),
    sessionExpiryInterval: uint32,
    assignedClientIdentifier: utf8StringArbitrary({ minLength: 1 }),
    serverKeepAlive: uint16,
    authenticationMethod: utf8StringArbitrary({ minLength: 1 }),
    authenticationData: shortBytes,
    requestProblemInformation: flag01,
    willDelayInterval: uint32,
    requestResponseInformation: flag01,
    responseInformation: utf8StringArbitrary(),
    serverReference: utf8StringArbitrary(),
    reasonString: utf8StringArbitrary(),
    // Receive Maximum 0 is a Protocol Error (3.1.2.11.3, 3.2.2.3.3).
    receiveMaximum: fc.integer({ min: 1, max: 0xffff }),
    topicAliasMaximum: uint16,
    // Topic Alias 0 is not permitted [MQTT-3.3.2-8].
    topicAlias: fc.integer({ min: 1, max: 0xffff }),
    // Maximum QoS is 0 or 1 (3.2.2.3.4); absent means 2.
    maximumQoS: flag01,
    retainAvailable: flag01,
    userProperties: userPropertiesArbitrary(options),
    // Maximum Packet Size 0 is a Protocol Error (3.1.2.11.4, 3.2.2.3.6).
    maximumPacketSize: fc.integer({ min: 1, max: 0xffffffff }),
    wildcardSubscriptionAvailable: flag01,
    subscriptionIdentifiersAvailable: flag01,
    sharedSubscriptionAvailable: flag01,
  };
}

/** Names of the properties allowed in `context` (spec table 2-4). */
export function propertyNamesFor(context: PropertyContext): PropertyName[] {
  return PropertyDefinitions.filter((def) => def.packets.includes(context)).map((def) => def.name);
}

/** Drops empty lists and the properties whose presence depends on another one. */
function tidyProperties(properties: Properties, context: PropertyContext): Properties | undefined {
  const tidy: Properties = { ...properties };
  if (tidy.userProperties !== undefined && tidy.userProperties.length === 0) delete tidy.userProperties;
  // Authentication Data without an Authentication Method is a Protocol Error (3.1.2.11.10, 3.2.2.3.18).
  if (tidy.authenticationData !== undefined && tidy.authenticationMethod === undefined) {
    delete tidy.authenticationData;
  }
  // An AUTH packet must carry the Authentication Method (3.15.2.2.2); the generator always adds it.
  if (context === 'auth' && tidy.authenticationMethod === undefined) return undefined;
  return Object.keys(tidy).length === 0 ? undefined : tidy;
}

/**
 * Properties valid for `context` (a packet type, or `will`), or undefined for none. For AUTH the
 * Authentication Method is always present.
 */
export function propertiesArbitrary(
  context: PropertyContext,
  options: PacketArbitraryOptions = {},
): fc.Arbitrary<Properties | undefined> {
  const values = propertyValueArbitraries(context, options);
  const model: Partial<Record<PropertyName, fc.Arbitrary<unknown>>> = {};
  for (const name of propertyNamesFor(context)) model[name] = values[name];
  const requiredKeys: PropertyName[] = context === 'auth' ? ['authenticationMethod'] : [];
  const record = fc
    .record(model, { requiredKeys, noNullPrototype: true })
    .map((props) => tidyProperties(props as Properties, context));
  if (context === 'auth') return record;
  return fc.option(record, { nil: undefined, freq: 3 }).map((props) => props ?? undefined);
}

/** Payload for a message whose Payload Format Indicator may say UTF-8 (3.3.2.3.2). */
function payloadFor(properties: Properties | undefined, maxLength?: number): fc.Arbitrary<Buffer> {
  if (properties?.payloadFormatIndicator === 1) {
    return utf8StringArbitrary({ maxLength: 40 }).map((s) => Buffer.from(s, 'utf8'));
  }
  return bytesArbitrary(maxLength);
}

function willArbitrary(
  version: ArbitraryVersion,
  options: PacketArbitraryOptions,
): fc.Arbitrary<WillMessage> {
  const properties = version === 5 ? propertiesArbitrary('will', options) : fc.constant(undefined);
  return fc
    .record({ topic: topicNameArbitrary(), qos: qosArbitrary, retain: fc.boolean(), properties })
    .chain(({ topic, qos, retain, properties: props }) =>
      payloadFor(props, 2000).map((payload): WillMessage => {
        const will: WillMessage = { topic, payload, qos, retain };
        if (props !== undefined) will.properties = props;
        return will;
      }),
    );
}

function connectArbitrary(
  version: ArbitraryVersion,
  options: PacketArbitraryOptions,
): fc.Arbitrary<ConnectPacket> {
  return fc
    .record({
      clean: fc.boolean(),
      keepalive: uint16,
      clientId: fc.oneof(fc.constant(''), utf8StringArbitrary({ maxLength: 23 })),
      will: fc.option(willArbitrary(version, options), { nil: undefined }),
      username: fc.option(utf8StringArbitrary(), { nil: undefined }),
      password: fc.option(shortBytes, { nil: undefined }),
      properties: version === 5 ? propertiesArbitrary('connect', options) : fc.constant(undefined),
    })
    .map((fields) => {
      const packet: ConnectPacket = {
        type: 'connect',
        protocolName: 'MQTT',
        protocolVersion: version,
        // A zero-byte ClientId needs CleanSession 1 in 3.1.1 [MQTT-3.1.3-7]; 5.0 lifts this (3.1.3.1).
        clean: version === 4 && fields.clientId === '' ? true : fields.clean,
        keepalive: fields.keepalive,
        clientId: fields.clientId,
      };
      if (fields.will !== undefined) packet.will = fields.will;
      if (fields.username !== undefined) packet.username = fields.username;
      // 3.1.1 allows a password only with a user name [MQTT-3.1.2-22]; 5.0 allows it alone (3.1.2.9).
      if (fields.password !== undefined && (version === 5 || fields.username !== undefined)) {
        packet.password = fields.password;
      }
      if (fields.properties !== undefined) packet.properties = fields.properties;
      return packet;
    });
}

function connackArbitrary(
  version: ArbitraryVersion,
  options: PacketArbitraryOptions,
): fc.Arbitrary<ConnackPacket> {
  const codes: readonly number[] = version === 5 ? ReasonCodesByPacket.connack : [0, 1, 2, 3, 4, 5];
  return fc
    .record({
      sessionPresent: fc.boolean(),
      reasonCode: fc.constantFrom(...codes),
      properties: version === 5 ? propertiesArbitrary('connack', options) : fc.constant(undefined),
    })
    .map(({ sessionPresent, reasonCode, properties }) => {
      // Session Present is 0 with a non-zero code [MQTT-3.2.2-6] (3.1.1: [MQTT-3.2.2-4]).
      const packet: ConnackPacket = {
        type: 'connack',
        sessionPresent: reasonCode === 0 && sessionPresent,
        reasonCode,
      };
      if (properties !== undefined) packet.properties = properties;
      return packet;
    });
}

function publishArbitrary(
  version: ArbitraryVersion,
  options: PacketArbitraryOptions,
): fc.Arbitrary<PublishPacket> {
  return fc
    .record({
      qos: qosArbitrary,
      retain: fc.boolean(),
      dup: fc.boolean(),
      packetId: packetIdArbitrary,
      topic: topicNameArbitrary(),
      omitTopic: fc.boolean(),
      properties: version === 5 ? propertiesArbitrary('publish', options) : fc.constant(undefined),
    })
    .chain((f) =>
      payloadFor(f.properties).map((payload) => {
        const packet: PublishPacket = {
          type: 'publish',
          // A zero-length Topic Name is allowed only with a Topic Alias (3.3.2.3.4).
          topic: f.omitTopic && f.properties?.topicAlias !== undefined ? '' : f.topic,
          payload,
          qos: f.qos,
          retain: f.retain,
          // DUP is 0 for QoS 0 [MQTT-3.3.1-2].
          dup: f.qos > 0 && f.dup,
        };
        // A Packet Identifier exactly when QoS > 0 [MQTT-2.2.1-2].
        if (f.qos > 0) packet.packetId = f.packetId;
        if (f.properties !== undefined) packet.properties = f.properties;
        return packet;
      }),
    );
}

type AckTypeName = 'puback' | 'pubrec' | 'pubrel' | 'pubcomp';

function ackArbitrary<T extends AckTypeName>(
  type: T,
  version: ArbitraryVersion,
  options: PacketArbitraryOptions,
): fc.Arbitrary<PacketOf<T>> {
  if (version === 4) return packetIdArbitrary.map((packetId) => ({ type, packetId }) as PacketOf<T>);
  return fc
    .record({
      packetId: packetIdArbitrary,
      // [MQTT-3.4.2-1], [MQTT-3.5.2-1], [MQTT-3.6.2-1], [MQTT-3.7.2-1]: codes from the packet's table.
      reasonCode: fc.option(fc.constantFrom(...ReasonCodesByPacket[type]), { nil: undefined }),
      properties: propertiesArbitrary(type, options),
    })
    .map(({ packetId, reasonCode, properties }) => {
      const packet: PubackPacket | PubrecPacket | PubrelPacket | PubcompPacket = {
        type,
        packetId,
      } as PacketOf<T>;
      if (reasonCode !== undefined) packet.reasonCode = reasonCode;
      if (properties !== undefined) packet.properties = properties;
      return packet as PacketOf<T>;
    });
}

function subscriptionArbitrary(version: ArbitraryVersion): fc.Arbitrary<Subscription> {
  return fc
    .record({
      topicFilter: topicFilterArbitrary(),
      qos: qosArbitrary,
      noLocal: fc.boolean(),
      retainAsPublished: fc.boolean(),
      // Retain Handling 3 is a Protocol Error (3.8.3.1).
      retainHandling: fc.constantFrom<0 | 1 | 2>(0, 1, 2),
    })
    .map((f) => {
      const subscription: Subscription = { topicFilter: f.topicFilter, qos: f.qos };
      if (version === 5) {
        // No Local on a shared subscription is a Protocol Error [MQTT-3.8.3-4].
        subscription.noLocal = f.noLocal && !isSharedFilter(f.topicFilter);
        subscription.retainAsPublished = f.retainAsPublished;
        subscription.retainHandling = f.retainHandling;
      }
      return subscription;
    });
}

function subscribeArbitrary(
  version: ArbitraryVersion,
  options: PacketArbitraryOptions,
): fc.Arbitrary<SubscribePacket> {
  return fc
    .record({
      packetId: packetIdArbitrary,
      // At least one subscription [MQTT-3.8.3-2] (3.1.1: [MQTT-3.8.3-3]).
      subscriptions: fc.array(subscriptionArbitrary(version), { minLength: 1, maxLength: 4 }),
      properties: version === 5 ? propertiesArbitrary('subscribe', options) : fc.constant(undefined),
    })
    .map(({ packetId, subscriptions, properties }) => {
      const packet: SubscribePacket = { type: 'subscribe', packetId, subscriptions };
      if (properties !== undefined) packet.properties = properties;
      return packet;
    });
}

function subackArbitrary(
  version: ArbitraryVersion,
  options: PacketArbitraryOptions,
): fc.Arbitrary<SubackPacket> {
  // [MQTT-3.9.3-2]; 3.1.1 allows 0x00, 0x01, 0x02 and 0x80 only (3.1.1 section 3.9.3).
  const codes: readonly number[] = version === 5 ? ReasonCodesByPacket.suback : [0x00, 0x01, 0x02, 0x80];
  return fc
    .record({
      packetId: packetIdArbitrary,
      reasonCodes: fc.array(fc.constantFrom(...codes), { minLength: 1, maxLength: 6 }),
      properties: version === 5 ? propertiesArbitrary('suback', options) : fc.constant(undefined),
    })
    .map(({ packetId, reasonCodes, properties }) => {
      const packet: SubackPacket = { type: 'suback', packetId, reasonCodes };
      if (properties !== undefined) packet.properties = properties;
      return packet;
    });
}

function unsubscribeArbitrary(
  version: ArbitraryVersion,
  options: PacketArbitraryOptions,
): fc.Arbitrary<UnsubscribePacket> {
  return fc
    .record({
      packetId: packetIdArbitrary,
      // At least one topic filter [MQTT-3.10.3-2].
      topicFilters: fc.array(topicFilterArbitrary(), { minLength: 1, maxLength: 4 }),
      properties: version === 5 ? propertiesArbitrary('unsubscribe', options) : fc.constant(undefined),
    })
    .map(({ packetId, topicFilters, properties }) => {
      const packet: UnsubscribePacket = { type: 'unsubscribe', packetId, topicFilters };
      if (properties !== undefined) packet.properties = properties;
      return packet;
    });
}

function unsubackArbitrary(
  version: ArbitraryVersion,
  options: PacketArbitraryOptions,
): fc.Arbitrary<UnsubackPacket> {
  if (version === 4)
    return packetIdArbitrary.map((packetId): UnsubackPacket => ({ type: 'unsuback', packetId }));
  return fc
    .record({
      packetId: packetIdArbitrary,
      // One code per topic filter, from the UNSUBACK table [MQTT-3.11.3-2].
      reasonCodes: fc.array(fc.constantFrom(...ReasonCodesByPacket.unsuback), { minLength: 1, maxLength: 6 }),
      properties: propertiesArbitrary('unsuback', options),
    })
    .map(({ packetId, reasonCodes, properties }) => {
      const packet: UnsubackPacket = { type: 'unsuback', packetId, reasonCodes };
      if (properties !== undefined) packet.properties = properties;
      return packet;
    });
}

function disconnectArbitrary(
  version: ArbitraryVersion,
  options: PacketArbitraryOptions,
): fc.Arbitrary<DisconnectPacket> {
  if (version === 4) return fc.constant<DisconnectPacket>({ type: 'disconnect' });
  return fc
    .record({
      // [MQTT-3.14.2-1]
      reasonCode: fc.option(fc.constantFrom(...ReasonCodesByPacket.disconnect), { nil: undefined }),
      properties: propertiesArbitrary('disconnect', options),
    })
    .map(({ reasonCode, properties }) => {
      const packet: DisconnectPacket = { type: 'disconnect' };
      if (reasonCode !== undefined) packet.reasonCode = reasonCode;
      if (properties !== undefined) packet.properties = properties;
      return packet;
    });
}

function authArbitrary(options: PacketArbitraryOptions): fc.Arbitrary<AuthPacket> {
  return fc
    .record({
      // [MQTT-3.15.2-1]
      reasonCode: fc.option(fc.constantFrom(...ReasonCodesByPacket.auth), { nil: undefined }),
      properties: propertiesArbitrary('auth', options),
    })
    .map(({ reasonCode, properties }) => {
      const packet: AuthPacket = { type: 'auth' };
      if (reasonCode !== undefined) packet.reasonCode = reasonCode;
      if (properties !== undefined) packet.properties = properties;
      return packet;
    });
}

/** Valid packets of one type for one protocol level. AUTH exists only at level 5. */
export function packetArbitrary<T extends PacketTypeName>(
  type: T,
  version: ArbitraryVersion,
  options: PacketArbitraryOptions = {},
): fc.Arbitrary<PacketOf<T>> {
  return packetArbitraryUntyped(type, version, options) as fc.Arbitrary<PacketOf<T>>;
}

function packetArbitraryUntyped(
  type: PacketTypeName,
  version: ArbitraryVersion,
  options: PacketArbitraryOptions,
): fc.Arbitrary<Packet> {
  switch (type) {
    case 'connect':
      return connectArbitrary(version, options);
    case 'connack':
      return connackArbitrary(version, options);
    case 'publish':
      return publishArbitrary(version, options);
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      return ackArbitrary(type, version, options);
    case 'subscribe':
      return subscribeArbitrary(version, options);
    case 'suback':
      return subackArbitrary(version, options);
    case 'unsubscribe':
      return unsubscribeArbitrary(version, options);
    case 'unsuback':
      return unsubackArbitrary(version, options);
    case 'pingreq':
      return fc.constant<PingreqPacket>({ type: 'pingreq' });
    case 'pingresp':
      return fc.constant<PingrespPacket>({ type: 'pingresp' });
    case 'disconnect':
      return disconnectArbitrary(version, options);
    case 'auth':
      if (version !== 5) throw new RangeError('AUTH exists only in MQTT 5.0');
      return authArbitrary(options);
  }
}

/** A valid packet of any type that exists at `version`. */
export function anyPacketArbitrary(
  version: ArbitraryVersion,
  options: PacketArbitraryOptions = {},
): fc.Arbitrary<Packet> {
  return fc.oneof(...PACKET_TYPES_BY_VERSION[version].map((type) => packetArbitrary(type, version, options)));
}
