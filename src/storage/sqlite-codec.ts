/**
 * How messages, wills and properties are written into SQLite columns and read back: JSON for the small
 * structured parts (with Buffers as base64), the payload as a BLOB of its own.
 */
import type { ForwardedProperties, Message } from '../broker/message.js';
import type { StoredWill } from '../broker/storage.js';
import type { Properties, QoS } from '../packets/types.js';

/** A row of the `messages` or `retained` table. */
export interface MessageRow {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: number;
  readonly retain: number;
  readonly properties: string | null;
  readonly expires_at: number | null;
  readonly origin: string | null;
}

/** JSON that keeps Buffers (correlation data, payloads) as `{ "$b64": "..." }`. */
function replacer(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object' && (value as { type?: unknown }).type === 'Buffer') {
    const data = (value as { data?: number[] }).data ?? [];
    return { $b64: Buffer.from(data).toString('base64') };
  }
  return value;
}

function reviver(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object' && typeof (value as { $b64?: unknown }).$b64 === 'string') {
    return Buffer.from((value as { $b64: string }).$b64, 'base64');
  }
  return value;
}

export function encodeJson(value: unknown): string {
  return JSON.stringify(value, replacer);
}

export function decodeJson<T>(text: string): T {
  return JSON.parse(text, reviver) as T;
}

export function messageColumns(message: Message): MessageRow {
  return {
    topic: message.topic,
    payload: message.payload,
    qos: message.qos,
    retain: message.retain ? 1 : 0,
    properties: message.properties === undefined ? null : encodeJson(message.properties),
    expires_at: message.expiresAt ?? null,
    origin: message.origin ?? null,
  };
}

export function messageFromRow(row: MessageRow): Message {
  const payload = Buffer.from(row.payload);
  return {
    topic: row.topic,
    payload,
    qos: row.qos as QoS,
    retain: row.retain === 1,
    properties: row.properties === null ? undefined : decodeJson<ForwardedProperties>(row.properties),
    expiresAt: row.expires_at ?? undefined,
    origin: row.origin ?? undefined,
    size: payload.length + row.topic.length,
  };
}

export function encodeWill(will: StoredWill | undefined): string | null {
  return will === undefined ? null : encodeJson(will);
}

export function decodeWill(text: string | null): StoredWill | undefined {
  if (text === null) return undefined;
  const will = decodeJson<{
    topic: string;
    payload: Buffer;
    qos: QoS;
    retain: boolean;
    properties?: Properties;
  }>(text);
  return will;
}
