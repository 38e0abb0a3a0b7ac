/**
 * The SQLite store's tables lag behind its log: the changes of the commits written to the log since the
 * tables were last brought up to date are kept here, coalesced, and applied in one transaction (which also
 * empties the log) once there are many of them. A delivery saved and acknowledged within that window, or an
 * inbound QoS 2 id added and released, is never written to its table at all: the common case of a message
 * acknowledged within a second costs its log bytes and nothing else.
 */
import type Database from 'better-sqlite3';
import { decodeLogRow } from './sqlite-log.js';
import { ARG_PACKET_ID, ARG_STATE, applyOps, OP, OP_ARGS, type Statements } from './sqlite-ops.js';

/** The changes kept before the tables are brought up to date: entries (opcodes and arguments)... */
export const WINDOW_ENTRIES = 1 << 18;
/** ...or log bytes. */
export const WINDOW_BYTES = 16 * 1024 * 1024;
/** After the tables could not be brought up to date (disk full), how long before the next try. */
const RETRY_MS = 1000;

export class TableWindow {
  /** Opcodes and arguments, as in the store's batch; dropped operations become skips. */
  ops: unknown[] = [];
  /** Log bytes written since the tables were brought up to date. */
  bytes = 0;
  /** Positions of the saves in `ops`: deliveries by seq, message rows and inbound ids by row id. */
  private saves = new Map<number, number>();
  private messages = new Map<number, number>();
  private inbound = new Map<number, number>();
  /** performance.now() before which the tables are not tried again after a failure. */
  private retryAt = 0;

  /** Take the committed entries `src[from, from + count)` (whole operations). */
  append(src: readonly unknown[], from: number, count: number): void {
    const ops = this.ops;
    const end = from + count;
    let i = from;
    while (i < end) {
      const op = src[i] as number;
      const args = OP_ARGS[op] ?? 0;
      let at: number | undefined;
      switch (op) {
        case OP.skip8:
        case OP.skip2:
        case OP.skip3:
          break;
        case OP.saveDelivery:
        case OP.saveDeliveryInline:
          this.saves.set(src[i + 2] as number, ops.length);
          copy(ops, src, i, args);
          break;
        case OP.updateDelivery:
          at = this.saves.get(src[i + 2] as number);
          if (at === undefined) copy(ops, src, i, args);
          else {
            ops[at + ARG_PACKET_ID] = src[i + 3];
            ops[at + ARG_STATE] = src[i + 4];
          }
          break;
        case OP.deleteDelivery:
          at = this.saves.get(src[i + 1] as number);
          if (at === undefined) copy(ops, src, i, args);
          else {
            this.saves.delete(src[i + 1] as number);
            drop(ops, at, OP.skip8, 8);
          }
          break;
        case OP.saveMessage:
          this.messages.set(src[i + 1] as number, ops.length);
          copy(ops, src, i, args);
          break;
        case OP.deleteMessage:
          at = this.messages.get(src[i + 1] as number);
          if (at === undefined) copy(ops, src, i, args);
          else {
            this.messages.delete(src[i + 1] as number);
            drop(ops, at, OP.skip2, 2);
          }
          break;
        case OP.addInbound:
          this.inbound.set(src[i + 1] as number, ops.length);
          copy(ops, src, i, args);
          break;
        case OP.deleteInbound:
          at = this.inbound.get(src[i + 1] as number);
          if (at === undefined) copy(ops, src, i, args);
          else {
            this.inbound.delete(src[i + 1] as number);
            drop(ops, at, OP.skip3, 3);
          }
          break;
        default:
          copy(ops, src, i, args);
      }
      i += 1 + args;
    }
  }

  /** Enough kept to bring the tables up to date now. */
  full(): boolean {
    return this.ops.length >= WINDOW_ENTRIES || this.bytes >= WINDOW_BYTES;
  }

  empty(): boolean {
    return this.ops.length === 0 && this.bytes === 0;
  }

  /**
   * Bring the tables up to date with `write` (which empties the log too). A failure (disk full) changes
   * nothing: the log still holds every change, and the next try is a second later. The last write (on
   * close) tries regardless, and a failure of it is left to the next open, which replays the log.
   */
  write(write: (ops: readonly unknown[]) => void, last: boolean): void {
    if (this.empty() || (!last && performance.now() < this.retryAt)) return;
    try {
      write(this.ops);
      this.reset();
    } catch {
      this.retryAt = performance.now() + RETRY_MS;
    }
  }

  /** The tables were brought up to date. */
  private reset(): void {
    this.ops = [];
    this.bytes = 0;
    if (this.saves.size > 0) this.saves = new Map();
    if (this.messages.size > 0) this.messages = new Map();
    if (this.inbound.size > 0) this.inbound = new Map();
  }
}

function copy(ops: unknown[], src: readonly unknown[], i: number, args: number): void {
  for (let k = 0; k <= args; k++) ops.push(src[i + k]);
}

/** Drop the operation at `at` (and let go of its arguments: messages, payloads). */
function drop(ops: unknown[], at: number, skip: number, args: number): void {
  ops[at] = skip;
  ops.fill(undefined, at + 1, at + 1 + args);
}

/**
 * Brings the tables up to date with `ops` and empties the log, in one transaction (made once: better-sqlite3
 * builds four wrappers per `transaction` call).
 */
export function tableWriter(
  db: Database.Database,
  statements: Statements,
): (ops: readonly unknown[]) => void {
  const clearLog = db.prepare('DELETE FROM log');
  return db.transaction((ops: readonly unknown[]) => {
    applyOps(statements, ops, 0, ops.length);
    clearLog.run();
  });
}

/**
 * At open: apply the log rows a crash (or a stop before the tables were brought up to date) left, in order,
 * and empty the log. Returns the rows replayed.
 */
export function replayLog(db: Database.Database, write: (ops: readonly unknown[]) => void): number {
  const ops: unknown[] = [];
  let rows = 0;
  for (const row of db.prepare('SELECT ops FROM log ORDER BY id').iterate() as IterableIterator<{
    ops: Buffer;
  }>) {
    decodeLogRow(row.ops, ops);
    rows++;
  }
  if (rows > 0) write(ops);
  return rows;
}
