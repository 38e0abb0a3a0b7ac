/**
 * The SQLite store (better-sqlite3, WAL): durable broker state in one file, `starling.db`, in a data
 * directory. Changes are kept in order in memory; each commit (one per event-loop turn) writes them as one
 * row of the change log (`sqlite-log.ts`), and the tables are brought up to date from the log in large,
 * coalesced batches (`sqlite-window.ts`). A commit that fails (disk full) keeps its changes and is retried
 * with the next one.
 */
import { statSync } from 'node:fs';
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
import { loadState } from './sqlite-load.js';
import { LogEncoder } from './sqlite-log.js';
import { type Durability, openDatabase } from './sqlite-open.js';
import { ARG_PACKET_ID, ARG_STATE, OP, prepare } from './sqlite-ops.js';
import { STATE_CODE } from './sqlite-schema.js';
import { replayLog, TableWindow, tableWriter } from './sqlite-window.js';

export { type Durability, StorageOpenError } from './sqlite-open.js';

export interface SqliteStorageOptions {
  /**
   * `process` (default): `synchronous=NORMAL` in WAL mode, what is committed survives kill -9 and any crash
   * of the process. `power`: `synchronous=FULL`, every commit is synced to the disk and survives power loss.
   */
  readonly durability?: Durability;
  /** Largest database size in bytes; beyond it commits fail as on a full disk. Default: no limit. */
  readonly maxBytes?: number;
}

export const DATABASE_FILE = 'starling.db';

/** In the delivery index: this delivery carries its message (no `messages` row). */
const INLINE = -1;
/** Written entries at the start of the pending batch before it is cut (and only when they are half of it). */
const COMPACT_OPS = 16_384;

/** The SQLite store for `new Broker({ storage: sqliteStorage(dir) })`. */
export function sqliteStorage(dir: string, options: SqliteStorageOptions = {}): SqliteStore {
  return new SqliteStore(dir, options);
}

export class SqliteStore implements SessionStore {
  readonly name = 'sqlite';
  readonly dir: string;
  readonly file: string;
  private db: Database.Database | undefined;
  /** Appends a row to the change log (one statement: its own transaction). */
  private insertLog: Database.Statement | undefined;
  private readonly encoder = new LogEncoder();
  /** The changes in the log and not yet in the tables, and how they get there. */
  private readonly window = new TableWindow();
  private writeTables: ((ops: readonly unknown[]) => void) | undefined;
  /**
   * The pending batch: opcodes and their arguments, flat. Those before `head` are written (and cleared); the
   * array is cut only once that part is large, so a commit copies nothing.
   */
  private ops: unknown[] = [];
  private head = 0;
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
   * Deliveries saved in the pending batch: seq (unique in the broker) -> position of the save's opcode in
   * `ops`. A delivery acknowledged before the batch is written is dropped from it, and a change of its state
   * patches the save, so a message sent and acknowledged between two commits costs no statement at all.
   */
  private pendingSaves = new Map<number, number>();
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
    const db = openDatabase(this.dir, this.file, this.options.durability);
    this.db = db;
    this.setMaxBytes(this.options.maxBytes);
    const statements = prepare(db);
    this.writeTables = tableWriter(db, statements);
    this.insertLog = db.prepare('INSERT INTO log (ops) VALUES (?)');
    replayLog(db, this.writeTables);
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
    this.notePendingSave(d.seq, d.state);
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
    const at = this.pendingSaves.get(seq);
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
    const at = this.pendingSaves.get(seq);
    if (at !== undefined) {
      // Saved and acknowledged within one batch: the row is never written.
      this.pendingSaves.delete(seq);
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
   * Write the sealed changes as one row of the log; on any error they stay (with what was reported since)
   * for the next commit. Then, when the log holds many changes, bring the tables up to date.
   */
  commitSealed(): undefined {
    const insertLog = this.insertLog;
    const count = this.sealedEnd - this.opsBase - this.head;
    if (insertLog === undefined || count === 0) return undefined;
    const ops = this.ops;
    const row = this.encoder.encode(ops, this.head, count);
    if (row.length > 0) insertLog.run(row);
    this.window.bytes += row.length;
    this.window.append(ops, this.head, count);
    if (this.window.full()) this.writeWindow(false);
    this.sealedSent = 0;
    if (this.batchMessages.size > 0) this.batchMessages = new Map();
    if (this.head + count === ops.length) {
      this.opsBase = this.sealedEnd;
      this.head = 0;
      this.ops = [];
      if (this.pendingSaves.size > 0) this.pendingSaves = new Map();
      if (this.pendingMessages.size > 0) this.pendingMessages = new Map();
      return undefined;
    }
    // The written part is never read again: let go of what it holds (messages, payloads) now, not at the cut.
    ops.fill(undefined, this.head, this.head + count);
    this.head += count;
    if (this.head >= COMPACT_OPS && this.head * 2 >= ops.length) {
      this.ops = ops.slice(this.head);
      this.opsBase += this.head;
      this.head = 0;
    }
    // Saves written now cannot be dropped any more; those after the seal still can.
    const written = this.sealedEnd;
    for (const [seq, at] of this.pendingSaves) if (at < written) this.pendingSaves.delete(seq);
    for (const [messageId, at] of this.pendingMessages)
      if (at < written) this.pendingMessages.delete(messageId);
    return undefined;
  }

  async close(): Promise<void> {
    const db = this.db;
    if (db === undefined) return;
    try {
      this.commit();
      this.writeWindow(true);
    } finally {
      this.db = undefined;
      this.insertLog = undefined;
      this.writeTables = undefined;
      db.close();
    }
  }

  private writeWindow(last: boolean): void {
    if (this.writeTables !== undefined) this.window.write(this.writeTables, last);
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
  private notePendingSave(seq: number, state: DeliveryState): void {
    if (state === 'publish') this.openSent++;
    this.pendingSaves.set(seq, this.opsBase + this.ops.length);
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
}
