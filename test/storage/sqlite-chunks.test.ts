/**
 * The SQLite store brings its tables up to date in chunks (one transaction each, the last also empties the
 * log), so that a store low on disk space can still write them. A write that fails after some chunks leaves
 * tables partly updated and the whole log: the replay at the next open applies the log again over them and
 * must end exactly where a replay over untouched tables ends. A store low on disk space writes its tables
 * and truncates its WAL every second, between its commits, and loses nothing by it. At a low rate the
 * tables are written once the window is WINDOW_MS old (its changes hold their messages until then).
 */
import assert from 'node:assert/strict';
import { statfsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { createMessage, type Message } from '../../src/broker/message.js';
import { DATABASE_FILE, SqliteStore } from '../../src/storage/sqlite.js';
import { decodeLogRow } from '../../src/storage/sqlite-log.js';
import { applyOps, OP_ARGS, prepare } from '../../src/storage/sqlite-ops.js';
import { WINDOW_MS } from '../../src/storage/sqlite-window.js';
import { sqliteDirs } from '../support/sqlite-dirs.js';
import {
  storedDelivery as delivery,
  plainSubscription,
  offlineSession as session,
} from '../support/stored-records.js';

const { freshDir, crashImage } = sqliteDirs('starling-sqlite-chunks-');

const TABLES = [
  'sessions',
  'subscriptions',
  'messages',
  'deliveries',
  'inbound_qos2',
  'retained',
  'log',
] as const;

type Dump = Record<(typeof TABLES)[number], unknown[]>;

/** Every table's rows, in key order, read by a plain connection. */
function dump(dir: string): Dump {
  const db = new Database(join(dir, DATABASE_FILE));
  try {
    return Object.fromEntries(
      TABLES.map((t) => [t, db.prepare(`SELECT * FROM ${t} ORDER BY 1, 2`).all()]),
    ) as Dump;
  } finally {
    db.close();
  }
}

/** Open and close a store on `dir`: the log is replayed into the tables. */
async function replay(dir: string): Promise<void> {
  const store = new SqliteStore(dir, { minFreeBytes: 0 });
  await store.open();
  await store.close();
}

const message = (n: number): Message =>
  createMessage(`t/${n}`, Buffer.alloc(600, n), 1, false, undefined, 'pub', Date.now());

describe('SQLite store tables written in chunks', () => {
  test('a log replayed over tables a failed chunked write left partly updated ends as a whole replay', async () => {
    const dir = freshDir();
    // No disk watch: the store never writes its tables here, so the image holds the whole log.
    const store = new SqliteStore(dir, { minFreeBytes: 0 });
    await store.open();
    for (let c = 0; c < 40; c++) {
      const clientId = `c${c}`;
      store.saveSession(session(clientId));
      store.saveSubscription(clientId, plainSubscription('x/#'));
      store.addInboundQos2(clientId, 1);
      store.addInboundQos2(clientId, 2);
      for (let k = 0; k < 5; k++) store.saveDelivery(clientId, delivery(c * 10 + k, message(c * 10 + k)));
      store.setRetained(`r/${c}`, message(c));
    }
    store.commit();
    // Later commits undo part of what the first wrote: the replay must end as the last change leaves it.
    for (let c = 0; c < 40; c += 2) {
      store.deleteInboundQos2(`c${c}`, 1);
      store.deleteDelivery(`c${c}`, c * 10);
      store.updateDelivery(`c${c}`, c * 10 + 1, 7, 'pubrel');
      store.setRetained(`r/${c}`, undefined);
    }
    store.commit();
    for (let c = 0; c < 40; c += 4) store.deleteSession(`c${c}`);
    store.addInboundQos2('c1', 3);
    store.commit();

    const whole = crashImage(dir);
    const partial = crashImage(dir);
    await store.close();

    // What a chunked write that failed after its first chunks leaves: those chunks in the tables, the log whole.
    const db = new Database(join(partial, DATABASE_FILE));
    const ops: unknown[] = [];
    for (const row of db.prepare('SELECT ops FROM log ORDER BY id').all() as { ops: Buffer }[])
      decodeLogRow(row.ops, ops);
    let end = 0;
    while (end < ops.length / 2) end += 1 + (OP_ARGS[ops[end] as number] ?? 0);
    const statements = prepare(db);
    db.transaction(() => applyOps(statements, ops, 0, end))();
    db.close();
    assert.ok(dump(partial).deliveries.length > 0, 'the first half of the changes is in the tables');
    assert.equal(dump(partial).log.length, 3, 'and the log is whole');

    await replay(whole);
    await replay(partial);
    const expected = dump(whole);
    assert.equal(expected.log.length, 0);
    assert.equal(expected.sessions.length, 30);
    // Two ids per session, the even sessions' first released, every fourth session gone, one more added.
    assert.equal(expected.inbound_qos2.length, 2 * 40 - 20 - 10 + 1);
    assert.deepEqual(dump(partial), expected);
  });

  test('a small free-space floor writes the tables in chunks: the WAL stays a fraction of the data', async () => {
    const dir = freshDir();
    // 1 MiB floor: WAL checkpointed at 256 KiB, the tables written every 256 KiB of log, 256-entry chunks.
    const store = new SqliteStore(dir, { minFreeBytes: 1024 * 1024 });
    await store.open();
    const wal = (): number => statSync(join(dir, `${DATABASE_FILE}-wal`)).size;
    let seq = 0;
    for (let round = 0; round < 20; round++) {
      for (let k = 0; k < 200; k++) store.saveDelivery('s', delivery(++seq, message(seq)));
      store.commit();
    }
    // Every delivery acknowledged (a few bytes of log each), then more saves until the tables are written:
    // the deletions touch every page the first saves filled.
    for (let s = 1; s <= seq; s++) store.deleteDelivery('s', s);
    store.commit();
    let walMax = 0;
    for (let round = 0; round < 6; round++) {
      for (let k = 0; k < 200; k++) store.saveDelivery('s', delivery(++seq, message(seq)));
      store.commit();
      walMax = Math.max(walMax, wal());
    }
    await store.close();
    assert.equal(dump(dir).deliveries.length, 1200);
    const data = 4000 * 600;
    assert.ok(walMax < data / 2, `WAL at most ${walMax} bytes while deleting ${data} bytes of payloads`);
  });

  test('low on space, the store writes its tables and truncates its WAL each second, and a crash image holds every commit', async () => {
    const dir = freshDir();
    const fs = statfsSync(dir);
    // A floor a terabyte above what the disk has free: low from the start.
    const store = new SqliteStore(dir, { minFreeBytes: fs.bavail * fs.bsize + 2 ** 40 });
    await store.open();
    assert.equal(store.lowOnSpace(), true);
    store.saveSession(session('s'));
    let seq = 0;
    for (let round = 0; round < 4; round++) {
      for (let k = 0; k < 50; k++) store.saveDelivery('s', delivery(++seq, message(seq)));
      // Half of the previous round acknowledged: 1-25, 51-75, 101-125 in all.
      for (let s = seq - 99; s <= seq - 75; s++) if (s > 0) store.deleteDelivery('s', s);
      store.commit();
      await sleep(350);
    }
    await sleep(1100);
    const image = crashImage(dir);
    const walBytes = statSync(join(dir, `${DATABASE_FILE}-wal`)).size;
    assert.equal(walBytes, 0, 'the WAL was given back');
    assert.deepEqual(dump(image).log, [], 'the tables were written and the log emptied');
    const acknowledged = (s: number): boolean => s <= 125 && (s - 1) % 50 < 25;
    const expected = Array.from({ length: seq }, (_, i) => i + 1).filter((s) => !acknowledged(s));
    const image2 = crashImage(dir);
    await store.close();
    const reopened = new SqliteStore(image2, { minFreeBytes: 0 });
    const state = await reopened.open();
    await reopened.close();
    const seqs = [...state.sessions].flatMap((x) => x.deliveries.map((d) => d.seq));
    assert.deepEqual(seqs, expected);
  });

  test('at a low rate the tables are written once the oldest change logged is WINDOW_MS old', async () => {
    const dir = freshDir();
    const store = new SqliteStore(dir, { minFreeBytes: 0 });
    await store.open();
    store.saveSession(session('early'));
    store.saveDelivery('early', delivery(1, message(1)));
    store.commit();
    let image = dump(crashImage(dir));
    assert.equal(image.log.length, 1, 'logged');
    assert.deepEqual(image.sessions, [], 'not in the tables yet');
    await sleep(WINDOW_MS + 200);
    store.saveSession(session('late'));
    store.commit();
    image = dump(crashImage(dir));
    assert.deepEqual(image.log, [], 'the log was emptied into the tables');
    assert.deepEqual(
      image.sessions.map((row) => (row as { client_id: string }).client_id),
      ['early', 'late'],
    );
    assert.equal(image.deliveries.length, 1);
    await store.close();
  });
});
