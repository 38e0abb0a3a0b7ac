import type { ForwardedProperties, Message } from '../broker/message.js';
import type { RemoteTarget } from '../broker/routing.js';
import type { StoredDelivery, StoredSession, StoredSubscription, StoredWill } from '../broker/storage.js';
import type { QoS } from '../packets/types.js';

/**
 * How messages, deliveries and session records travel between nodes and sit in the backend: a compact
 * binary form for messages (they are the bulk), JSON for the small, rare records. Decoded payloads are views
 * of the buffer they came in (no copy); the engine detaches what it keeps for long.
 */

/** Topics that stay on their node (neither forwarded nor stored in the backend): each node has its own `$SYS/broker/...`. */
export function isNodeLocalTopic(topic: string): boolean {
  return topic.startsWith('$SYS/');
}

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
function encodeMessageAfter(message: Message, reserve: number): Buffer {
  const topicLength = Buffer.byteLength(message.topic);
  const origin = message.origin;
  const originLength = origin === undefined ? 0 : Buffer.byteLength(origin);
  const properties =
    message.properties === undefined
      ? undefined
      : Buffer.from(JSON.stringify(message.properties, bufferReplacer));
  let size = reserve + 1 + 2 + topicLength + 4 + message.payload.length;
  let flags = (message.retain ? FLAG_RETAIN : 0) | (message.qos << 1);
  if (message.expiresAt !== undefined) {
    flags |= FLAG_EXPIRES;
    size += 8;
  }
  if (origin !== undefined) {
    flags |= FLAG_ORIGIN;
    size += 2 + originLength;
  }
  if (properties !== undefined) {
    flags |= FLAG_PROPERTIES;
    size += 4 + properties.length;
  }
  const out = Buffer.allocUnsafe(size);
  let at = out.writeUInt8(flags, reserve);
  at = out.writeUInt16BE(topicLength, at);
  at += out.write(message.topic, at);
  if (message.expiresAt !== undefined) at = out.writeDoubleBE(message.expiresAt, at);
  if (origin !== undefined) {
    at = out.writeUInt16BE(originLength, at);
    at += out.write(origin, at);
  }
  if (properties !== undefined) {
    at = out.writeUInt32BE(properties.length, at);
    at += properties.copy(out, at);
  }
  at = out.writeUInt32BE(message.payload.length, at);
  message.payload.copy(out, at);
  return out;
}

/** Bytes before the message in a frame with no shared group: length, subscribers flag, group count. */
const PLAIN_FRAME_HEADER = 4 + 1 + 2;

/**
 * A whole frame for the non-shared subscribers of one node, the message encoded in the same buffer: what
 * `encodeFrame(true, [], encodeMessage(message))` gives, concatenated, in one allocation.
 */
export function encodeSubscribersFrame(message: Message): Buffer {
  const out = encodeMessageAfter(message, PLAIN_FRAME_HEADER);
  out.writeUInt32BE(out.length - 4, 0);
  out.writeUInt8(1, 4);
  out.writeUInt16BE(0, 5);
  return out;
}

/** A message read from `buffer` at `offset`; returns it and where it ended. */
export function decodeMessage(buffer: Buffer, offset = 0): { message: Message; end: number } {
  let at = offset;
  const flags = buffer.readUInt8(at);
  at += 1;
  const topicLength = buffer.readUInt16BE(at);
  at += 2;
  const topic = buffer.toString('utf8', at, at + topicLength);
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
    origin = buffer.toString('utf8', at, at + length);
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
  at += payloadLength;
  const message: Message = {
    topic,
    payload,
    qos: ((flags >> 1) & 0x03) as QoS,
    retain: (flags & FLAG_RETAIN) !== 0,
    properties,
    expiresAt,
    origin,
    size: payload.length + topic.length,
  };
  return { message, end: at };
}

/**
 * One message in a node's batch: its length, whether it goes to the node's non-shared subscribers, the
 * shared groups the publishing node chose that node for, then the encoded message (shared by every frame).
 */
export function encodeFrame(
  subscribers: boolean,
  shared: readonly SharedChoice[],
  message: Buffer,
): Buffer[] {
  let headerSize = 4 + 1 + 2;
  const names: Buffer[] = [];
  for (const choice of shared) {
    const group = Buffer.from(choice.group);
    const filter = Buffer.from(choice.filter);
    names.push(group, filter);
    headerSize += 4 + group.length + filter.length;
  }
  const header = Buffer.allocUnsafe(headerSize);
  let at = header.writeUInt32BE(headerSize - 4 + message.length, 0);
  at = header.writeUInt8(subscribers ? 1 : 0, at);
  at = header.writeUInt16BE(shared.length, at);
  for (const name of names) {
    at = header.writeUInt16BE(name.length, at);
    at += name.copy(header, at);
  }
  return [header, message];
}

/** A shared group chosen for a node: `group` and `filter` of `$share/{group}/{filter}`. */
export interface SharedChoice {
  readonly group: string;
  readonly filter: string;
}

/** Every frame of a batch, in order. */
export function* decodeFrames(batch: Buffer): Generator<{ message: Message; target: RemoteTarget }> {
  let at = 0;
  while (at < batch.length) {
    const end = at + 4 + batch.readUInt32BE(at);
    at += 4;
    const subscribers = batch.readUInt8(at) === 1;
    at += 1;
    const count = batch.readUInt16BE(at);
    at += 2;
    const shared: SharedChoice[] = [];
    for (let i = 0; i < count; i++) {
      const groupLength = batch.readUInt16BE(at);
      const group = batch.toString('utf8', at + 2, at + 2 + groupLength);
      at += 2 + groupLength;
      const filterLength = batch.readUInt16BE(at);
      const filter = batch.toString('utf8', at + 2, at + 2 + filterLength);
      at += 2 + filterLength;
      shared.push({ group, filter });
    }
    const { message } = decodeMessage(batch, at);
    at = end;
    yield { message, target: { subscribers, shared } };
  }
}

/** A stored delivery's message part as bytes: QoS, retain, subscription identifiers, then the message. */
export function encodeDelivery(delivery: Omit<StoredDelivery, 'seq' | 'packetId' | 'state'>): Buffer {
  const ids = delivery.subscriptionIds ?? [];
  const message = encodeMessage(delivery.message);
  const head = Buffer.allocUnsafe(4 + ids.length * 4);
  let at = head.writeUInt8(delivery.qos, 0);
  at = head.writeUInt8(delivery.retain ? 1 : 0, at);
  at = head.writeUInt16BE(ids.length, at);
  for (const id of ids) at = head.writeUInt32BE(id, at);
  return Buffer.concat([head, message]);
}

export interface DecodedDelivery {
  readonly message: Message;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly subscriptionIds: readonly number[] | undefined;
}

export function decodeDelivery(buffer: Buffer): DecodedDelivery {
  const qos = buffer.readUInt8(0) as QoS;
  const retain = buffer.readUInt8(1) === 1;
  const count = buffer.readUInt16BE(2);
  let at = 4;
  let subscriptionIds: number[] | undefined;
  if (count > 0) {
    subscriptionIds = [];
    for (let i = 0; i < count; i++, at += 4) subscriptionIds.push(buffer.readUInt32BE(at));
  }
  // A stored delivery outlives the reply it was read from: it owns its bytes.
  const { message } = decodeMessage(Buffer.from(buffer.subarray(at)));
  return { message, qos, retain, subscriptionIds };
}

/** A record (session, will, subscription) as JSON, its buffers as base64. */
export function encodeRecord(record: StoredSession | StoredWill | StoredSubscription): string {
  return JSON.stringify(record, bufferReplacer);
}

export function decodeSession(text: string): StoredSession {
  return JSON.parse(text, bufferReviver) as StoredSession;
}

export function decodeWill(text: string): StoredWill {
  return JSON.parse(text, bufferReviver) as StoredWill;
}

export function decodeSubscription(text: string): StoredSubscription {
  const stored = JSON.parse(text) as StoredSubscription;
  // JSON drops an undefined identifier; the record says it has none.
  return { ...stored, subscriptionId: stored.subscriptionId };
}

/** Buffers in JSON as `{"$b": base64}` (read from the holder: `toJSON` has already run on `value`). */
function bufferReplacer(this: unknown, key: string, value: unknown): unknown {
  const raw = (this as Record<string, unknown>)[key];
  if (Buffer.isBuffer(raw)) return { $b: raw.toString('base64') };
  return value;
}

function bufferReviver(_key: string, value: unknown): unknown {
  if (typeof value === 'object' && value !== null && '$b' in value) {
    const encoded = (value as { $b: unknown }).$b;
    if (typeof encoded === 'string') return Buffer.from(encoded, 'base64');
  }
  return value;
}
