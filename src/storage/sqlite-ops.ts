/**
 * The SQLite store's pending batch: operation codes (each followed by a fixed number of arguments), the
 * prepared statements, and how a batch is run against the tables in one transaction.
 */
import type Database from 'better-sqlite3';
import type { Message } from '../broker/message.js';
import { messageColumns } from './sqlite-codec.js';
import { STATE_CODE } from './sqlite-schema.js';

// Operation codes of the pending batch, each followed by a fixed number of arguments.
export const OP = {
  saveSession: 1,
  deleteSession: 2,
  saveSubscription: 3,
  deleteSubscription: 4,
  saveMessage: 5,
  deleteMessage: 6,
  saveDelivery: 7,
  saveDeliveryInline: 14,
  updateDelivery: 8,
  deleteDelivery: 9,
  addInbound: 10,
  deleteInbound: 11,
  setRetained: 12,
  deleteRetained: 13,
  /** A save dropped from the batch (acknowledged before it was written): skip its arguments. */
  skip8: 15,
  /** A message row dropped from the batch (its last delivery went before it was written). */
  skip2: 16,
  /** An inbound QoS 2 id dropped from the batch (released before it was written). */
  skip3: 17,
  // Changes for the log only: they undo there a change logged already, which the tables will not see
  // (it was turned into a skip). The log writes them as the change they name.
  logUpdateDelivery: 18,
  logDeleteDelivery: 19,
  logDeleteMessage: 20,
  logDeleteInbound: 21,
} as const;

/** What the log writes for a change for the log only. */
export const LOG_AS: Readonly<Record<number, number>> = {
  [OP.logUpdateDelivery]: OP.updateDelivery,
  [OP.logDeleteDelivery]: OP.deleteDelivery,
  [OP.logDeleteMessage]: OP.deleteMessage,
  [OP.logDeleteInbound]: OP.deleteInbound,
};

/** How many arguments follow each opcode. */
export const OP_ARGS: Readonly<Record<number, number>> = {
  [OP.saveSession]: 8,
  [OP.deleteSession]: 1,
  [OP.saveSubscription]: 7,
  [OP.deleteSubscription]: 2,
  [OP.saveMessage]: 2,
  [OP.deleteMessage]: 1,
  [OP.saveDelivery]: 8,
  [OP.saveDeliveryInline]: 8,
  [OP.updateDelivery]: 4,
  [OP.deleteDelivery]: 1,
  [OP.addInbound]: 3,
  [OP.deleteInbound]: 1,
  [OP.setRetained]: 1,
  [OP.deleteRetained]: 1,
  [OP.skip8]: 8,
  [OP.skip2]: 2,
  [OP.skip3]: 3,
  [OP.logUpdateDelivery]: 4,
  [OP.logDeleteDelivery]: 1,
  [OP.logDeleteMessage]: 1,
  [OP.logDeleteInbound]: 1,
};

/** Where the arguments of a pending delivery save sit after its opcode. */
export const ARG_MESSAGE = 3;
export const ARG_PACKET_ID = 7;
export const ARG_STATE = 8;

type StatementName =
  | 'saveSession'
  | 'deleteSession'
  | 'deleteSessionSubscriptions'
  | 'saveSubscription'
  | 'deleteSubscription'
  | 'saveMessage'
  | 'deleteMessage'
  | 'saveDelivery'
  | 'updateDelivery'
  | 'saveDeliveryInline'
  | 'saveReleasedDelivery'
  | 'deleteDelivery'
  | 'deleteDeliveries'
  | 'addInbound'
  | 'addInbounds'
  | 'deleteInbound'
  | 'deleteInbounds'
  | 'setRetained'
  | 'deleteRetained';

export type Statements = Readonly<Record<StatementName, Database.Statement>>;

/** Inbound QoS 2 ids inserted by one statement when a commit has that many. */
const INBOUND_ROWS = 16;

/** Run the `count` entries of `ops` from `from` (whole operations). */
export function applyOps(s: Statements, ops: readonly unknown[], from: number, count: number): void {
  let i = from;
  const end = from + count;
  const next = (): unknown => ops[i++];
  // Deleted deliveries and inbound ids are deleted at the end, by runs of consecutive keys (one statement
  // per run): keys only grow, so acknowledgements in the order of sending make long runs. A delivery saved
  // again under a key waiting for its deletion (a session taken back) has the deletions run first.
  const deadSeqs = new Set<number>();
  const deadInbound: number[] = [];
  // New inbound ids are inserted at the end too, INBOUND_ROWS to a statement (before any deletion).
  const newInbound: unknown[] = [];
  const saving = (seq: unknown): void => {
    if (deadSeqs.size > 0 && deadSeqs.has(seq as number)) {
      deleteRuns(s.deleteDeliveries, s.deleteDelivery, [...deadSeqs]);
      deadSeqs.clear();
    }
  };
  while (i < end) {
    const op = next();
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
        saving(ops[i + 1]);
        s.saveDelivery.run(next(), next(), next(), next(), next(), next(), next(), next());
        break;
      case OP.saveDeliveryInline: {
        const at = i - 1;
        const clientId = next();
        const seq = next();
        saving(seq);
        const message = next() as Message;
        if (ops[at + ARG_STATE] === STATE_CODE.pubrel) {
          // Past PUBREC before it was written (the usual QoS 2 case): what a restart needs is the packet id
          // to send PUBREL again, not the message, so the row leaves the message out (a third cheaper).
          s.saveReleasedDelivery.run(clientId, seq, next(), next(), next(), next(), next());
          break;
        }
        const m = messageColumns(message);
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
        deadSeqs.add(next() as number);
        break;
      case OP.addInbound:
        newInbound.push(next(), next(), next());
        break;
      case OP.deleteInbound:
        deadInbound.push(next() as number);
        break;
      case OP.setRetained:
        s.setRetained.run(messageColumns(next() as Message));
        break;
      case OP.deleteRetained:
        s.deleteRetained.run(next());
        break;
      // Dropped changes, and changes only the log needed: passed over, arguments and all.
      case OP.skip8:
      case OP.skip2:
      case OP.skip3:
      case OP.logUpdateDelivery:
      case OP.logDeleteDelivery:
      case OP.logDeleteMessage:
      case OP.logDeleteInbound:
        i += OP_ARGS[op as number] as number;
        break;
      default:
        throw new Error(`sqlite store: unknown operation ${String(op)}`);
    }
  }
  if (newInbound.length > 0) {
    const whole = newInbound.length - (newInbound.length % (3 * INBOUND_ROWS));
    let k = 0;
    for (; k < whole; k += 3 * INBOUND_ROWS) s.addInbounds.run(newInbound.slice(k, k + 3 * INBOUND_ROWS));
    for (; k < newInbound.length; k += 3)
      s.addInbound.run(newInbound[k], newInbound[k + 1], newInbound[k + 2]);
  }
  if (deadSeqs.size > 0) deleteRuns(s.deleteDeliveries, s.deleteDelivery, [...deadSeqs]);
  if (deadInbound.length > 0) deleteRuns(s.deleteInbounds, s.deleteInbound, deadInbound);
}

export function prepare(db: Database.Database): Statements {
  return {
    saveSession: db.prepare(
      `INSERT OR REPLACE INTO sessions (client_id, expiry, protocol, username, connected, disconnected_at, will, will_due_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    deleteSession: db.prepare('DELETE FROM sessions WHERE client_id = ?'),
    deleteSessionSubscriptions: db.prepare('DELETE FROM subscriptions WHERE client_id = ?'),
    saveSubscription: db.prepare(
      `INSERT OR REPLACE INTO subscriptions (client_id, key, qos, no_local, retain_as_published, retain_handling, subscription_id)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    deleteSubscription: db.prepare('DELETE FROM subscriptions WHERE client_id = ? AND key = ?'),
    saveMessage: db.prepare(
      `INSERT OR REPLACE INTO messages (id, topic, payload, qos, retain, properties, expires_at, origin)
       VALUES (@id, @topic, @payload, @qos, @retain, @properties, @expires_at, @origin)`,
    ),
    deleteMessage: db.prepare('DELETE FROM messages WHERE id = ?'),
    saveDelivery: db.prepare(
      `INSERT OR REPLACE INTO deliveries (client_id, seq, message_id, qos, retain, subscription_ids, packet_id, state)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    updateDelivery: db.prepare(
      'UPDATE deliveries SET packet_id = ?, state = ? WHERE client_id = ? AND seq = ?',
    ),
    saveDeliveryInline: db.prepare(
      `INSERT OR REPLACE INTO deliveries (client_id, seq, qos, retain, subscription_ids, packet_id, state,
         m_topic, m_payload, m_qos, m_retain, m_properties, m_expires_at, m_origin)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    saveReleasedDelivery: db.prepare(
      `INSERT OR REPLACE INTO deliveries (client_id, seq, qos, retain, subscription_ids, packet_id, state)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    deleteDelivery: db.prepare('DELETE FROM deliveries WHERE seq = ?'),
    deleteDeliveries: db.prepare('DELETE FROM deliveries WHERE seq BETWEEN ? AND ?'),
    // OR REPLACE: a log replayed over tables a failed chunked write had partly updated adds the row again.
    addInbound: db.prepare('INSERT OR REPLACE INTO inbound_qos2 (id, client_id, packet_id) VALUES (?, ?, ?)'),
    addInbounds: db.prepare(
      `INSERT OR REPLACE INTO inbound_qos2 (id, client_id, packet_id) VALUES ${Array(INBOUND_ROWS).fill('(?, ?, ?)').join(', ')}`,
    ),
    deleteInbound: db.prepare('DELETE FROM inbound_qos2 WHERE id = ?'),
    deleteInbounds: db.prepare('DELETE FROM inbound_qos2 WHERE id BETWEEN ? AND ?'),
    setRetained: db.prepare(
      `INSERT OR REPLACE INTO retained (topic, payload, qos, retain, properties, expires_at, origin)
       VALUES (@topic, @payload, @qos, @retain, @properties, @expires_at, @origin)`,
    ),
    deleteRetained: db.prepare('DELETE FROM retained WHERE topic = ?'),
  };
}

/** Delete rows by integer key: one statement per run of consecutive keys (every key in it is deleted). */
function deleteRuns(range: Database.Statement, one: Database.Statement, keys: number[]): void {
  keys.sort((a, b) => a - b);
  let start = keys[0] as number;
  let end = start;
  for (let k = 1; k <= keys.length; k++) {
    const key = keys[k];
    if (key === end + 1) {
      end = key;
      continue;
    }
    if (start === end) one.run(start);
    else range.run(start, end);
    if (key === undefined) break;
    start = key;
    end = key;
  }
}
