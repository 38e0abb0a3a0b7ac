import type { ForwardedProperties, Message } from '../broker/message.js';
import type { QoS } from '../packets/types.js';

/**
 * A message as bytes between nodes and in the backend: a compact binary form (messages are the bulk).
 * Decoded payloads are views of the buffer they came in (no copy); the engine detaches what it keeps for
 * long.
 */

const FLAG_RETAIN = 0x01;
const FLAG_EXPIRES = 0x08;
const FLAG_ORIGIN = 0x10;
const FLAG_PROPERTIES = 0x20;

/** A message as bytes: flags (retain, QoS, optional parts), topic, expiry, origin, properties, payload. */
export function encodeMessage(message: Message): Buffer {
  return encodeMessageAfter(message, 0);
}

/**
 * The message encoded at offset `reserve` of a new buffer, whose first `reserve` bytes are left for the
 * caller (a frame header). Strings are written in place: no buffer per topic or origin.
 */
export function encodeMessageAfter(message: Message, reserve: number): Buffer {
  const out = Buffer.allocUnsafe(reserve + measureMessage(message));
  writeMeasured(message, out, reserve);
  return out;
}

// What `measureMessage` found, for the `writeMeasured` that follows it (no object per message).
let measuredFlags = 0;
let measuredTopicLength = 0;
let measuredTopicAscii = false;
let measuredOriginLength = 0;
let measuredOriginAscii = false;
let measuredProperties: Buffer | undefined;

/** The encoded size of `message`; remembers what `writeMeasured` needs next. */
export function measureMessage(message: Message): number {
  const topic = message.topic;
  let topicLength = asciiLength(topic);
  measuredTopicAscii = topicLength >= 0;
  if (topicLength < 0) topicLength = Buffer.byteLength(topic);
  const origin = message.origin;
  const properties =
    message.properties === undefined
      ? undefined
      : Buffer.from(JSON.stringify(message.properties, bufferReplacer));
  let size = 1 + 2 + topicLength + 4 + message.payload.length;
  let flags = (message.retain ? FLAG_RETAIN : 0) | (message.qos << 1);
  if (message.expiresAt !== undefined) {
    flags |= FLAG_EXPIRES;
    size += 8;
  }
  measuredOriginLength = 0;
  if (origin !== undefined) {
    flags |= FLAG_ORIGIN;
    let originLength = asciiLength(origin);
    measuredOriginAscii = originLength >= 0;
    if (originLength < 0) originLength = Buffer.byteLength(origin);
    measuredOriginLength = originLength;
    size += 2 + originLength;
  }
  if (properties !== undefined) {
    flags |= FLAG_PROPERTIES;
    size += 4 + properties.length;
  }
  measuredFlags = flags;
  measuredTopicLength = topicLength;
  measuredProperties = properties;
  return size;
}

/** Write the message `measureMessage` measured last at `offset` of `out`. */
export function writeMeasured(message: Message, out: Buffer, offset: number): void {
  let at = offset;
  out[at++] = measuredFlags;
  const topicLength = measuredTopicLength;
  out[at++] = topicLength >>> 8;
  out[at++] = topicLength & 0xff;
  at = writeString(out, at, message.topic, topicLength, measuredTopicAscii);
  if (message.expiresAt !== undefined) at = out.writeDoubleBE(message.expiresAt, at);
  if (message.origin !== undefined) {
    at = out.writeUInt16BE(measuredOriginLength, at);
    at = writeString(out, at, message.origin, measuredOriginLength, measuredOriginAscii);
  }
  const properties = measuredProperties;
  if (properties !== undefined) {
    at = out.writeUInt32BE(properties.length, at);
    out.set(properties, at);
    at += properties.length;
  }
  const payload = message.payload;
  at = out.writeUInt32BE(payload.length, at);
  out.set(payload, at);
}

/** Strings up to this length are checked for ASCII and, when they are, written byte by byte. */
const SHORT_STRING = 128;

/** The length of `text` when it is short and ASCII only (one byte per character), else -1. */
function asciiLength(text: string): number {
  const length = text.length;
  if (length > SHORT_STRING) return -1;
  for (let i = 0; i < length; i++) if (text.charCodeAt(i) > 0x7f) return -1;
  return length;
}

/**
 * Write `text` (`length` bytes of UTF-8) at `at`; returns where it ends. A short ASCII string is copied by
 * hand: for a topic or client id that is cheaper than the generic encoder's call.
 */
function writeString(out: Buffer, at: number, text: string, length: number, ascii: boolean): number {
  if (!ascii) return at + out.write(text, at, length);
  for (let i = 0; i < length; i++) out[at + i] = text.charCodeAt(i);
  return at + length;
}

/**
 * The string decoded last at one place and its bytes: consecutive messages often share their topic and
 * origin (a publisher's stream), and comparing a few bytes costs less than decoding them again.
 */
class LastString {
  private text = '';
  private length = -1;
  private readonly bytes = Buffer.allocUnsafe(SHORT_STRING);

  read(buffer: Buffer, start: number, length: number): string {
    const bytes = this.bytes;
    if (length === this.length) {
      // From the end: topics of one tree differ there.
      let i = length - 1;
      while (i >= 0 && buffer[start + i] === bytes[i]) i--;
      if (i < 0) return this.text;
    }
    const text = buffer.toString('utf8', start, start + length);
    if (length <= SHORT_STRING) {
      for (let i = 0; i < length; i++) bytes[i] = buffer[start + i] as number;
      this.text = text;
      this.length = length;
    }
    return text;
  }
}

const topics = new LastString();
const origins = new LastString();

/** A message read from `buffer` at `offset`; returns it and where it ended. */
export function decodeMessage(buffer: Buffer, offset = 0): { message: Message; end: number } {
  const message = readMessage(buffer, offset);
  return { message, end: readEnd };
}

/** Where the message `readMessage` read last ended (no object per message on the hot path). */
let readEnd = 0;

export function readMessage(buffer: Buffer, offset: number): Message {
  let at = offset;
  const flags = buffer[at] as number;
  at += 1;
  const topicLength = buffer.readUInt16BE(at);
  at += 2;
  const topic = topics.read(buffer, at, topicLength);
  at += topicLength;
  let expiresAt: number | undefined;
  if ((flags & FLAG_EXPIRES) !== 0) {
    expiresAt = buffer.readDoubleBE(at);
    at += 8;
  }
  let origin: string | undefined;
  if ((flags & FLAG_ORIGIN) !== 0) {
    const length = buffer.readUInt16BE(at);
    at += 2;
    origin = origins.read(buffer, at, length);
    at += length;
  }
  let properties: ForwardedProperties | undefined;
  if ((flags & FLAG_PROPERTIES) !== 0) {
    const length = buffer.readUInt32BE(at);
    at += 4;
    properties = JSON.parse(buffer.toString('utf8', at, at + length), bufferReviver) as ForwardedProperties;
    at += length;
  }
  const payloadLength = buffer.readUInt32BE(at);
  at += 4;
  const payload = buffer.subarray(at, at + payloadLength);
  readEnd = at + payloadLength;
  return {
    topic,
    payload,
    qos: ((flags >> 1) & 0x03) as QoS,
    retain: (flags & FLAG_RETAIN) !== 0,
    properties,
    expiresAt,
    origin,
    size: payload.length + topic.length,
  };
}

/** Buffers in JSON as `{"$b": base64}` (read from the holder: `toJSON` has already run on `value`). */
export function bufferReplacer(this: unknown, key: string, value: unknown): unknown {
  const raw = (this as Record<string, unknown>)[key];
  if (Buffer.isBuffer(raw)) return { $b: raw.toString('base64') };
  return value;
}

export function bufferReviver(_key: string, value: unknown): unknown {
  if (typeof value === 'object' && value !== null && '$b' in value) {
    const encoded = (value as { $b: unknown }).$b;
    if (typeof encoded === 'string') return Buffer.from(encoded, 'base64');
  }
  return value;
}
