/** The load path of the SQLite store: every table read once, into the state the engine restores. */
import type Database from 'better-sqlite3';
import type { Message } from '../broker/message.js';
import type {
  StoredDelivery,
  StoredSessionState,
  StoredState,
  StoredSubscription,
} from '../broker/storage.js';
import type { ProtocolVersionNumber, QoS } from '../packets/types.js';
import { decodeWill, type MessageRow, messageFromRow } from './sqlite-codec.js';
import { STATE_NAME } from './sqlite-schema.js';
import { IN_TABLES, Tracked, TrackedMessage } from './sqlite-tracked.js';

export interface LoadedStore {
  readonly state: StoredState;
  /** The deliveries, message rows and inbound QoS 2 ids read, as the store tracks them. */
  readonly tracked: Tracked;
  readonly maxMessageId: number;
  readonly maxInboundId: number;
}

interface SessionRow {
  client_id: string;
  expiry: number;
  protocol: number;
  username: string | null;
  connected: number;
  disconnected_at: number;
  will: string | null;
  will_due_at: number | null;
}

interface DeliveryRow {
  client_id: string;
  seq: number;
  message_id: number | null;
  m_topic: string | null;
  m_payload: Buffer | null;
  m_qos: number | null;
  m_retain: number | null;
  m_properties: string | null;
  m_expires_at: number | null;
  m_origin: string | null;
  qos: number;
  retain: number;
  subscription_ids: string | null;
  packet_id: number;
  state: number;
}

/**
 * Read the whole store. Message rows no delivery uses any more are deleted on the way (a crash between two
 * commits cannot leave one, but an older version might have).
 */
export function loadState(db: Database.Database): LoadedStore {
  // Rows of sessions that are gone (deliveries and inbound ids are deleted by key, one by one, so none
  // should be left; this keeps the file from growing if one was).
  db.prepare('DELETE FROM deliveries WHERE client_id NOT IN (SELECT client_id FROM sessions)').run();
  db.prepare('DELETE FROM inbound_qos2 WHERE client_id NOT IN (SELECT client_id FROM sessions)').run();
  db.prepare(
    'DELETE FROM messages WHERE id NOT IN (SELECT message_id FROM deliveries WHERE message_id IS NOT NULL)',
  ).run();
  const messages = new Map<number, Message>();
  let maxMessageId = 0;
  for (const row of db.prepare('SELECT * FROM messages').iterate() as IterableIterator<
    MessageRow & { id: number }
  >) {
    const message = messageFromRow(row);
    messages.set(row.id, message);
    if (row.id > maxMessageId) maxMessageId = row.id;
  }
  const sessions = new Map<
    string,
    StoredSessionState & {
      subscriptions: StoredSubscription[];
      deliveries: StoredDelivery[];
      inboundQos2: number[];
    }
  >();
  for (const row of db.prepare('SELECT * FROM sessions').iterate() as IterableIterator<SessionRow>) {
    sessions.set(row.client_id, {
      session: {
        clientId: row.client_id,
        expiryInterval: row.expiry,
        protocolVersion: row.protocol as ProtocolVersionNumber,
        username: row.username ?? undefined,
        connected: row.connected === 1,
        disconnectedAt: row.disconnected_at,
        will: decodeWill(row.will),
        willDueAt: row.will_due_at ?? undefined,
      },
      subscriptions: [],
      deliveries: [],
      inboundQos2: [],
    });
  }
  for (const row of db.prepare('SELECT * FROM subscriptions').iterate() as IterableIterator<{
    client_id: string;
    key: string;
    qos: number;
    no_local: number;
    retain_as_published: number;
    retain_handling: number;
    subscription_id: number | null;
  }>) {
    sessions.get(row.client_id)?.subscriptions.push({
      key: row.key,
      qos: row.qos as QoS,
      noLocal: row.no_local === 1,
      retainAsPublished: row.retain_as_published === 1,
      retainHandling: row.retain_handling as 0 | 1 | 2,
      subscriptionId: row.subscription_id ?? undefined,
    });
  }
  const tracked = new Tracked();
  const rows = new Map<number, TrackedMessage>();
  const ordered = db
    .prepare('SELECT * FROM deliveries ORDER BY seq')
    .iterate() as IterableIterator<DeliveryRow>;
  for (const row of ordered) {
    const session = sessions.get(row.client_id);
    const message =
      row.message_id === null
        ? (inlineMessage(row) ?? (STATE_NAME[row.state] === 'pubrel' ? RELEASED : undefined))
        : messages.get(row.message_id);
    if (session === undefined || message === undefined) continue;
    session.deliveries.push({
      seq: row.seq,
      message,
      qos: row.qos as QoS,
      retain: row.retain === 1,
      subscriptionIds:
        row.subscription_ids === null ? undefined : row.subscription_ids.split(',').map(Number),
      packetId: row.packet_id,
      state: STATE_NAME[row.state] ?? 'queued',
    });
    let shared: TrackedMessage | undefined;
    if (row.message_id !== null) {
      shared = rows.get(row.message_id);
      if (shared === undefined) {
        shared = new TrackedMessage(row.message_id, 0, IN_TABLES);
        rows.set(row.message_id, shared);
      }
      shared.refs++;
    }
    tracked.addDelivery(row.client_id, row.seq, shared, IN_TABLES);
  }
  let maxInboundId = 0;
  for (const row of db
    .prepare('SELECT id, client_id, packet_id FROM inbound_qos2 ORDER BY id')
    .iterate() as IterableIterator<{
    id: number;
    client_id: string;
    packet_id: number;
  }>) {
    if (row.id > maxInboundId) maxInboundId = row.id;
    const session = sessions.get(row.client_id);
    if (session === undefined) continue;
    const owner = tracked.session(row.client_id);
    if (tracked.findInbound(owner, row.packet_id) !== undefined) continue;
    tracked.addInbound(owner, row.id, row.packet_id, IN_TABLES);
    session.inboundQos2.push(row.packet_id);
  }
  const retained: Message[] = [];
  for (const row of db.prepare('SELECT * FROM retained').iterate() as IterableIterator<MessageRow>) {
    retained.push(messageFromRow(row));
  }
  return {
    state: { sessions: sessions.values(), retained },
    tracked,
    maxMessageId,
    maxInboundId,
  };
}

/**
 * The message of a delivery written past PUBREC without it (`saveReleasedDelivery`): only PUBREL is sent
 * again for it, so nothing reads its topic or payload.
 */
const RELEASED: Message = {
  topic: '',
  payload: Buffer.alloc(0),
  qos: 2,
  retain: false,
  properties: undefined,
  expiresAt: undefined,
  origin: undefined,
  size: 0,
};

/** A message a delivery carries itself. */
function inlineMessage(row: DeliveryRow): Message | undefined {
  if (row.m_topic === null || row.m_payload === null) return undefined;
  return messageFromRow({
    topic: row.m_topic,
    payload: row.m_payload,
    qos: row.m_qos ?? 0,
    retain: row.m_retain ?? 0,
    properties: row.m_properties,
    expires_at: row.m_expires_at,
    origin: row.m_origin,
  });
}
