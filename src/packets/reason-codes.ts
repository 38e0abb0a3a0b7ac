/**
 * MQTT 5.0 reason codes (section 2.4) and MQTT 3.x CONNACK return codes, as data.
 *
 * Several names share one byte value (0x00 is Success, Normal disconnection and Granted QoS 0);
 * each name is its own key so call sites say which meaning they use.
 */
export const ReasonCode = {
  Success: 0x00,
  NormalDisconnection: 0x00,
  GrantedQoS0: 0x00,
  GrantedQoS1: 0x01,
  GrantedQoS2: 0x02,
  DisconnectWithWillMessage: 0x04,
  NoMatchingSubscribers: 0x10,
  NoSubscriptionExisted: 0x11,
  ContinueAuthentication: 0x18,
  ReAuthenticate: 0x19,
  UnspecifiedError: 0x80,
  MalformedPacket: 0x81,
  ProtocolError: 0x82,
  ImplementationSpecificError: 0x83,
  UnsupportedProtocolVersion: 0x84,
  ClientIdentifierNotValid: 0x85,
  BadUserNameOrPassword: 0x86,
  NotAuthorized: 0x87,
  ServerUnavailable: 0x88,
  ServerBusy: 0x89,
  Banned: 0x8a,
  ServerShuttingDown: 0x8b,
  BadAuthenticationMethod: 0x8c,
  KeepAliveTimeout: 0x8d,
  SessionTakenOver: 0x8e,
  TopicFilterInvalid: 0x8f,
  TopicNameInvalid: 0x90,
  PacketIdentifierInUse: 0x91,
  PacketIdentifierNotFound: 0x92,
  ReceiveMaximumExceeded: 0x93,
  TopicAliasInvalid: 0x94,
  PacketTooLarge: 0x95,
  MessageRateTooHigh: 0x96,
  QuotaExceeded: 0x97,
  AdministrativeAction: 0x98,
  PayloadFormatInvalid: 0x99,
  RetainNotSupported: 0x9a,
  QoSNotSupported: 0x9b,
  UseAnotherServer: 0x9c,
  ServerMoved: 0x9d,
  SharedSubscriptionsNotSupported: 0x9e,
  ConnectionRateExceeded: 0x9f,
  MaximumConnectTime: 0xa0,
  SubscriptionIdentifiersNotSupported: 0xa1,
  WildcardSubscriptionsNotSupported: 0xa2,
} as const;

export type ReasonCodeName = keyof typeof ReasonCode;
export type ReasonCodeValue = (typeof ReasonCode)[ReasonCodeName];

/** Human-readable names per byte value, as the specification's table 2-6 prints them. */
export const ReasonCodeText: Readonly<Record<number, string>> = {
  0: 'Success',
  1: 'Granted QoS 1',
  2: 'Granted QoS 2',
  4: 'Disconnect with Will Message',
  16: 'No matching subscribers',
  17: 'No subscription existed',
  24: 'Continue authentication',
  25: 'Re-authenticate',
  128: 'Unspecified error',
  129: 'Malformed Packet',
  130: 'Protocol Error',
  131: 'Implementation specific error',
  132: 'Unsupported Protocol Version',
  133: 'Client Identifier not valid',
  134: 'Bad User Name or Password',
  135: 'Not authorized',
  136: 'Server unavailable',
  137: 'Server busy',
  138: 'Banned',
  139: 'Server shutting down',
  140: 'Bad authentication method',
  141: 'Keep Alive timeout',
  142: 'Session taken over',
  143: 'Topic Filter invalid',
  144: 'Topic Name invalid',
  145: 'Packet Identifier in use',
  146: 'Packet Identifier not found',
  147: 'Receive Maximum exceeded',
  148: 'Topic Alias invalid',
  149: 'Packet too large',
  150: 'Message rate too high',
  151: 'Quota exceeded',
  152: 'Administrative action',
  153: 'Payload format invalid',
  154: 'Retain not supported',
  155: 'QoS not supported',
  156: 'Use another server',
  157: 'Server moved',
  158: 'Shared Subscriptions not supported',
  159: 'Connection rate exceeded',
  160: 'Maximum connect time',
  161: 'Subscription Identifiers not supported',
  162: 'Wildcard Subscriptions not supported',
};

/** The reason codes each MQTT 5 packet type may carry (spec 3.2.2.2, 3.4.2.1, ..., 3.15.2.1). */
export const ReasonCodesByPacket = {
  connack: [
    0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x90, 0x95, 0x97, 0x99,
    0x9a, 0x9b, 0x9c, 0x9d, 0x9f,
  ],
  puback: [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99],
  pubrec: [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99],
  pubrel: [0x00, 0x92],
  pubcomp: [0x00, 0x92],
  suback: [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2],
  unsuback: [0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91],
  disconnect: [
    0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x8f, 0x90, 0x93, 0x94, 0x95, 0x96,
    0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2,
  ],
  auth: [0x00, 0x18, 0x19],
} as const satisfies Record<string, readonly number[]>;

/** MQTT 3.1 / 3.1.1 CONNACK return codes (3.1.1 section 3.2.2.3). */
export const ConnackReturnCodeV3 = {
  Accepted: 0,
  UnacceptableProtocolVersion: 1,
  IdentifierRejected: 2,
  ServerUnavailable: 3,
  BadUserNameOrPassword: 4,
  NotAuthorized: 5,
} as const;

export type ConnackReturnCodeV3Value = (typeof ConnackReturnCodeV3)[keyof typeof ConnackReturnCodeV3];

/**
 * The one table that maps an MQTT 5 CONNACK reason code to the MQTT 3.x return code sent instead.
 * Codes not listed here have no v3 CONNACK equivalent: the v3 client is disconnected without a CONNACK
 * (3.1.1 section 3.2.2.3 allows closing the connection when no applicable return code exists).
 */
export const V5ToV3ConnackCode: Readonly<Record<number, ConnackReturnCodeV3Value>> = {
  0: ConnackReturnCodeV3.Accepted,
  132: ConnackReturnCodeV3.UnacceptableProtocolVersion,
  133: ConnackReturnCodeV3.IdentifierRejected,
  134: ConnackReturnCodeV3.BadUserNameOrPassword,
  135: ConnackReturnCodeV3.NotAuthorized,
  138: ConnackReturnCodeV3.NotAuthorized,
  140: ConnackReturnCodeV3.NotAuthorized,
  136: ConnackReturnCodeV3.ServerUnavailable,
  137: ConnackReturnCodeV3.ServerUnavailable,
  151: ConnackReturnCodeV3.ServerUnavailable,
  156: ConnackReturnCodeV3.ServerUnavailable,
  157: ConnackReturnCodeV3.ServerUnavailable,
  159: ConnackReturnCodeV3.ServerUnavailable,
};

/** The v3 return code for a v5 CONNACK reason code, or undefined when v3 has none (close instead). */
export function toV3ConnackCode(v5Code: number): ConnackReturnCodeV3Value | undefined {
  return V5ToV3ConnackCode[v5Code];
}

/** A printable name for a reason code byte, e.g. `0x87 Not authorized`. */
export function reasonCodeText(code: number): string {
  return ReasonCodeText[code] ?? `Unknown reason code 0x${code.toString(16).padStart(2, '0')}`;
}
