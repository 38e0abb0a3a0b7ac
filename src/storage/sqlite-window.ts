/**
 * The SQLite store's tables lag behind its log: the changes logged since the tables were last brought up to
 * date (the window) are applied in one transaction, which also empties the log, once there are many of them.
 * Until then a change can be undone in memory (`sqlite.ts`): a delivery saved and acknowledged within the
 * window, or an inbound QoS 2 id added and released, never reaches its table at all, so the common case of a
 * message acknowledged within a second costs its log bytes and nothing else. A restart replays the log.
 */
import type Database from 'better-sqlite3';
import { type LoadedStore, loadState } from './sqlite-load.js';
import { decodeLogRow } from './sqlite-log.js';
import { loadError } from './sqlite-open.js';
import { applyOps, OP_ARGS, type Statements } from './sqlite-ops.js';

/** The changes kept before the tables are brought up to date: entries (opcodes and arguments)... */
export const WINDOW_ENTRIES = 1 << 18;
/** ...or log bytes... */
export const WINDOW_BYTES = 16 * 1024 * 1024;
/**
 * ...or milliseconds since the first of them was logged. A change holds its message until then, and a
 * payload read from a socket is a slice of a pooled read buffer it keeps alive whole (8 KiB for a 100-byte
 * payload): at a low rate the entries or bytes alone took minutes to fill and held over 100 MiB so.
 */
export const WINDOW_MS = 10_000;
/**
 * The window and the chunks its write is split into under a free-space floor (0: none), both to fit in a
 * quarter of the floor: the log's bytes (at least 256 KiB), and about 2 KiB of WAL per entry at worst (a
 * deletion touching a page of its own).
 */
export function windowUnder(floor: number): { bytes: number; chunkEntries: number } {
  if (floor <= 0) return { bytes: WINDOW_BYTES, chunkEntries: WINDOW_ENTRIES };
  return {
    bytes: Math.max(256 * 1024, Math.min(WINDOW_BYTES, floor / 4)),
    chunkEntries: Math.max(256, Math.floor(floor / 4 / 2048)),
  };
}

/** After the tables could not be brought up to date (disk full), how long before the next try. */
export const RETRY_MS = 1000;

/**
 * Bringing the tables up to date failed after its first `applied` entries were written (in transactions of
 * their own): the log still holds them all, and writing them again is harmless (every change sets or deletes
 * rows by key).
 */
export class TablesWriteError extends Error {
  /** The SQLite error code of the cause (`SQLITE_FULL`...). */
  readonly code: string | undefined;

  constructor(
    readonly applied: number,
    cause: unknown,
  ) {
    super((cause as Error).message, { cause });
    this.name = 'TablesWriteError';
    this.code = (cause as { code?: string }).code;
  }
}

/**
 * Brings the tables up to date with `ops[0, count)` and empties the log: in transactions of about
 * `chunkEntries` entries each, the last of which also empties the log (each made once: better-sqlite3 builds
 * four wrappers per `transaction` call). A transaction's WAL frames are a copy of every page it touches, so
 * a window written in one go would need room for a copy of every table page it changes; in chunks the WAL
 * is checkpointed and reused between them, and a store low on disk space can still delete its rows.
 */
export function tableWriter(
  db: Database.Database,
  statements: Statements,
  chunkEntries: number,
): (ops: readonly unknown[], count: number) => void {
  const clearLog = db.prepare('DELETE FROM log');
  const apply = db.transaction((ops: readonly unknown[], from: number, count: number) => {
    applyOps(statements, ops, from, count);
  });
  const applyLast = db.transaction((ops: readonly unknown[], from: number, count: number) => {
    applyOps(statements, ops, from, count);
    clearLog.run();
  });
  return (ops, count) => {
    let from = 0;
    try {
      for (let end = opBoundary(ops, from, chunkEntries, count); end < count; ) {
        apply(ops, from, end - from);
        from = end;
        end = opBoundary(ops, from, chunkEntries, count);
      }
      applyLast(ops, from, count - from);
    } catch (err) {
      throw new TablesWriteError(from, err);
    }
  };
}

/** The first operation boundary at least `entries` after `from` (one at `from`), or `count`. */
function opBoundary(ops: readonly unknown[], from: number, entries: number, count: number): number {
  let i = from;
  const at = from + entries;
  while (i < at && i < count) i += 1 + (OP_ARGS[ops[i] as number] ?? 0);
  return Math.min(i, count);
}

/**
 * At open: replay the log rows a crash (or a stop before the tables were brought up to date) left into the
 * tables, in order, and empty the log; then read the state back. On failure (a full disk fails the replay's
 * writes) the database is closed and the error names `file` (`loadError`).
 */
export function replayAndLoad(
  db: Database.Database,
  write: (ops: readonly unknown[], count: number) => void,
  file: string,
): LoadedStore {
  try {
    replayLog(db, write);
    return loadState(db);
  } catch (err) {
    db.close();
    throw loadError(file, err);
  }
}

function replayLog(db: Database.Database, write: (ops: readonly unknown[], count: number) => void): void {
  const ops: unknown[] = [];
  for (const row of db.prepare('SELECT ops FROM log ORDER BY id').iterate() as IterableIterator<{
    ops: Buffer;
  }>) {
    decodeLogRow(row.ops, ops);
  }
  if (ops.length > 0) write(ops, ops.length);
}
