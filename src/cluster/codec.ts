import type { Message } from '../broker/message.js';
import type { StoredDelivery, StoredSession, StoredSubscription, StoredWill } from '../broker/storage.js';
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
