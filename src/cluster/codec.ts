import type { Message } from '../broker/message.js';
import type {
  StoredDelivery,
  StoredSession,
  StoredSessionState,
  StoredSubscription,
  StoredWill,
} from '../broker/storage.js';
import type { QoS } from '../packets/types.js';
import { bufferReplacer, bufferReviver, encodeMessage, readMessage } from './message-codec.js';

/**
 * How deliveries and session records sit in the backend: deliveries in binary around the encoded message
 * (`message-codec.ts`), the small, rare records as JSON.
 */

/** Topics that stay on their node (neither forwarded nor stored in the backend): each node has its own `$SYS/broker/...`. */
export function isNodeLocalTopic(topic: string): boolean {
  return topic.startsWith('$SYS/');
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
  const message = readMessage(Buffer.from(buffer.subarray(at)), 0);
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

/** A session hash (flat field/value list) as stored state; undefined without a session record. */
export function decodeSessionHash(fields: readonly Buffer[]): StoredSessionState | undefined {
  let session: StoredSession | undefined;
  const subscriptions: StoredSubscription[] = [];
  const blobs = new Map<number, Buffer>();
  const states = new Map<number, string>();
  const inboundQos2: number[] = [];
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = (fields[i] as Buffer).toString();
    const value = fields[i + 1] as Buffer;
    if (name === 'session') session = decodeSession(value.toString());
    else if (name.startsWith('sub:')) subscriptions.push(decodeSubscription(value.toString()));
    else if (name.startsWith('d:')) blobs.set(Number(name.slice(2)), value);
    else if (name.startsWith('p:')) states.set(Number(name.slice(2)), value.toString());
    else if (name.startsWith('q2:')) inboundQos2.push(Number(name.slice(3)));
  }
  if (session === undefined) return undefined;
  const deliveries: StoredDelivery[] = [];
  for (const [seq, blob] of blobs) {
    const [state, packetId] = (states.get(seq) ?? 'queued 0').split(' ');
    const decoded = decodeDelivery(blob);
    deliveries.push({
      seq,
      message: decoded.message,
      qos: decoded.qos,
      retain: decoded.retain,
      subscriptionIds: decoded.subscriptionIds,
      packetId: Number(packetId),
      state: state === 'pubrel' ? 'pubrel' : state === 'publish' ? 'publish' : 'queued',
    });
  }
  deliveries.sort((a, b) => a.seq - b.seq);
  return { session, subscriptions, deliveries, inboundQos2 };
}
