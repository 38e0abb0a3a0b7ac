/**
 * The operations of the SQLite store's pending batch, as the statements that carry them out. A batch is a
 * flat array: an opcode, then its arguments (`ARITY` of them). The store appends to it as changes are
 * reported, drops or patches entries whose change was undone before it was written, and runs it here.
 */
import type Database from 'better-sqlite3';
import type { Message } from '../broker/message.js';
import { messageColumns } from './sqlite-codec.js';

export const OP = {
  saveSession: 1,
  deleteSession: 2,
  saveSubscription: 3,
  deleteSubscription: 4,
  saveMessage: 5,
  deleteMessage: 6,
  saveDelivery: 7,
  updateDelivery: 8,
  deleteDelivery: 9,
  addInbound: 10,
  deleteInbound: 11,
  setRetained: 12,
  deleteRetained: 13,
  saveDeliveryInline: 14,
  /** A delivery save dropped from the batch (acknowledged before it reached the tables). */
  skip8: 15,
  /** A message row dropped from the batch (its last delivery went before it reached the tables). */
  skip2: 16,
  /** An inbound QoS 2 id dropped from the batch (released before it reached the tables). */
  skip3: 17,
  // Changes to rows that are only in the journal so far, never in the tables: the journal needs them (its
  // replay makes the row first), the tables do not (the row's save was dropped or patched instead).
  journalUpdateDelivery: 18,
  journalDeleteDelivery: 19,
  journalDeleteInbound: 20,
  journalDeleteMessage: 21,
} as const;

/** Arguments of each opcode (indexed by opcode). */
export const ARITY: readonly number[] = [0, 8, 1, 7, 2, 2, 1, 8, 4, 1, 3, 1, 1, 1, 8, 8, 2, 3, 4, 1, 1, 1];

/** What a journal-only opcode stands for in the journal; 0 for the opcodes the tables skip. */
export const JOURNAL_AS: readonly number[] = ARITY.map((_, op) => {
  switch (op) {
    case OP.journalUpdateDelivery:
      return OP.updateDelivery;
    case OP.journalDeleteDelivery:
      return OP.deleteDelivery;
    case OP.journalDeleteInbound:
      return OP.deleteInbound;
    case OP.journalDeleteMessage:
      return OP.deleteMessage;
    case OP.skip8:
    case OP.skip2:
    case OP.skip3:
      return 0;
    default:
      return op;
  }
});

/** Where the arguments of a pending delivery save sit after its opcode. */
export const ARG_PACKET_ID = 7;
export const ARG_STATE = 8;

/** Run the operations in `ops[from, to)` (whole operations) against the tables. */
export function applyOps(s: Statements, ops: readonly unknown[], from: number, to: number): void {
  let i = from;
  const next = (): unknown => ops[i++];
  while (i < to) {
    const op = next() as number;
    switch (op) {
      case OP.saveSession:
        s.saveSession.run(next(), next(), next(), next(), next(), next(), next(), next());
        break;
      case OP.deleteSession: {
        // Its deliveries and inbound ids were deleted one by one before.
        const clientId = next();
        s.deleteSession.run(clientId);
        s.deleteSessionSubscriptions.run(clientId);
        break;
      }
      case OP.saveSubscription:
        s.saveSubscription.run(next(), next(), next(), next(), next(), next(), next());
        break;
      case OP.deleteSubscription:
        s.deleteSubscription.run(next(), next());
        break;
      case OP.saveMessage: {
        const id = next();
        s.saveMessage.run({ id, ...messageColumns(next() as Message) });
        break;
      }
      case OP.deleteMessage:
        s.deleteMessage.run(next());
        break;
      case OP.saveDelivery:
        s.saveDelivery.run(next(), next(), next(), next(), next(), next(), next(), next());
        break;
      case OP.saveDeliveryInline: {
        const clientId = next();
        const seq = next();
        const m = messageColumns(next() as Message);
        s.saveDeliveryInline.run(
          clientId,
          seq,
          next(),
          next(),
          next(),
          next(),
          next(),
          m.topic,
          m.payload,
          m.qos,
          m.retain,
          m.properties,
          m.expires_at,
          m.origin,
        );
        break;
      }
      case OP.updateDelivery: {
        const clientId = next();
        const seq = next();
        s.updateDelivery.run(next(), next(), clientId, seq);
        break;
      }
      case OP.deleteDelivery:
        s.deleteDelivery.run(next());
        break;
      case OP.addInbound:
        s.addInbound.run(next(), next(), next());
        break;
      case OP.deleteInbound:
        s.deleteInbound.run(next());
        break;
      case OP.setRetained:
        s.setRetained.run(messageColumns(next() as Message));
        break;
      case OP.deleteRetained:
        s.deleteRetained.run(next());
        break;
      default: {
        const arity = ARITY[op];
        if (arity === undefined || JOURNAL_AS[op] === op) {
          throw new Error(`sqlite store: unknown operation ${String(op)}`);
        }
        // Skipped, or for the journal only.
        i += arity;
      }
    }
  }
}

const SQL = {
  saveSession: `INSERT OR REPLACE INTO sessions (client_id, expiry, protocol, username, connected, disconnected_at, will, will_due_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  deleteSession: 'DELETE FROM sessions WHERE client_id = ?',
  deleteSessionSubscriptions: 'DELETE FROM subscriptions WHERE client_id = ?',
  saveSubscription: `INSERT OR REPLACE INTO subscriptions (client_id, key, qos, no_local, retain_as_published, retain_handling, subscription_id)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
  deleteSubscription: 'DELETE FROM subscriptions WHERE client_id = ? AND key = ?',
  saveMessage: `INSERT OR REPLACE INTO messages (id, topic, payload, qos, retain, properties, expires_at, origin)
       VALUES (@id, @topic, @payload, @qos, @retain, @properties, @expires_at, @origin)`,
  deleteMessage: 'DELETE FROM messages WHERE id = ?',
  saveDelivery: `INSERT OR REPLACE INTO deliveries (client_id, seq, message_id, qos, retain, subscription_ids, packet_id, state)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  updateDelivery: 'UPDATE deliveries SET packet_id = ?, state = ? WHERE client_id = ? AND seq = ?',
  saveDeliveryInline: `INSERT OR REPLACE INTO deliveries (client_id, seq, qos, retain, subscription_ids, packet_id, state,
         m_topic, m_payload, m_qos, m_retain, m_properties, m_expires_at, m_origin)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  deleteDelivery: 'DELETE FROM deliveries WHERE seq = ?',
  addInbound: 'INSERT INTO inbound_qos2 (id, client_id, packet_id) VALUES (?, ?, ?)',
  deleteInbound: 'DELETE FROM inbound_qos2 WHERE id = ?',
  setRetained: `INSERT OR REPLACE INTO retained (topic, payload, qos, retain, properties, expires_at, origin)
       VALUES (@topic, @payload, @qos, @retain, @properties, @expires_at, @origin)`,
  deleteRetained: 'DELETE FROM retained WHERE topic = ?',
  appendJournal: 'INSERT INTO journal (ops) VALUES (?)',
  clearJournal: 'DELETE FROM journal',
};

export type Statements = { readonly [K in keyof typeof SQL]: Database.Statement };

export function prepareStatements(db: Database.Database): Statements {
  const prepared: Partial<Record<keyof typeof SQL, Database.Statement>> = {};
  for (const key of Object.keys(SQL) as (keyof typeof SQL)[]) prepared[key] = db.prepare(SQL[key]);
  return prepared as Statements;
}
