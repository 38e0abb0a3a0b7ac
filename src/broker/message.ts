import type { Properties, QoS, UserProperty } from '../packets/types.js';

/**
 * A message as the broker routes and stores it: immutable once created, shared by every subscriber
 * it is delivered to (the payload buffer is never copied per subscriber).
 */
export interface Message {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
  /** Application properties forwarded unchanged to subscribers ([MQTT-3.3.2-15] .. [MQTT-3.3.2-20]). */
  readonly properties: ForwardedProperties | undefined;
  /** Absolute expiry (ms since epoch) from the v5 Message Expiry Interval; undefined = never. */
  readonly expiresAt: number | undefined;
  /** Client id of the publisher (for No Local), undefined for the inline client. */
  readonly origin: string | undefined;
  /** Bytes the message holds, for queue byte limits. */
  readonly size: number;
}

/** The PUBLISH properties the broker forwards as they came (never Topic Alias or Subscription Identifiers). */
export interface ForwardedProperties {
  payloadFormatIndicator?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  userProperties?: UserProperty[];
}

export function createMessage(
  topic: string,
  payload: Buffer,
  qos: QoS,
  retain: boolean,
  properties: Properties | undefined,
  origin: string | undefined,
  now: number,
): Message {
  let forwarded: ForwardedProperties | undefined;
  let expiresAt: number | undefined;
  if (properties !== undefined) {
    forwarded = pickForwarded(properties);
    if (properties.messageExpiryInterval !== undefined) {
      expiresAt = now + properties.messageExpiryInterval * 1000;
    }
  }
  return {
    topic,
    payload,
    qos,
    retain,
    properties: forwarded,
    expiresAt,
    origin,
    size: payload.length + topic.length,
  };
}

function pickForwarded(p: Properties): ForwardedProperties | undefined {
  if (
    p.payloadFormatIndicator === undefined &&
    p.contentType === undefined &&
    p.responseTopic === undefined &&
    p.correlationData === undefined &&
    p.userProperties === undefined
  ) {
    return undefined;
  }
  const out: ForwardedProperties = {};
  if (p.payloadFormatIndicator !== undefined) out.payloadFormatIndicator = p.payloadFormatIndicator;
  if (p.contentType !== undefined) out.contentType = p.contentType;
  if (p.responseTopic !== undefined) out.responseTopic = p.responseTopic;
  if (p.correlationData !== undefined) out.correlationData = p.correlationData;
  if (p.userProperties !== undefined) out.userProperties = p.userProperties;
  return out;
}

/** A copy of a message with another retain flag / qos (used for retained delivery and stored wills). */
export function withFlags(message: Message, qos: QoS, retain: boolean): Message {
  if (message.qos === qos && message.retain === retain) return message;
  return { ...message, qos, retain };
}

/** Seconds left before expiry, rounded up; undefined when the message never expires. */
export function remainingExpirySeconds(message: Message, now: number): number | undefined {
  if (message.expiresAt === undefined) return undefined;
  return Math.max(0, Math.ceil((message.expiresAt - now) / 1000));
}

export function isExpired(message: Message, now: number): boolean {
  return message.expiresAt !== undefined && message.expiresAt <= now;
}

/**
 * Parsed payloads are views of the socket chunk they arrived in. A message kept for long (retained, queued
 * for an offline client, a will) gets bytes of its own when the view is much smaller than the chunk, so a
 * 10-byte retained message never pins a 64 KiB read buffer.
 */
export function ownBytes(buffer: Buffer): Buffer {
  if (buffer.buffer.byteLength <= buffer.length * 2 + 1024) return buffer;
  return Buffer.from(buffer);
}

/** The message itself, or a copy whose payload (and correlation data) own their bytes. */
export function detached(message: Message): Message {
  const payload = ownBytes(message.payload);
  const correlation = message.properties?.correlationData;
  const ownCorrelation = correlation === undefined ? undefined : ownBytes(correlation);
  if (payload === message.payload && ownCorrelation === correlation) return message;
  const properties =
    message.properties === undefined || ownCorrelation === undefined
      ? message.properties
      : { ...message.properties, correlationData: ownCorrelation };
  return { ...message, payload, properties };
}
