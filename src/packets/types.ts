/**
 * The MQTT control packets as a discriminated union on `type`, for MQTT 3.1 (level 3), 3.1.1 (level 4)
 * and 5.0 (level 5). One shape serves every version: fields that exist only in v5 (reason codes on
 * acknowledgements, properties) are optional and ignored when encoding for v3.
 */

/** Packet type names and their fixed-header type numbers (spec 2.1.2). */
export const PacketType = {
  connect: 1,
  connack: 2,
  publish: 3,
  puback: 4,
  pubrec: 5,
  pubrel: 6,
  pubcomp: 7,
  subscribe: 8,
  suback: 9,
  unsubscribe: 10,
  unsuback: 11,
  pingreq: 12,
  pingresp: 13,
  disconnect: 14,
  auth: 15,
} as const;

export type PacketTypeName = keyof typeof PacketType;
export type PacketTypeNumber = (typeof PacketType)[PacketTypeName];

/** Packet type number to name; index 0 is reserved and undefined. */
export const PacketTypeNames: readonly (PacketTypeName | undefined)[] = [
  undefined,
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
];

/** Protocol levels as carried in CONNECT. */
export const ProtocolVersion = {
  /** MQTT 3.1, protocol name `MQIsdp`. */
  V31: 3,
  /** MQTT 3.1.1, protocol name `MQTT`. */
  V311: 4,
  /** MQTT 5.0, protocol name `MQTT`. */
  V5: 5,
} as const;

export type ProtocolVersionNumber = (typeof ProtocolVersion)[keyof typeof ProtocolVersion];

export type QoS = 0 | 1 | 2;

/** A user property: name and value, in the order sent; the same name may appear more than once. */
export type UserProperty = readonly [name: string, value: string];

/**
 * MQTT 5 properties (spec 2.2.2.2). Every property is optional; which ones a packet may carry is the
 * `packets` column of `PropertyDefinitions`. Byte-valued flags keep their numeric value (0 or 1) so
 * that a packet round-trips exactly and out-of-range values can be refused with the right code.
 */
export interface Properties {
  payloadFormatIndicator?: number;
  messageExpiryInterval?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  /** One identifier in SUBSCRIBE; in PUBLISH one per matching subscription (the only repeatable one besides user properties). */
  subscriptionIdentifiers?: number[];
  sessionExpiryInterval?: number;
  assignedClientIdentifier?: string;
  serverKeepAlive?: number;
  authenticationMethod?: string;
  authenticationData?: Buffer;
  requestProblemInformation?: number;
  willDelayInterval?: number;
  requestResponseInformation?: number;
  responseInformation?: string;
  serverReference?: string;
  reasonString?: string;
  receiveMaximum?: number;
  topicAliasMaximum?: number;
  topicAlias?: number;
  maximumQoS?: number;
  retainAvailable?: number;
  userProperties?: UserProperty[];
  maximumPacketSize?: number;
  wildcardSubscriptionAvailable?: number;
  subscriptionIdentifiersAvailable?: number;
  sharedSubscriptionAvailable?: number;
}

export type PropertyName = keyof Properties;

/** The wire data types of properties (spec 1.5). */
export type PropertyDataType = 'byte' | 'uint16' | 'uint32' | 'varint' | 'utf8' | 'binary' | 'pair';

/** Where a property may appear: a packet type name, or `will` for the CONNECT payload's will properties. */
export type PropertyContext = PacketTypeName | 'will';

export interface PropertyDefinition {
  readonly id: number;
  readonly name: PropertyName;
  readonly dataType: PropertyDataType;
  readonly packets: readonly PropertyContext[];
}

/** Property identifiers (spec table 2-4). */
export const PropertyId = {
  payloadFormatIndicator: 0x01,
  messageExpiryInterval: 0x02,
  contentType: 0x03,
  responseTopic: 0x08,
  correlationData: 0x09,
  subscriptionIdentifiers: 0x0b,
  sessionExpiryInterval: 0x11,
  assignedClientIdentifier: 0x12,
  serverKeepAlive: 0x13,
  authenticationMethod: 0x15,
  authenticationData: 0x16,
  requestProblemInformation: 0x17,
  willDelayInterval: 0x18,
  requestResponseInformation: 0x19,
  responseInformation: 0x1a,
  serverReference: 0x1c,
  reasonString: 0x1f,
  receiveMaximum: 0x21,
  topicAliasMaximum: 0x22,
  topicAlias: 0x23,
  maximumQoS: 0x24,
  retainAvailable: 0x25,
  userProperties: 0x26,
  maximumPacketSize: 0x27,
  wildcardSubscriptionAvailable: 0x28,
  subscriptionIdentifiersAvailable: 0x29,
  sharedSubscriptionAvailable: 0x2a,
} as const satisfies Record<PropertyName, number>;

const ACKS = ['puback', 'pubrec', 'pubrel', 'pubcomp', 'suback', 'unsuback'] as const;

/** Every MQTT 5 property: identifier, data type and the packets it may appear in (spec table 2-4). */
export const PropertyDefinitions: readonly PropertyDefinition[] = [
  { id: 0x01, name: 'payloadFormatIndicator', dataType: 'byte', packets: ['publish', 'will'] },
  { id: 0x02, name: 'messageExpiryInterval', dataType: 'uint32', packets: ['publish', 'will'] },
  { id: 0x03, name: 'contentType', dataType: 'utf8', packets: ['publish', 'will'] },
  { id: 0x08, name: 'responseTopic', dataType: 'utf8', packets: ['publish', 'will'] },
  { id: 0x09, name: 'correlationData', dataType: 'binary', packets: ['publish', 'will'] },
  { id: 0x0b, name: 'subscriptionIdentifiers', dataType: 'varint', packets: ['publish', 'subscribe'] },
  {
    id: 0x11,
    name: 'sessionExpiryInterval',
    dataType: 'uint32',
    packets: ['connect', 'connack', 'disconnect'],
  },
  { id: 0x12, name: 'assignedClientIdentifier', dataType: 'utf8', packets: ['connack'] },
  { id: 0x13, name: 'serverKeepAlive', dataType: 'uint16', packets: ['connack'] },
  { id: 0x15, name: 'authenticationMethod', dataType: 'utf8', packets: ['connect', 'connack', 'auth'] },
  { id: 0x16, name: 'authenticationData', dataType: 'binary', packets: ['connect', 'connack', 'auth'] },
  { id: 0x17, name: 'requestProblemInformation', dataType: 'byte', packets: ['connect'] },
  { id: 0x18, name: 'willDelayInterval', dataType: 'uint32', packets: ['will'] },
  { id: 0x19, name: 'requestResponseInformation', dataType: 'byte', packets: ['connect'] },
  { id: 0x1a, name: 'responseInformation', dataType: 'utf8', packets: ['connack'] },
  { id: 0x1c, name: 'serverReference', dataType: 'utf8', packets: ['connack', 'disconnect'] },
  {
    id: 0x1f,
    name: 'reasonString',
    dataType: 'utf8',
    packets: ['connack', ...ACKS, 'disconnect', 'auth'],
  },
  { id: 0x21, name: 'receiveMaximum', dataType: 'uint16', packets: ['connect', 'connack'] },
  { id: 0x22, name: 'topicAliasMaximum', dataType: 'uint16', packets: ['connect', 'connack'] },
  { id: 0x23, name: 'topicAlias', dataType: 'uint16', packets: ['publish'] },
  { id: 0x24, name: 'maximumQoS', dataType: 'byte', packets: ['connack'] },
  { id: 0x25, name: 'retainAvailable', dataType: 'byte', packets: ['connack'] },
  {
    id: 0x26,
    name: 'userProperties',
    dataType: 'pair',
    packets: [
      'connect',
      'connack',
      'publish',
      'will',
      ...ACKS,
      'subscribe',
      'unsubscribe',
      'disconnect',
      'auth',
    ],
  },
  { id: 0x27, name: 'maximumPacketSize', dataType: 'uint32', packets: ['connect', 'connack'] },
  { id: 0x28, name: 'wildcardSubscriptionAvailable', dataType: 'byte', packets: ['connack'] },
  { id: 0x29, name: 'subscriptionIdentifiersAvailable', dataType: 'byte', packets: ['connack'] },
  { id: 0x2a, name: 'sharedSubscriptionAvailable', dataType: 'byte', packets: ['connack'] },
];

/** Property definitions indexed by identifier byte (undefined for identifiers the spec does not define). */
export const PropertyById: readonly (PropertyDefinition | undefined)[] = (() => {
  const table: (PropertyDefinition | undefined)[] = new Array(256).fill(undefined);
  for (const def of PropertyDefinitions) table[def.id] = def;
  return table;
})();

export interface WillMessage {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  /** v5 will properties (will delay interval, message expiry, content type, ...). */
  properties?: Properties;
}

export interface ConnectPacket {
  type: 'connect';
  /** `MQTT` for levels 4 and 5, `MQIsdp` for level 3. */
  protocolName: string;
  protocolVersion: ProtocolVersionNumber;
  /** Clean Session (v3) / Clean Start (v5). */
  clean: boolean;
  /** Keep alive in seconds; 0 disables it. */
  keepalive: number;
  clientId: string;
  will?: WillMessage;
  username?: string;
  password?: Buffer;
  properties?: Properties;
}

export interface ConnackPacket {
  type: 'connack';
  sessionPresent: boolean;
  /** v5 reason code, or the v3 return code (0-5) when encoded for v3. */
  reasonCode: number;
  properties?: Properties;
}

export interface PublishPacket {
  type: 'publish';
  topic: string;
  /** A view of the received bytes when parsed; shared by reference when fanned out. */
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  dup: boolean;
  /** Present exactly when qos > 0. */
  packetId?: number;
  properties?: Properties;
}

interface AckBase {
  packetId: number;
  /** v5 only; absent means 0x00 Success. */
  reasonCode?: number;
  properties?: Properties;
}

export interface PubackPacket extends AckBase {
  type: 'puback';
}
export interface PubrecPacket extends AckBase {
  type: 'pubrec';
}
export interface PubrelPacket extends AckBase {
  type: 'pubrel';
}
export interface PubcompPacket extends AckBase {
  type: 'pubcomp';
}

export interface Subscription {
  topicFilter: string;
  /** Maximum QoS requested. */
  qos: QoS;
  /** v5 subscription options; absent means false / false / 0. */
  noLocal?: boolean;
  retainAsPublished?: boolean;
  retainHandling?: 0 | 1 | 2;
}

export interface SubscribePacket {
  type: 'subscribe';
  packetId: number;
  subscriptions: Subscription[];
  properties?: Properties;
}

export interface SubackPacket {
  type: 'suback';
  packetId: number;
  /** One per subscription: granted QoS or a failure code (0x80 in v3). */
  reasonCodes: number[];
  properties?: Properties;
}

export interface UnsubscribePacket {
  type: 'unsubscribe';
  packetId: number;
  topicFilters: string[];
  properties?: Properties;
}

export interface UnsubackPacket {
  type: 'unsuback';
  packetId: number;
  /** v5 only: one per topic filter. */
  reasonCodes?: number[];
  properties?: Properties;
}

export interface PingreqPacket {
  type: 'pingreq';
}
export interface PingrespPacket {
  type: 'pingresp';
}

export interface DisconnectPacket {
  type: 'disconnect';
  /** v5 only; absent means 0x00 Normal disconnection. */
  reasonCode?: number;
  properties?: Properties;
}

/** v5 only. */
export interface AuthPacket {
  type: 'auth';
  /** Absent means 0x00 Success. */
  reasonCode?: number;
  properties?: Properties;
}

export type Packet =
  | ConnectPacket
  | ConnackPacket
  | PublishPacket
  | PubackPacket
  | PubrecPacket
  | PubrelPacket
  | PubcompPacket
  | SubscribePacket
  | SubackPacket
  | UnsubscribePacket
  | UnsubackPacket
  | PingreqPacket
  | PingrespPacket
  | DisconnectPacket
  | AuthPacket;

/** The packet shape for a given type name. */
export type PacketOf<T extends PacketTypeName> = Extract<Packet, { type: T }>;
