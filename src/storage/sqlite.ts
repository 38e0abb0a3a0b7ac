/**
 * The SQLite store (better-sqlite3, WAL): durable broker state in one file, `starling.db`, in a data
 * directory. Changes are kept in order in one array; each commit (one per event-loop turn) writes the new
 * ones as one row of the change log (`sqlite-log.ts`), and the tables are brought up to date from the same
 * array in large batches (`sqlite-window.ts`), in which a change undone before then (a delivery
 * acknowledged) is dropped. A commit that fails (disk full) keeps its changes and is retried with the next.
 */
import { join, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import type { Message } from '../broker/message.js';
import type {
  SessionStore,
  StoredDelivery,
  StoredSession,
  StoredState,
  StoredSubscription,
} from '../broker/storage.js';
import { DEFAULT_MIN_FREE_BYTES, type DiskWatch, watchDatabaseDisk } from './disk-watch.js';
import { ChangeArray } from './sqlite-changes.js';
import { encodeWill } from './sqlite-codec.js';
import { InboundIds } from './sqlite-inbound.js';
import { LogEncoder } from './sqlite-log.js';
import {
  databaseBytes,
  openDatabase,
  type SqliteStorageOptions,
  setMaxBytes,
  sizeWal,
} from './sqlite-open.js';
import { ARG_MESSAGE, ARG_PACKET_ID, ARG_STATE, OP, prepare } from './sqlite-ops.js';
import { STATE_CODE } from './sqlite-schema.js';
import { Tracked, type TrackedDelivery, TrackedMessage } from './sqlite-tracked.js';
import {
  RETRY_MS,
  replayAndLoad,
  TablesWriteError,
  tableWriter,
  WINDOW_BYTES,
  WINDOW_ENTRIES,
  WINDOW_MS,
  windowUnder,
} from './sqlite-window.js';

export { type Durability, type SqliteStorageOptions, StorageOpenError } from './sqlite-open.js';

export const DATABASE_FILE = 'starling.db';

/** The SQLite store for `new Broker({ storage: sqliteStorage(dir) })`. */
export function sqliteStorage(dir: string, options: SqliteStorageOptions = {}): SqliteStore {
  return new SqliteStore(dir, options);
}

export class SqliteStore implements SessionStore {
  readonly name = 'sqlite';
  readonly dir: string;
  readonly file: string;
  private db: Database.Database | undefined;
  /** The disk's free space: below the floor, QoS 1/2 publishes are refused (`lowOnSpace`). */
  private watch: DiskWatch | undefined;
  /** Appends a row to the change log (one statement: its own transaction). */
  private insertLog: Database.Statement | undefined;
  private readonly encoder = new LogEncoder();
  /** Applies `ops[0, count)` to the tables and empties the log, in one transaction. */
  private writeTables: ((ops: readonly unknown[], count: number) => void) | undefined;
  /**
   * Every change not in the tables yet. Those before `progress.logged` are in the log; those from there to
   * `sealedEnd` make the next commit. A change undone before the tables are written turns into a skip (with,
   * when it was logged already, a change for the log only that undoes it there).
   */
  private readonly changes = new ChangeArray();
  /**
   * Changes up to `logged` (a position) are in the log, and those up to `tablesUpTo` in the tables (the
   * array may still hold some of them: after a failed write, until the next one succeeds).
   */
  private readonly progress: { logged: number; tablesUpTo: number } = {
    logged: 0,
    tablesUpTo: 0,
  };
  /** Changes up to here (a position) are sealed: the next `commitSealed` writes them. */
  private sealedEnd = 0;
  /** Log bytes written since the tables were brought up to date... */
  private logBytes = 0;
  /** ...and how many make them be brought up to date (WINDOW_BYTES, less under a small free-space floor). */
  private windowBytes = WINDOW_BYTES;
  /** performance.now() when the first change not in the tables was logged (see WINDOW_MS). */
  private windowOpenedAt = 0;
  /** performance.now() before which the tables are not tried again after a failure. */
  private tablesRetryAt = 0;
  /**
   * The message of the last delivery saved since the last commit, and (`lastRow`) its row, or undefined
   * while that delivery carries it (a next delivery of it makes the row). A message's deliveries come one
   * after the other (the router hands it to every session at once); one delivered again later, or after
   * the commit (a retained one, to a new subscription), is saved again.
   */
  private lastMessage: Message | undefined;
  private lastRow: TrackedMessage | undefined;
  private nextMessageId = 1;
  /**
   * The deliveries, message rows and inbound ids saved, each with the position of its save. One
   * acknowledged before the tables are written is dropped from them (and, before its commit, from the log),
   * and a change of its state patches the save: a message sent and acknowledged within a second costs its
   * log bytes and no statement at all.
   */
  private tracked = new Tracked();
  /** Inbound QoS 2 packet ids awaiting PUBREL. */
  private inbound = new InboundIds(this.changes, this.tracked, this.progress);
  /** Saves not logged yet of deliveries sent and awaiting acknowledgement: before and after the seal. */
  private sealedSent = 0;
  private openSent = 0;

  constructor(
    dir: string,
    private readonly options: SqliteStorageOptions = {},
  ) {
    this.dir = resolve(dir);
    this.file = join(this.dir, DATABASE_FILE);
  }

  async open(): Promise<StoredState> {
    const db = openDatabase(this.dir, this.file, this.options.durability);
    setMaxBytes(db, this.options.maxBytes);
    const floor = this.options.minFreeBytes ?? DEFAULT_MIN_FREE_BYTES;
    sizeWal(db, floor);
    const window = windowUnder(floor);
    this.windowBytes = window.bytes;
    this.writeTables = tableWriter(db, prepare(db), window.chunkEntries);
    this.insertLog = db.prepare('INSERT INTO log (ops) VALUES (?)');
    const loaded = replayAndLoad(db, this.writeTables, this.file);
    this.db = db;
    this.nextMessageId = loaded.maxMessageId + 1;
    this.tracked = loaded.tracked;
    this.inbound = new InboundIds(this.changes, this.tracked, this.progress);
    this.inbound.load(loaded.maxInboundId);
    // Low on space: the log's rows and the acknowledged deliveries' rows become free pages.
    this.watch = watchDatabaseDisk(this.dir, floor, db, () => this.writeLogged());
    return loaded.state;
  }

  saveSession(s: StoredSession): void {
    this.changes.push(
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
    const session = this.tracked.sessions.get(clientId);
    if (session !== undefined) {
      for (const d of session.deliveries.items()) this.drop(d);
      this.inbound.deleteSession(clientId);
      this.tracked.sessions.delete(clientId);
    }
    this.changes.push(OP.deleteSession, clientId);
  }

  saveSubscription(clientId: string, s: StoredSubscription): void {
    this.changes.push(
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
    this.changes.push(OP.deleteSubscription, clientId, key);
  }

  saveDelivery(clientId: string, d: StoredDelivery): void {
    // Saved again under its key (a session's state reported again): the earlier save goes first.
    const earlier = this.tracked.deliveries.get(d.seq);
    if (earlier !== undefined) this.drop(earlier);
    let row = this.lastRow;
    let op: number = OP.saveDelivery;
    let carried: Message | number;
    if (d.message !== this.lastMessage) {
      // The message's first delivery carries it: one row to write, and to delete on the acknowledgement.
      this.lastMessage = d.message;
      this.lastRow = undefined;
      row = undefined;
      op = OP.saveDeliveryInline;
      carried = d.message;
    } else {
      if (row === undefined) {
        row = new TrackedMessage(this.nextMessageId++, 0, this.changes.next);
        this.lastRow = row;
        this.changes.put3(OP.saveMessage, row.id, d.message);
      }
      row.refs++;
      carried = row.id;
    }
    if (d.state === 'publish') this.openSent++;
    this.tracked.addDelivery(clientId, d.seq, row, this.changes.next);
    // The hot path: written directly, without a rest-arguments array. Both saves have the same layout.
    const changes = this.changes;
    const ops = changes.ops;
    let e = changes.end;
    ops[e++] = op;
    ops[e++] = clientId;
    ops[e++] = d.seq;
    ops[e++] = carried;
    ops[e++] = d.qos;
    ops[e++] = d.retain ? 1 : 0;
    ops[e++] = d.subscriptionIds === undefined ? null : d.subscriptionIds.join(',');
    ops[e++] = d.packetId;
    ops[e++] = STATE_CODE[d.state];
    changes.end = e;
  }

  updateDelivery(clientId: string, seq: number, packetId: number, state: 'publish' | 'pubrel'): void {
    const at = this.tracked.deliveries.get(seq)?.at;
    if (at !== undefined && at >= this.progress.tablesUpTo) {
      // Not in the tables yet: the save carries the new state (and the log, if it has the save, is told).
      this.countSent(at, -1);
      this.changes.setArg(at, ARG_PACKET_ID, packetId);
      this.changes.setArg(at, ARG_STATE, STATE_CODE[state]);
      // Past PUBREC, a restart only sends PUBREL again: the save lets go of its message, which the log row
      // (when not written yet) and the table row leave out, and which can then die young.
      if (state === 'pubrel' && this.changes.arg(at, 0) === OP.saveDeliveryInline)
        this.changes.setArg(at, ARG_MESSAGE, null);
      this.countSent(at, 1);
      if (at < this.progress.logged)
        this.changes.put5(OP.logUpdateDelivery, clientId, seq, packetId, STATE_CODE[state]);
      return;
    }
    this.changes.put5(OP.updateDelivery, clientId, seq, packetId, STATE_CODE[state]);
  }

  deleteDelivery(_clientId: string, seq: number): void {
    const d = this.tracked.deliveries.get(seq);
    if (d !== undefined) this.drop(d);
  }

  private drop(d: TrackedDelivery): void {
    this.tracked.removeDelivery(d);
    const at = d.at;
    if (at >= this.progress.tablesUpTo) {
      // Saved and acknowledged before the tables were written: the row never is.
      this.countSent(at, -1);
      this.changes.skip(at, OP.skip8, 8);
      if (at < this.progress.logged) this.changes.put2(OP.logDeleteDelivery, d.seq);
    } else {
      this.changes.put2(OP.deleteDelivery, d.seq);
    }
    if (d.message !== undefined) this.release(d.message);
  }

  addInboundQos2(clientId: string, packetId: number): void {
    this.inbound.add(clientId, packetId);
  }

  deleteInboundQos2(clientId: string, packetId: number): void {
    this.inbound.delete(clientId, packetId);
  }

  setRetained(topic: string, message: Message | undefined): void {
    if (message === undefined) this.changes.push(OP.deleteRetained, topic);
    else this.changes.push(OP.setRetained, message);
  }

  commit(): undefined {
    this.seal();
    return this.commitSealed();
  }

  /** The changes reported so far make the next `commitSealed`. */
  seal(): void {
    this.sealedEnd = this.changes.next;
    this.sealedSent += this.openSent;
    this.openSent = 0;
  }

  sealedInFlight(): number {
    return this.sealedSent;
  }

  /** Count the save at `at` in (1) or out of (-1) the sent ones, if it is unlogged, sent and awaiting PUBACK. */
  private countSent(at: number, by: 1 | -1): void {
    if (at < this.progress.logged || this.changes.arg(at, ARG_STATE) !== STATE_CODE.publish) return;
    if (at < this.sealedEnd) this.sealedSent += by;
    else this.openSent += by;
  }

  /**
   * Write the sealed changes as one row of the log; on any error they stay (with what was reported since)
   * for the next commit. Then, when many changes wait for the tables, bring them up to date.
   */
  commitSealed(): undefined {
    const insertLog = this.insertLog;
    const progress = this.progress;
    const count = this.sealedEnd - progress.logged;
    if (insertLog === undefined || count === 0) return undefined;
    const row = this.encoder.encode(this.changes.ops, progress.logged - this.changes.base, count);
    if (row.length > 0) insertLog.run(row);
    const now = performance.now();
    if (progress.logged === this.changes.base) this.windowOpenedAt = now;
    this.logBytes += row.length;
    progress.logged = this.sealedEnd;
    this.sealedSent = 0;
    this.lastMessage = undefined;
    const full =
      progress.logged - this.changes.base >= WINDOW_ENTRIES ||
      this.logBytes >= this.windowBytes ||
      now - this.windowOpenedAt >= WINDOW_MS;
    if (full && now >= this.tablesRetryAt) this.writeLogged();
    this.watch?.wrote(row.length);
    return undefined;
  }

  /**
   * Bring the tables up to date with what is logged (and empty the log), then let go of it. A failure (disk
   * full) changes nothing: the log still holds every change, and the next try is a second later.
   */
  private writeLogged(): void {
    const logged = this.progress.logged;
    const count = logged - this.changes.base;
    if (this.writeTables === undefined || (count === 0 && this.logBytes === 0)) return;
    try {
      this.writeTables(this.changes.ops, count);
    } catch (err) {
      this.tablesRetryAt = performance.now() + RETRY_MS;
      // The rows of the chunks written are in the tables: undoing one of those changes takes a statement.
      if (err instanceof TablesWriteError) this.inTables(this.changes.base + err.applied);
      return;
    }
    this.changes.dropBefore(logged);
    this.logBytes = 0;
    this.inTables(logged);
  }

  /**
   * Changes before `position` are in the tables: saves before it can no longer be dropped, only undone.
   * Never lowered (a second failed write may get less far than the first).
   */
  private inTables(position: number): void {
    if (position > this.progress.tablesUpTo) this.progress.tablesUpTo = position;
  }

  lowOnSpace(): boolean {
    return this.watch?.lowOnSpace === true;
  }

  async close(): Promise<void> {
    const db = this.db;
    if (db === undefined) return;
    this.watch?.stop();
    try {
      this.commit();
      // On failure the next open replays the log.
      this.writeLogged();
    } finally {
      this.db = undefined;
      this.insertLog = undefined;
      this.writeTables = undefined;
      db.close();
    }
  }

  /** Change the database size cap while running (undefined: no cap); a batch kept by a full commit then fits. */
  setMaxBytes(maxBytes: number | undefined): void {
    if (this.db !== undefined) setMaxBytes(this.db, maxBytes);
  }

  sizeBytes(): number {
    return databaseBytes(this.file);
  }

  /** One delivery less uses this message row: the last one takes the row along. */
  private release(row: TrackedMessage): void {
    if (--row.refs > 0) return;
    // A later delivery of the message must not name the row that goes now.
    if (row === this.lastRow) this.lastMessage = undefined;
    const at = row.at;
    if (at >= this.progress.tablesUpTo) {
      // The row is not in the tables yet: drop its save rather than delete it.
      this.changes.skip(at, OP.skip2, 2);
      if (at < this.progress.logged) this.changes.put2(OP.logDeleteMessage, row.id);
      return;
    }
    this.changes.put2(OP.deleteMessage, row.id);
  }
}
