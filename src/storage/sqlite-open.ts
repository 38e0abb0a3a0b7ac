/**
 * Opening the SQLite store's database file: the data directory made, better-sqlite3 loaded, exclusive WAL
 * mode with `synchronous` set explicitly, the schema made or migrated, an integrity check; every failure a
 * StorageOpenError naming the directory or file.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import { MIGRATIONS, SCHEMA, SCHEMA_VERSION } from './sqlite-schema.js';

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
  /**
   * Below this much free space on the data directory's disk (counting pages the store can reuse), QoS 1/2
   * publishes are refused until there is a quarter more, at most 16 MiB (`disk-watch.ts`). Default 64 MiB; 0: never.
   */
  readonly minFreeBytes?: number;
}

/** The data directory cannot be used: unwritable, corrupt, or in use by another broker. */
export class StorageOpenError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageOpenError';
  }
}

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

/**
 * Make `dir` and the directories above it that are missing, one `mkdir` each. Not `mkdirSync`'s
 * `recursive`: under a pseudo-filesystem whose mkdir fails with ENOENT though the parent exists (`/proc`),
 * Node's recursive mkdir retries forever and the broker hung instead of saying so.
 */
function makeDirectory(dir: string): void {
  if (existsSync(dir)) return;
  const parent = dirname(dir);
  if (parent !== dir) makeDirectory(parent);
  try {
    mkdirSync(dir);
  } catch (err) {
    // Made meanwhile by another process: as good as made here.
    if (!existsSync(dir)) throw err;
  }
}

/** Open (or make) the database file of a data directory, ready for the store; the caller closes it. */
export function openDatabase(
  dir: string,
  file: string,
  durability: Durability | undefined,
): Database.Database {
  const where = dir;
  try {
    makeDirectory(where);
  } catch (err) {
    throw new StorageOpenError(`cannot create data directory ${where}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const Sqlite = loadSqlite();
  let db: Database.Database;
  try {
    db = new Sqlite(file, { timeout: 200 });
  } catch (err) {
    throw new StorageOpenError(`cannot open ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    // Exclusive locking before WAL: no shared-memory file, and the lock taken by the first write below
    // is held until close, so a second broker on this directory is refused instead of sharing it.
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = WAL');
    // Set explicitly on every open: this build of SQLite defaults WAL to NORMAL already, but the
    // durability promise must not depend on a build option.
    db.pragma(`synchronous = ${durability === 'power' ? 'FULL' : 'NORMAL'}`);
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
    throw new StorageOpenError(`cannot use data directory ${where}: ${file}: ${message}`, {
      cause: err,
    });
  }
  return db;
}

/**
 * Loading the state failed (the log's replay writes the tables, so a full disk fails it too): the error
 * names the file, and for a full disk says that nothing is lost and what to do.
 */
export function loadError(file: string, err: unknown): StorageOpenError {
  const message = (err as Error).message;
  const full = (err as { code?: string }).code === 'SQLITE_FULL';
  return new StorageOpenError(
    full
      ? `cannot load ${file}: ${message}: the state it holds is intact; free space on its disk (or raise persistence.maxBytes) and start again`
      : `cannot load ${file}: ${message}`,
    { cause: err },
  );
}

/** Cap the database's size (undefined: no cap): beyond it, writes fail as on a full disk. */
export function setMaxBytes(db: Database.Database, maxBytes: number | undefined): void {
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  // 2^31 - 2 pages is SQLite's own ceiling, which stands for "no cap".
  const pages = maxBytes === undefined ? 2_147_483_646 : Math.max(1, Math.ceil(maxBytes / pageSize));
  db.pragma(`max_page_count = ${pages}`);
}

/** Bytes the database can reuse without growing its file: its free pages. */
export function reusableBytes(db: Database.Database): number {
  const pages = db.pragma('freelist_count', { simple: true }) as number;
  return pages * (db.pragma('page_size', { simple: true }) as number);
}

/** Copy the WAL into the database and truncate it to nothing: its disk space is given back. */
export function shrinkWal(db: Database.Database): void {
  db.pragma('wal_checkpoint(TRUNCATE)');
}

/**
 * The most the WAL may grow to before it is checkpointed: a quarter of the free-space floor, so that when
 * the disk gets low the WAL and a checkpoint's copy of it still fit in what the floor kept. At most 8192
 * pages (32 MiB: rows come and go quickly, so the same pages are not copied back over and over), at least
 * 64. No floor: 8192.
 */
export function sizeWal(db: Database.Database, floor: number): void {
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  const pages = floor <= 0 ? 8192 : Math.max(64, Math.min(8192, Math.floor(floor / 4 / pageSize)));
  db.pragma(`wal_autocheckpoint = ${pages}`);
}

/** Bytes of the database file and its WAL. */
export function databaseBytes(file: string): number {
  let bytes = 0;
  for (const name of [file, `${file}-wal`]) {
    try {
      bytes += statSync(name).size;
    } catch {
      // not there (yet)
    }
  }
  return bytes;
}
