/**
 * The SQLite store's change log: commits go to the log, the tables follow in large coalesced batches, and a
 * crash image (the files copied while the store is open, as kill -9 leaves them) replays the log.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { createMessage, type Message } from '../../src/broker/message.js';
import type { StoredSessionState } from '../../src/broker/storage.js';
import { DATABASE_FILE, SqliteStore, StorageOpenError } from '../../src/storage/sqlite.js';
import { WINDOW_BYTES, WINDOW_ENTRIES } from '../../src/storage/sqlite-window.js';
import { sqliteDirs } from '../support/sqlite-dirs.js';
import {
  storedDelivery as delivery,
  plainSubscription,
  offlineSession as session,
} from '../support/stored-records.js';

const { freshDir, crashImage } = sqliteDirs('starling-sqlite-log-');

/** Rows of a table, read by a plain connection (which recovers the WAL first). */
function rows(dir: string, sql: string): unknown[] {
  const db = new Database(join(dir, DATABASE_FILE));
  try {
    return db.prepare(sql).all();
  } finally {
    db.close();
  }
}

async function load(dir: string): Promise<StoredSessionState[]> {
  const store = new SqliteStore(dir);
  const state = await store.open();
  await store.close();
  return [...state.sessions].sort((a, b) => a.session.clientId.localeCompare(b.session.clientId));
}

const message = (topic: string, payload: Buffer | string, qos: 0 | 1 | 2 = 1): Message =>
  createMessage(topic, Buffer.from(payload), qos, false, { userProperties: [['k', 'v']] }, 'pub', Date.now());

describe('SQLite store change log', () => {
  test('a crash image replays the log: exactly what was committed, changes across commits included', async () => {
    const dir = freshDir();
    const store = new SqliteStore(dir);
    await store.open();
    const m1 = message('t/1', 'one');
    store.saveSession(session('a'));
    store.saveSession(session('b'));
    store.saveSubscription('a', plainSubscription('x/#'));
    store.saveDelivery('a', delivery(1, m1));
    store.saveDelivery('b', delivery(2, m1)); // the message's second delivery: a message row
    store.addInboundQos2('a', 10);
    store.setRetained('r', message('r', 'old'));
    // A session whose two deliveries share a message row, all gone by the third commit.
    store.saveSession(session('c'));
    const m5 = message('t/5', 'five');
    store.saveDelivery('c', delivery(4, m5));
    store.saveDelivery('c', delivery(5, m5));
    store.commit();
    // The next commits change what earlier ones wrote: the tables must end as the last change leaves them.
    store.deleteDelivery('a', 1);
    store.updateDelivery('b', 2, 5, 'pubrel');
    store.deleteInboundQos2('a', 10);
    store.addInboundQos2('a', 11);
    store.saveDelivery('a', delivery(3, message('t/3', 'three', 2), 'queued'));
    store.commit();
    store.deleteSubscription('a', 'x/#');
    store.saveSubscription('a', {
      key: 'y',
      qos: 2,
      noLocal: true,
      retainAsPublished: false,
      retainHandling: 2,
      subscriptionId: 4,
    });
    store.setRetained('r', undefined);
    store.setRetained('s', message('s', 'kept'));
    store.updateDelivery('a', 3, 9, 'publish');
    store.deleteSession('c');
    store.commit();
    store.saveSession(session('uncommitted'));

    const image = crashImage(dir);
    assert.equal(rows(crashImage(dir), 'SELECT id FROM log').length, 3, 'three commits, three log rows');
    assert.deepEqual(rows(crashImage(dir), 'SELECT seq FROM deliveries'), [], 'the tables lag behind');

    const expect = (sessions: StoredSessionState[], uncommitted: boolean): void => {
      assert.deepEqual(
        sessions.map((s) => s.session.clientId),
        uncommitted ? ['a', 'b', 'uncommitted'] : ['a', 'b'],
      );
      const [a, b] = sessions;
      assert.deepEqual(
        a?.subscriptions.map((s) => [s.key, s.qos, s.noLocal, s.retainHandling, s.subscriptionId]),
        [['y', 2, true, 2, 4]],
      );
      assert.deepEqual(
        a?.deliveries.map((d) => [d.seq, d.state, d.packetId, d.message.topic, d.message.payload.toString()]),
        [[3, 'publish', 9, 't/3', 'three']],
      );
      assert.deepEqual(a?.deliveries[0]?.message.properties?.userProperties, [['k', 'v']]);
      assert.deepEqual(a?.inboundQos2, [11]);
      assert.deepEqual(
        b?.deliveries.map((d) => [d.seq, d.state, d.packetId]),
        [[2, 'pubrel', 5]],
      );
    };
    const replayed = new SqliteStore(image);
    const state = await replayed.open();
    await replayed.close();
    const sessions = [...state.sessions].sort((x, y) => x.session.clientId.localeCompare(y.session.clientId));
    expect(sessions, false);
    assert.deepEqual(
      [...state.retained].map((m) => [m.topic, m.payload.toString(), m.origin]),
      [['s', 'kept', 'pub']],
    );
    assert.deepEqual(rows(image, 'SELECT id FROM log'), [], 'the replayed log is emptied');
    assert.equal(rows(image, 'SELECT seq FROM deliveries').length, 2, 'and applied to the tables');
    assert.equal(rows(image, 'SELECT id FROM messages').length, 1, "only b's delivery uses a message row");

    // A clean close brings the tables up to date too: the same state.
    await store.close();
    assert.deepEqual(rows(dir, 'SELECT id FROM log'), []);
    expect(await load(dir), true);
  });

  test('a QoS 2 delivery past PUBREC before its commit is logged without its message', async () => {
    const dir = freshDir();
    const store = new SqliteStore(dir);
    await store.open();
    store.saveSession(session('a'));
    const payload = Buffer.alloc(4096, 0x5a);
    // Seq 1 got its PUBREC before the commit (only PUBREL is sent again); seq 2 still waits for it.
    store.saveDelivery('a', delivery(1, message('t/released', payload, 2)));
    store.updateDelivery('a', 1, 1, 'pubrel');
    store.saveDelivery('a', delivery(2, message('t/sent', payload, 2)));
    store.commit();
    const image = crashImage(dir);
    const logged = rows(image, 'SELECT ops FROM log') as { ops: Buffer }[];
    assert.equal(logged.length, 1);
    const row = logged[0]?.ops as Buffer;
    const first = row.indexOf(payload);
    assert.ok(first >= 0, 'the delivery awaiting PUBREC carries its payload');
    assert.equal(row.indexOf(payload, first + 1), -1, 'the released one does not');
    assert.equal(row.includes('t/released'), false, 'nor its topic');
    assert.ok(row.length < 2 * payload.length, `${row.length} bytes logged`);
    const [a] = await load(image);
    assert.deepEqual(
      a?.deliveries.map((d) => [d.seq, d.state, d.packetId, d.message.topic, d.message.payload.length]),
      [
        [1, 'pubrel', 1, '', 0],
        [2, 'publish', 2, 't/sent', payload.length],
      ],
    );
    await store.close();
  });

  test('deliveries and inbound ids acknowledged within the window never reach their tables', async () => {
    const dir = freshDir();
    const first = new SqliteStore(dir);
    await first.open();
    await first.close();
    // Count every row inserted into the two tables, from triggers in the file.
    const setup = new Database(join(dir, DATABASE_FILE));
    setup.exec(`
      CREATE TABLE written (tbl TEXT NOT NULL);
      CREATE TRIGGER deliveries_written AFTER INSERT ON deliveries BEGIN INSERT INTO written VALUES ('deliveries'); END;
      CREATE TRIGGER inbound_written AFTER INSERT ON inbound_qos2 BEGIN INSERT INTO written VALUES ('inbound'); END;
    `);
    setup.close();

    const store = new SqliteStore(dir);
    await store.open();
    store.saveSession(session('a'));
    // Each message: a delivery saved in one commit and acknowledged in the next, an inbound QoS 2 id likewise
    // (13 entries, and 4 more that undo them in the log). Enough of them for the window to fill twice.
    const perMessage = 9 + 4 + 2 + 2;
    const total = Math.ceil((2.5 * WINDOW_ENTRIES) / perMessage);
    const batch = 10;
    const payload = Buffer.alloc(16, 1);
    let commits = 0;
    for (let seq = 1; seq <= total; seq += batch) {
      for (let k = seq; k < seq + batch; k++) {
        store.saveDelivery('a', delivery(k, message('t', payload)));
        store.addInboundQos2('a', (k % 60_000) + 1);
        if (k > batch) {
          store.deleteDelivery('a', k - batch);
          store.deleteInboundQos2('a', ((k - batch) % 60_000) + 1);
        }
      }
      store.commit();
      commits++;
    }
    const logRows = rows(crashImage(dir), 'SELECT id FROM log').length;
    assert.ok(
      logRows > 0 && logRows < commits / 2,
      `the log was emptied on the way (${logRows} rows of ${commits})`,
    );
    await store.close();
    const written = rows(dir, 'SELECT tbl, count(*) AS n FROM written GROUP BY tbl ORDER BY tbl') as {
      tbl: string;
      n: number;
    }[];
    // Only the batch in flight (saved, not yet acknowledged) each time the tables were written reached them:
    // at the two fillings of the window and at close, never the thousands acknowledged in between.
    assert.deepEqual(
      written.map((w) => w.tbl),
      ['deliveries', 'inbound'],
    );
    for (const { tbl, n } of written) {
      assert.equal(n, 3 * batch, `${tbl}: ${n} rows written`);
    }
    const [a] = await load(dir);
    const last = Math.ceil(total / batch) * batch;
    assert.deepEqual(
      a?.deliveries.map((d) => d.seq),
      Array.from({ length: batch }, (_, k) => last - batch + 1 + k),
    );
    assert.equal(a?.inboundQos2.length, batch);
  });

  test('when the tables cannot be written (database full), commits still succeed on the log, and the tables follow once there is room', async () => {
    const dir = freshDir();
    const store = new SqliteStore(dir);
    await store.open();
    store.saveSession(session('a'));
    store.commit();
    // Large queued messages, one per commit, until the window is nearly full by its bytes.
    const payload = Buffer.alloc(64 * 1024, 7);
    const perRow = payload.length + 200;
    const before = Math.floor(WINDOW_BYTES / perRow) - 2;
    let seq = 0;
    for (; seq < before; ) {
      seq++;
      store.saveDelivery('a', delivery(seq, message(`t/${seq}`, payload), 'queued'));
      store.commit();
    }
    // Room for a few more log rows, not for the tables' copy of every delivery (the cap counts the
    // database's pages, wherever they are, database file or WAL).
    const [pages] = rows(crashImage(dir), 'PRAGMA page_count') as { page_count: number }[];
    store.setMaxBytes((pages?.page_count ?? 0) * 4096 + 2 * 1024 * 1024);
    for (let k = 0; k < 6; k++) {
      seq++;
      store.saveDelivery('a', delivery(seq, message(`t/${seq}`, payload), 'queued'));
      store.commit(); // must not throw: the log row fits
    }
    const failed = crashImage(dir);
    assert.ok(
      rows(failed, 'SELECT id FROM log').length >= seq,
      `the tables were not written: the log holds all (${rows(failed, 'SELECT id FROM log').length} of ${seq})`,
    );
    assert.equal((await load(failed))[0]?.deliveries.length, seq, 'and a restart replays every delivery');

    store.setMaxBytes(undefined);
    await sleep(1100);
    seq++;
    store.saveDelivery('a', delivery(seq, message(`t/${seq}`, payload), 'queued'));
    store.commit();
    const written = crashImage(dir);
    assert.deepEqual(rows(written, 'SELECT id FROM log'), [], 'the retry brought the tables up to date');
    assert.equal(rows(written, 'SELECT seq FROM deliveries').length, seq);
    await store.close();
    const [a] = await load(dir);
    assert.deepEqual(
      a?.deliveries.map((d) => d.seq),
      Array.from({ length: seq }, (_, k) => k + 1),
    );
    assert.ok(a?.deliveries.every((d) => d.message.payload.equals(payload)));
  });

  test('a replay that the disk has no room for is an error naming the file, and loses nothing', async () => {
    const dir = freshDir();
    const store = new SqliteStore(dir);
    await store.open();
    store.saveSession(session('a'));
    const payload = Buffer.alloc(32 * 1024, 3);
    for (let seq = 1; seq <= 40; seq++) {
      store.saveDelivery('a', delivery(seq, message(`t/${seq}`, payload), 'queued'));
      store.commit();
    }
    // kill -9 now: 40 log rows, the tables not written yet.
    const image = crashImage(dir);
    await store.close();
    // The replay writes the tables: a cap at the files' size leaves it no room, as a full disk would.
    const full = new SqliteStore(image, { maxBytes: 64 * 1024 });
    await assert.rejects(full.open(), (err: unknown) => {
      assert.ok(err instanceof StorageOpenError, String(err));
      assert.match(
        err.message,
        new RegExp(`cannot load ${join(image, DATABASE_FILE)}: .*full.*intact.*free space`),
      );
      return true;
    });
    await full.close();
    const [a] = await load(image);
    assert.equal(a?.deliveries.length, 40, 'with room again, every delivery is there');
  });
});
