/**
 * Reading a CONNACK: the reason code (v3 return codes mapped to v5 codes) and what the server announced.
 */
import { MqttError } from '../packets/errors.js';
import { ReasonCode } from '../packets/reason-codes.js';
import type { ConnackPacket, ProtocolVersionNumber, QoS } from '../packets/types.js';
import type { ServerCapabilities } from './types.js';

/** MQTT 3.x CONNACK return codes 1..5 as MQTT 5 reason codes (3.1.1 section 3.2.2.3). */
const V3_RETURN_CODES: Readonly<Record<number, number>> = {
  1: ReasonCode.UnsupportedProtocolVersion,
  2: ReasonCode.ClientIdentifierNotValid,
  3: ReasonCode.ServerUnavailable,
  4: ReasonCode.BadUserNameOrPassword,
  5: ReasonCode.NotAuthorized,
};

/** The MQTT 5 reason code of a CONNACK, mapping v3 return codes. */
export function connackReasonCode(code: number, protocolVersion: ProtocolVersionNumber): number {
  if (protocolVersion === 5 || code === 0) return code;
  return V3_RETURN_CODES[code] ?? ReasonCode.UnspecifiedError;
}

/** The error a refused CONNACK rejects `connect()` with. */
export function connackError(reasonCode: number, reasonString: string | undefined): MqttError {
  const detail = reasonString === undefined ? '' : `: ${reasonString}`;
  return new MqttError(reasonCode, `connection refused by the server${detail}`);
}

/** Capabilities before any CONNACK, and of every v3 server: no limits beyond the protocol's. */
export function defaultCapabilities(): ServerCapabilities {
  return {
    receiveMaximum: 0xffff,
    maximumPacketSize: Number.POSITIVE_INFINITY,
    maximumQoS: 2,
    retainAvailable: true,
    topicAliasMaximum: 0,
    wildcardSubscriptionAvailable: true,
    subscriptionIdentifiersAvailable: true,
    sharedSubscriptionAvailable: true,
  };
}

/** What a v5 CONNACK announced; absent properties take their spec defaults (3.2.2.3). */
export function capabilitiesFrom(
  connack: ConnackPacket,
  protocolVersion: ProtocolVersionNumber,
): ServerCapabilities {
  const capabilities = defaultCapabilities();
  const p = protocolVersion === 5 ? connack.properties : undefined;
  if (p === undefined) return capabilities;
  if (p.receiveMaximum !== undefined) capabilities.receiveMaximum = p.receiveMaximum;
  if (p.maximumPacketSize !== undefined) capabilities.maximumPacketSize = p.maximumPacketSize;
  if (p.maximumQoS !== undefined) capabilities.maximumQoS = Math.min(2, p.maximumQoS) as QoS;
  if (p.retainAvailable !== undefined) capabilities.retainAvailable = p.retainAvailable === 1;
  if (p.topicAliasMaximum !== undefined) capabilities.topicAliasMaximum = p.topicAliasMaximum;
  if (p.wildcardSubscriptionAvailable !== undefined) {
    capabilities.wildcardSubscriptionAvailable = p.wildcardSubscriptionAvailable === 1;
  }
  if (p.subscriptionIdentifiersAvailable !== undefined) {
    capabilities.subscriptionIdentifiersAvailable = p.subscriptionIdentifiersAvailable === 1;
  }
  if (p.sharedSubscriptionAvailable !== undefined) {
    capabilities.sharedSubscriptionAvailable = p.sharedSubscriptionAvailable === 1;
  }
  if (p.serverKeepAlive !== undefined) capabilities.serverKeepAlive = p.serverKeepAlive;
  capabilities.properties = p;
  return capabilities;
}
