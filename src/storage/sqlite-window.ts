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
import { applyOps, type Statements } from './sqlite-ops.js';

/** The changes kept before the tables are brought up to date: entries (opcodes and arguments)... */
export const WINDOW_ENTRIES = 1 << 18;
/** ...or log bytes. */
export const WINDOW_BYTES = 16 * 1024 * 1024;
/** After the tables could not be brought up to date (disk full), how long before the next try. */
export const RETRY_MS = 1000;

/**
 * Brings the tables up to date with `ops[0, count)` and empties the log, in one transaction (made once:
 * better-sqlite3 builds four wrappers per `transaction` call).
 */
export function tableWriter(
  db: Database.Database,
  statements: Statements,
): (ops: readonly unknown[], count: number) => void {
  const clearLog = db.prepare('DELETE FROM log');
  return db.transaction((ops: readonly unknown[], count: number) => {
    applyOps(statements, ops, 0, count);
    clearLog.run();
  });
}

/**
 * At open: apply the log rows a crash (or a stop before the tables were brought up to date) left, in order,
 * and empty the log.
 */
/**
 * Replay the log into the tables, then read the state back. On failure (a full disk fails the replay's
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
