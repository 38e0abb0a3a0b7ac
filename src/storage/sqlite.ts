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
import { encodeWill } from './sqlite-codec.js';
import { decodeJournal, JournalWriter } from './sqlite-journal.js';
import { loadState } from './sqlite-load.js';
import {
  ARG_PACKET_ID,
  ARG_STATE,
  ARITY,
  applyOps,
  OP,
  prepareStatements,
  type Statements,
} from './sqlite-ops.js';
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

/**
 * The journal window: commits append journal entries until one of these is reached, and then the commit
 * flushes the window to the tables (only the rows still there) and empties the journal. Longer windows drop
 * more rows before they are written (a QoS 2 flow lives a few round trips); the window also bounds the
 * messages held in memory for the flush and the work of one flush.
 */
const FLUSH_ENTRIES = 400_000;
const FLUSH_BYTES = 16 * 1024 * 1024;
const FLUSH_MS = 1_000;

export class SqliteStore implements SessionStore {
  readonly name = 'sqlite';
  readonly dir: string;
  readonly file: string;
  private db: Database.Database | undefined;
  private statements: Statements | undefined;
  private readonly journal = new JournalWriter();
  /**
   * The changes not in the tables yet: opcodes and their arguments, flat (`sqlite-ops.ts`). Positions
   * below count from the store's opening: `ops[0]` is at `opsBase`, what the tables hold. Up to
   * `journaledEnd` the changes are in the journal (committed); up to `sealedEnd` they make the next commit.
   */
  private ops: unknown[] = [];
  private opsBase = 0;
  private journaledEnd = 0;
  private sealedEnd = 0;
  /** Bytes in the journal, and when its first entry of this window was written. */
  private journalBytes = 0;
  private windowStart = 0;
  /** Flush the whole window with the next commit (on close). */
  private flushNext = false;
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
   * Deliveries saved and not in the tables yet: client id -> seq -> position of the save's opcode. A
   * delivery acknowledged before the flush is dropped from `ops` (and, if it was journaled, its deletion is
   * journaled too), and a change of its state patches the save, so a message sent and acknowledged within
   * one window costs no statement at all.
   */
  private pendingSaves = new Map<string, Map<number, number>>();
  /** Saves not yet committed of deliveries sent and awaiting acknowledgement: before and after the seal. */
  private sealedSent = 0;
  private openSent = 0;
  /** Message rows and inbound QoS 2 ids saved and not in the tables yet: row id -> position of the save. */
  private pendingMessages = new Map<number, number>();
  private pendingInbound = new Map<number, number>();

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
    const statements = prepareStatements(db);
    this.statements = statements;
    try {
      replayJournal(db, statements);
    } catch (err) {
      this.db = undefined;
      db.close();
      throw new StorageOpenError(`cannot replay the journal of ${this.file}: ${(err as Error).message}`, {
        cause: err,
      });
    }
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
    if (inbound !== undefined)
      for (const packetId of [...inbound.keys()]) this.deleteInboundQos2(clientId, packetId);
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
    if (at === undefined) {
      this.ops.push(OP.updateDelivery, clientId, seq, packetId, STATE_CODE[state]);
      return;
    }
    // Not in the tables yet: the pending save carries the new state (and the journal, if it has the save,
    // gets the change).
    this.countSent(at, -1);
    this.ops[at - this.opsBase + ARG_PACKET_ID] = packetId;
    this.ops[at - this.opsBase + ARG_STATE] = STATE_CODE[state];
    this.countSent(at, 1);
    if (at < this.journaledEnd) {
      this.ops.push(OP.journalUpdateDelivery, clientId, seq, packetId, STATE_CODE[state]);
    }
  }

  deleteDelivery(clientId: string, seq: number): void {
    const seqs = this.deliveries.get(clientId);
    const messageId = seqs?.get(seq);
    if (seqs === undefined || messageId === undefined) return;
    seqs.delete(seq);
    if (seqs.size === 0) this.deliveries.delete(clientId);
    const pending = this.pendingSaves.get(clientId);
    const at = pending?.get(seq);
    if (at === undefined) {
      this.ops.push(OP.deleteDelivery, seq);
    } else {
      // Saved and acknowledged within one window: the row never reaches the tables.
      (pending as Map<number, number>).delete(seq);
      this.countSent(at, -1);
      this.drop(at, OP.skip8);
      if (at < this.journaledEnd) this.ops.push(OP.journalDeleteDelivery, seq);
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
    this.pendingInbound.set(id, this.opsBase + this.ops.length);
    this.ops.push(OP.addInbound, id, clientId, packetId);
  }

  deleteInboundQos2(clientId: string, packetId: number): void {
    const ids = this.inbound.get(clientId);
    const id = ids?.get(packetId);
    if (ids === undefined || id === undefined) return;
    ids.delete(packetId);
    if (ids.size === 0) this.inbound.delete(clientId);
    const at = this.pendingInbound.get(id);
    if (at === undefined) {
      this.ops.push(OP.deleteInbound, id);
      return;
    }
    this.pendingInbound.delete(id);
    this.drop(at, OP.skip3);
    if (at < this.journaledEnd) this.ops.push(OP.journalDeleteInbound, id);
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

  /** Count the uncommitted save at `at` in (1) or out of (-1) the sent ones, if it awaits PUBACK. */
  private countSent(at: number, by: 1 | -1): void {
    if (at < this.journaledEnd || this.ops[at - this.opsBase + ARG_STATE] !== STATE_CODE.publish) return;
    if (at < this.sealedEnd) this.sealedSent += by;
    else this.openSent += by;
  }

  /**
   * Make the sealed changes durable: as one journal entry, or, when the window is full, by writing the
   * whole window to the tables and emptying the journal, in one transaction. On any error it rolls back and
   * the changes stay (with what was reported since) for the next commit.
   */
  commitSealed(): undefined {
    const db = this.db;
    const s = this.statements;
    if (db === undefined || s === undefined) return undefined;
    const count = this.sealedEnd - this.opsBase;
    const now = performance.now();
    const journaled = this.journaledEnd - this.opsBase;
    if (
      this.flushNext ||
      this.journaledEnd - this.opsBase + count >= FLUSH_ENTRIES ||
      this.journalBytes >= FLUSH_BYTES ||
      (this.journalBytes > 0 && now - this.windowStart >= FLUSH_MS)
    ) {
      if (count === 0 && this.journalBytes === 0) return undefined;
      const ops = this.ops;
      db.transaction(() => {
        applyOps(s, ops, 0, count);
        if (this.journalBytes > 0) s.clearJournal.run();
      })();
      this.flushed(count);
      return undefined;
    }
    if (this.sealedEnd === this.journaledEnd) return undefined;
    const entry = this.journal.encode(this.ops, journaled, count);
    if (entry !== undefined) {
      s.appendJournal.run(entry);
      if (this.journalBytes === 0) this.windowStart = now;
      this.journalBytes += entry.length;
    }
    this.journaledEnd = this.sealedEnd;
    this.sealedSent = 0;
    if (this.batchMessages.size > 0) this.batchMessages = new Map();
    return undefined;
  }

  /** The first `count` entries of `ops` are in the tables now, and the journal is empty. */
  private flushed(count: number): void {
    this.opsBase = this.sealedEnd;
    this.journaledEnd = this.sealedEnd;
    this.journalBytes = 0;
    this.flushNext = false;
    this.sealedSent = 0;
    if (this.batchMessages.size > 0) this.batchMessages = new Map();
    if (count === this.ops.length) {
      this.ops = [];
      if (this.pendingSaves.size > 0) this.pendingSaves = new Map();
      if (this.pendingMessages.size > 0) this.pendingMessages = new Map();
      if (this.pendingInbound.size > 0) this.pendingInbound = new Map();
      return;
    }
    this.ops = this.ops.slice(count);
    // Saves in the tables now cannot be dropped any more; those after the seal still can.
    const base = this.opsBase;
    for (const [clientId, seqs] of this.pendingSaves) {
      for (const [seq, at] of seqs) if (at < base) seqs.delete(seq);
      if (seqs.size === 0) this.pendingSaves.delete(clientId);
    }
    for (const [id, at] of this.pendingMessages) if (at < base) this.pendingMessages.delete(id);
    for (const [id, at] of this.pendingInbound) if (at < base) this.pendingInbound.delete(id);
  }

  async close(): Promise<void> {
    const db = this.db;
    if (db === undefined) return;
    try {
      this.flushNext = true;
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

  /** Drop the save at `at` from what the tables get, and let go of what it holds (a message). */
  private drop(at: number, skip: number): void {
    const i = at - this.opsBase;
    this.ops[i] = skip;
    for (let k = 1; k <= (ARITY[skip] as number); k++) this.ops[i + k] = null;
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
    if (at === undefined) {
      this.ops.push(OP.deleteMessage, messageId);
      return;
    }
    // The row is not in the tables: drop its save rather than delete it.
    this.pendingMessages.delete(messageId);
    this.drop(at, OP.skip2);
    if (at < this.journaledEnd) this.ops.push(OP.journalDeleteMessage, messageId);
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

/** Run what the journal holds (commits since the last flush) against the tables, and empty it. */
function replayJournal(db: Database.Database, s: Statements): void {
  const entries = db.prepare('SELECT ops FROM journal ORDER BY id').pluck().all() as Buffer[];
  if (entries.length === 0) return;
  db.transaction(() => {
    for (const entry of entries) {
      const ops = decodeJournal(entry);
      applyOps(s, ops, 0, ops.length);
    }
    s.clearJournal.run();
  })();
}
