/**
 * The SQLite store (better-sqlite3, WAL): durable broker state in one file, `starling.db`, in a data
 * directory. Changes are kept in order in memory and applied in one transaction per commit (one per
 * event-loop turn); a commit that fails (disk full) keeps its changes and is retried with the next one.
 */
import { mkdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import type { Message } from '../broker/message.js';
import type {
  DeliveryState,
  SessionStore,
  StoredDelivery,
  StoredSession,
  StoredState,
  StoredSubscription,
} from '../broker/storage.js';
import { encodeWill, messageColumns } from './sqlite-codec.js';
import { loadState } from './sqlite-load.js';
import { MIGRATIONS, SCHEMA, SCHEMA_VERSION, STATE_CODE } from './sqlite-schema.js';

/** How much a commit survives: a crash of the process (default), or a power loss too. */
export type Durability = 'process' | 'power';

export interface SqliteStorageOptions {
  /**
   * `process` (default): `synchronous=NORMAL` in WAL mode, what is committed survives kill -9 and any crash
   * of the process. `power`: `synchronous=FULL`, every commit is synced to the disk and survives power loss.
   */
  readonly durability?: Durability;
  /** Largest database size in bytes; beyond it commits fail as on a full disk. Default: no limit. */
  readonly maxBytes?: number;
}

/** The data directory cannot be used: unwritable, corrupt, or in use by another broker. */
export class StorageOpenError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageOpenError';
  }
}

export const DATABASE_FILE = 'starling.db';

/** In the delivery index: this delivery carries its message (no `messages` row). */
const INLINE = -1;

/**
 * better-sqlite3 is an optional dependency (a native module): loaded when a store opens, so the package
 * (and the client, which never needs it) works without it.
 */
function loadSqlite(): typeof Database {
  try {
    return createRequire(import.meta.url)('better-sqlite3') as typeof Database;
  } catch (err) {
    throw new StorageOpenError(
      `the SQLite store needs the better-sqlite3 package (an optional dependency): ${(err as Error).message}; install it, or keep state in memory (--memory)`,
      { cause: err },
    );
  }
}

/** The SQLite store for `new Broker({ storage: sqliteStorage(dir) })`. */
export function sqliteStorage(dir: string, options: SqliteStorageOptions = {}): SqliteStore {
  return new SqliteStore(dir, options);
}

// Operation codes of the pending batch, each followed by a fixed number of arguments.
const OP = {
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
} as const;

/** Where the arguments of a pending delivery save sit after its opcode. */
const ARG_PACKET_ID = 7;
const ARG_STATE = 8;

type Statements = ReturnType<typeof prepare>;

/** Inbound QoS 2 ids inserted by one statement when a commit has that many. */
const INBOUND_ROWS = 16;

export class SqliteStore implements SessionStore {
  readonly name = 'sqlite';
  readonly dir: string;
  readonly file: string;
  private db: Database.Database | undefined;
  private statements: Statements | undefined;
  /** The pending batch: opcodes and their arguments, flat. */
  private ops: unknown[] = [];
  /** Where `ops` starts in the positions recorded below (positions count from the store's opening). */
  private opsBase = 0;
  /** `ops` up to here (a position) is sealed: the next `commitSealed` writes it. */
  private sealedEnd = 0;
  /**
   * Messages saved since the last commit: INLINE when a delivery carries the message (a second delivery of
   * it makes the row), or the id of its row. A message delivered again after the commit (a retained one, to
   * a new subscription) is saved again.
   */
  private batchMessages = new Map<Message, number>();
  /** Deliveries using each message row. */
  private readonly refs = new Map<number, number>();
  /** Each session's deliveries: seq -> the id of its message row, or INLINE when the delivery carries it. */
  private readonly deliveries = new Map<string, Map<number, number>>();
  private nextMessageId = 1;
  /** Each session's inbound QoS 2 packet ids: packet id -> row id. */
  private readonly inbound = new Map<string, Map<number, number>>();
  private nextInboundId = 1;
  /**
   * Deliveries saved in the pending batch: client id -> seq -> position of the save's opcode in `ops`. A
   * delivery acknowledged before the batch is written is dropped from it, and a change of its state patches
   * the save, so a message sent and acknowledged between two commits costs no statement at all.
   */
  private pendingSaves = new Map<string, Map<number, number>>();
  /** Saves in the pending batch of deliveries sent and awaiting acknowledgement: before and after the seal. */
  private sealedSent = 0;
  private openSent = 0;
  /** Message rows saved in the pending batch: message id -> position of the save's opcode. */
  private pendingMessages = new Map<number, number>();

  constructor(
    dir: string,
    private readonly options: SqliteStorageOptions = {},
  ) {
    this.dir = resolve(dir);
    this.file = join(this.dir, DATABASE_FILE);
  }

  async open(): Promise<StoredState> {
    const db = this.openDatabase();
    this.db = db;
    this.setMaxBytes(this.options.maxBytes);
    this.statements = prepare(db);
    const loaded = loadState(db);
    this.nextMessageId = loaded.maxMessageId + 1;
    for (const [clientId, seqs] of loaded.deliveries) this.deliveries.set(clientId, seqs);
    for (const [id, count] of loaded.refs) this.refs.set(id, count);
    for (const [clientId, ids] of loaded.inbound) this.inbound.set(clientId, ids);
    this.nextInboundId = loaded.maxInboundId + 1;
    return loaded.state;
  }

  saveSession(s: StoredSession): void {
    this.push(
      OP.saveSession,
      s.clientId,
      s.expiryInterval,
      s.protocolVersion,
      s.username ?? null,
      s.connected ? 1 : 0,
      s.disconnectedAt,
      encodeWill(s.will),
      s.willDueAt ?? null,
    );
  }

  deleteSession(clientId: string): void {
    const seqs = this.deliveries.get(clientId);
    if (seqs !== undefined) for (const seq of [...seqs.keys()]) this.deleteDelivery(clientId, seq);
    const inbound = this.inbound.get(clientId);
    if (inbound !== undefined) {
      for (const id of inbound.values()) this.push(OP.deleteInbound, id);
      this.inbound.delete(clientId);
    }
    this.push(OP.deleteSession, clientId);
  }

  saveSubscription(clientId: string, s: StoredSubscription): void {
    this.push(
      OP.saveSubscription,
      clientId,
      s.key,
      s.qos,
      s.noLocal ? 1 : 0,
      s.retainAsPublished ? 1 : 0,
      s.retainHandling,
      s.subscriptionId ?? null,
    );
  }

  deleteSubscription(clientId: string, key: string): void {
    this.push(OP.deleteSubscription, clientId, key);
  }

  saveDelivery(clientId: string, d: StoredDelivery): void {
    let seqs = this.deliveries.get(clientId);
    if (seqs === undefined) {
      seqs = new Map();
      this.deliveries.set(clientId, seqs);
    }
    let messageId = this.batchMessages.get(d.message);
    let op: number = OP.saveDelivery;
    let carried: Message | number;
    if (messageId === undefined) {
      // The message's first delivery carries it: one row to write, and to delete on the acknowledgement.
      this.batchMessages.set(d.message, INLINE);
      seqs.set(d.seq, INLINE);
      op = OP.saveDeliveryInline;
      carried = d.message;
    } else {
      if (messageId === INLINE) {
        messageId = this.nextMessageId++;
        this.batchMessages.set(d.message, messageId);
        this.pendingMessages.set(messageId, this.opsBase + this.ops.length);
        this.push(OP.saveMessage, messageId, d.message);
      }
      this.refs.set(messageId, (this.refs.get(messageId) ?? 0) + 1);
      seqs.set(d.seq, messageId);
      carried = messageId;
    }
    this.notePendingSave(clientId, d.seq, d.state);
    // The hot path: pushed directly, without a rest-arguments array. Both saves have the same layout.
    this.ops.push(
      op,
      clientId,
      d.seq,
      carried,
      d.qos,
      d.retain ? 1 : 0,
      d.subscriptionIds === undefined ? null : d.subscriptionIds.join(','),
      d.packetId,
      STATE_CODE[d.state],
    );
  }

  updateDelivery(clientId: string, seq: number, packetId: number, state: 'publish' | 'pubrel'): void {
    const at = this.pendingSaves.get(clientId)?.get(seq);
    if (at !== undefined) {
      // Not written yet: the pending save carries the new state.
      this.countSent(at, -1);
      this.ops[at - this.opsBase + ARG_PACKET_ID] = packetId;
      this.ops[at - this.opsBase + ARG_STATE] = STATE_CODE[state];
      this.countSent(at, 1);
      return;
    }
    this.push(OP.updateDelivery, clientId, seq, packetId, STATE_CODE[state]);
  }

  deleteDelivery(clientId: string, seq: number): void {
    const seqs = this.deliveries.get(clientId);
    const messageId = seqs?.get(seq);
    if (seqs === undefined || messageId === undefined) return;
    seqs.delete(seq);
    if (seqs.size === 0) this.deliveries.delete(clientId);
    const pending = this.pendingSaves.get(clientId);
    const at = pending?.get(seq);
    if (at !== undefined) {
      // Saved and acknowledged within one batch: the row is never written.
      (pending as Map<number, number>).delete(seq);
      this.countSent(at, -1);
      this.ops[at - this.opsBase] = OP.skip8;
    } else {
      this.ops.push(OP.deleteDelivery, seq);
    }
    if (messageId !== INLINE) this.release(messageId);
  }

  addInboundQos2(clientId: string, packetId: number): void {
    let ids = this.inbound.get(clientId);
    if (ids === undefined) {
      ids = new Map();
      this.inbound.set(clientId, ids);
    }
    if (ids.has(packetId)) return;
    const id = this.nextInboundId++;
    ids.set(packetId, id);
    this.push(OP.addInbound, id, clientId, packetId);
  }

  deleteInboundQos2(clientId: string, packetId: number): void {
    const ids = this.inbound.get(clientId);
    const id = ids?.get(packetId);
    if (ids === undefined || id === undefined) return;
    ids.delete(packetId);
    if (ids.size === 0) this.inbound.delete(clientId);
    this.push(OP.deleteInbound, id);
  }

  setRetained(topic: string, message: Message | undefined): void {
    if (message === undefined) this.push(OP.deleteRetained, topic);
    else this.push(OP.setRetained, message);
  }

  commit(): undefined {
    this.seal();
    return this.commitSealed();
  }

  /** The changes reported so far make the next `commitSealed`. */
  seal(): void {
    this.sealedEnd = this.opsBase + this.ops.length;
    this.sealedSent += this.openSent;
    this.openSent = 0;
  }

  sealedInFlight(): number {
    return this.sealedSent;
  }

  /** Count the pending save at `at` in (1) or out of (-1) the sent ones, if it is sent and awaiting PUBACK. */
  private countSent(at: number, by: 1 | -1): void {
    if (this.ops[at - this.opsBase + ARG_STATE] !== STATE_CODE.publish) return;
    if (at < this.sealedEnd) this.sealedSent += by;
    else this.openSent += by;
  }

  /**
   * Write the sealed changes in one transaction; on any error it rolls back and they stay (with what was
   * reported since) for the next commit.
   */
  commitSealed(): undefined {
    const db = this.db;
    const count = this.sealedEnd - this.opsBase;
    if (db === undefined || count === 0) return undefined;
    const ops = this.ops;
    db.transaction(() => this.apply(ops, count))();
    this.opsBase = this.sealedEnd;
    this.sealedSent = 0;
    if (this.batchMessages.size > 0) this.batchMessages = new Map();
    if (count === ops.length) {
      this.ops = [];
      if (this.pendingSaves.size > 0) this.pendingSaves = new Map();
      if (this.pendingMessages.size > 0) this.pendingMessages = new Map();
      return undefined;
    }
    this.ops = ops.slice(count);
    // Saves written now cannot be dropped any more; those after the seal still can.
    const base = this.opsBase;
    for (const [clientId, seqs] of this.pendingSaves) {
      for (const [seq, at] of seqs) if (at < base) seqs.delete(seq);
      if (seqs.size === 0) this.pendingSaves.delete(clientId);
    }
    for (const [messageId, at] of this.pendingMessages) if (at < base) this.pendingMessages.delete(messageId);
    return undefined;
  }

  async close(): Promise<void> {
    const db = this.db;
    if (db === undefined) return;
    try {
      this.commit();
    } finally {
      this.db = undefined;
      db.close();
    }
  }

  /** Change the database size cap while running (undefined: no cap); a batch kept by a full commit then fits. */
  setMaxBytes(maxBytes: number | undefined): void {
    const db = this.db;
    if (db === undefined) return;
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    // 2^31 - 2 pages is SQLite's own ceiling, which stands for "no cap".
    const pages = maxBytes === undefined ? 2_147_483_646 : Math.max(1, Math.ceil(maxBytes / pageSize));
    db.pragma(`max_page_count = ${pages}`);
  }

  sizeBytes(): number {
    let bytes = 0;
    for (const file of [this.file, `${this.file}-wal`]) {
      try {
        bytes += statSync(file).size;
      } catch {
        // not there (yet)
      }
    }
    return bytes;
  }

  /** Append one change (an opcode and its arguments) to the pending batch. */
  private push(...args: unknown[]): void {
    // Array.prototype.push takes them all at once; no loop per argument.
    this.ops.push.apply(this.ops, args);
  }

  /** Call before pushing the save (its position is the end of `ops`). */
  private notePendingSave(clientId: string, seq: number, state: DeliveryState): void {
    if (state === 'publish') this.openSent++;
    let pending = this.pendingSaves.get(clientId);
    if (pending === undefined) {
      pending = new Map();
      this.pendingSaves.set(clientId, pending);
    }
    pending.set(seq, this.opsBase + this.ops.length);
  }

  /** One delivery less uses this message row: the last one takes the row along. */
  private release(messageId: number): void {
    const count = (this.refs.get(messageId) ?? 1) - 1;
    if (count > 0) {
      this.refs.set(messageId, count);
      return;
    }
    this.refs.delete(messageId);
    const at = this.pendingMessages.get(messageId);
    if (at !== undefined) {
      // The row was never written: drop its save (two arguments) rather than delete it.
      this.pendingMessages.delete(messageId);
      this.ops[at - this.opsBase] = OP.skip2;
      return;
    }
    this.push(OP.deleteMessage, messageId);
  }

  /** Run the first `count` entries of `ops` (whole operations). */
  private apply(ops: readonly unknown[], count: number): void {
    const s = this.statements as Statements;
    let i = 0;
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
    while (i < count) {
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
          const clientId = next();
          const seq = next();
          saving(seq);
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
        case OP.skip8:
          i += 8;
          break;
        case OP.skip2:
          i += 2;
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

  private openDatabase(): Database.Database {
    const where = this.dir;
    try {
      mkdirSync(where, { recursive: true });
    } catch (err) {
      throw new StorageOpenError(`cannot create data directory ${where}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const Sqlite = loadSqlite();
    let db: Database.Database;
    try {
      db = new Sqlite(this.file, { timeout: 200 });
    } catch (err) {
      throw new StorageOpenError(`cannot open ${this.file}: ${(err as Error).message}`, { cause: err });
    }
    try {
      // Exclusive locking before WAL: no shared-memory file, and the lock taken by the first write below
      // is held until close, so a second broker on this directory is refused instead of sharing it.
      db.pragma('locking_mode = EXCLUSIVE');
      db.pragma('journal_mode = WAL');
      // Set explicitly on every open: this build of SQLite defaults WAL to NORMAL already, but the
      // durability promise must not depend on a build option.
      db.pragma(`synchronous = ${this.options.durability === 'power' ? 'FULL' : 'NORMAL'}`);
      // Rows come and go quickly (written at publish, deleted at acknowledgement): checkpoint the WAL less
      // often so the same pages are not copied back to the database file over and over.
      db.pragma('wal_autocheckpoint = 8192');
      db.exec('BEGIN IMMEDIATE');
      db.exec(SCHEMA);
      const version = db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as
        | { value: string }
        | undefined;
      if (version === undefined) {
        db.prepare("INSERT INTO meta (key, value) VALUES ('schema', ?)").run(String(SCHEMA_VERSION));
      } else if (Number(version.value) !== SCHEMA_VERSION) {
        let at = Number(version.value);
        if (!(at in MIGRATIONS) || at > SCHEMA_VERSION) {
          throw new Error(`schema version ${version.value}, this broker reads version ${SCHEMA_VERSION}`);
        }
        const migrationDb = {
          exec: (sql: string) => db.exec(sql),
          columns: (table: string) =>
            (db.pragma(`table_info(${table})`) as { name: string }[]).map((c) => c.name),
        };
        for (; at < SCHEMA_VERSION; at++) MIGRATIONS[at]?.(migrationDb);
        db.prepare("UPDATE meta SET value = ? WHERE key = 'schema'").run(String(SCHEMA_VERSION));
      }
      db.exec('COMMIT');
      const check = db.pragma('quick_check(1)', { simple: true });
      if (check !== 'ok') throw new Error(`integrity check failed: ${String(check)}`);
    } catch (err) {
      db.close();
      const message = (err as Error).message;
      const code = (err as { code?: string }).code;
      if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
        throw new StorageOpenError(`data directory ${where} is in use by another broker (${message})`, {
          cause: err,
        });
      }
      throw new StorageOpenError(`cannot use data directory ${where}: ${this.file}: ${message}`, {
        cause: err,
      });
    }
    return db;
  }
}

function prepare(db: Database.Database) {
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
    deleteDelivery: db.prepare('DELETE FROM deliveries WHERE seq = ?'),
    deleteDeliveries: db.prepare('DELETE FROM deliveries WHERE seq BETWEEN ? AND ?'),
    addInbound: db.prepare('INSERT INTO inbound_qos2 (id, client_id, packet_id) VALUES (?, ?, ?)'),
    addInbounds: db.prepare(
      `INSERT INTO inbound_qos2 (id, client_id, packet_id) VALUES ${Array(INBOUND_ROWS).fill('(?, ?, ?)').join(', ')}`,
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
