/**
 * The SQLite store on real files: what it commits comes back on the next open, messages shared by several
 * deliveries are stored once and go when the last delivery does, a full database fails the commit and keeps
 * the batch, and a second broker or a corrupt file on the directory is refused with the path named.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { createMessage } from '../../src/broker/message.js';
import type { StoredState } from '../../src/broker/storage.js';
import { DATABASE_FILE, SqliteStore, StorageOpenError } from '../../src/storage/sqlite.js';
import { SCHEMA_VERSION } from '../../src/storage/sqlite-schema.js';
import { sqliteDirs } from '../support/sqlite-dirs.js';

const { freshDir } = sqliteDirs('starling-sqlite-');

function count(dir: string, table: string): number {
  const db = new Database(join(dir, DATABASE_FILE), { readonly: true });
  try {
    return (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

function collect(state: StoredState) {
  return { sessions: [...state.sessions], retained: [...state.retained] };
}

const session = (clientId: string, connected = false) => ({
  clientId,
  expiryInterval: 600,
  protocolVersion: 5 as const,
  username: 'u',
  connected,
  disconnectedAt: connected ? 0 : 1_700_000_000_000,
  will: {
    topic: 'w/x',
    payload: Buffer.from('bye'),
    qos: 1 as const,
    retain: false,
    properties: { willDelayInterval: 5 },
  },
  willDueAt: undefined,
});

describe('SQLite store', () => {
  test('what is committed is read back on the next open, in order, and nothing uncommitted is', async () => {
    const dir = freshDir();
    const store = new SqliteStore(dir);
    collect(await store.open());
    const message = createMessage(
      'a/b',
      Buffer.from('payload'),
      2,
      false,
      { contentType: 'text/plain', correlationData: Buffer.from([1, 2]) },
      'pub',
      Date.now(),
    );
    store.saveSession(session('s1'));
    store.saveSubscription('s1', {
      key: '$share/g/a/#',
      qos: 2,
      noLocal: false,
      retainAsPublished: true,
      retainHandling: 1,
      subscriptionId: 7,
    });
    store.saveDelivery('s1', {
      seq: 5,
      message,
      qos: 2,
      retain: false,
      subscriptionIds: [7],
      packetId: 0,
      state: 'queued',
    });
    store.saveDelivery('s1', {
      seq: 6,
      message,
      qos: 1,
      retain: false,
      subscriptionIds: undefined,
      packetId: 9,
      state: 'publish',
    });
    store.updateDelivery('s1', 6, 9, 'pubrel');
    store.addInboundQos2('s1', 42);
    store.setRetained(
      'r/1',
      createMessage('r/1', Buffer.from('kept'), 1, true, undefined, undefined, Date.now()),
    );
    store.commit();
    store.saveSession(session('uncommitted'));
    // A crash now: the second open sees only the commit (the file is opened while the first store is dropped).
    await store.close();
    const reopened = new SqliteStore(dir);
    const { sessions, retained } = collect(await reopened.open());
    await reopened.close();
    assert.deepEqual(
      sessions.map((s) => s.session.clientId).sort(),
      ['s1', 'uncommitted'],
      'close commits what is left',
    );
    const s1 = sessions.find((s) => s.session.clientId === 's1');
    assert.ok(s1 !== undefined);
    assert.deepEqual(s1.session.will?.payload, Buffer.from('bye'));
    assert.equal(s1.session.will?.properties?.willDelayInterval, 5);
    assert.deepEqual(s1.subscriptions, [
      {
        key: '$share/g/a/#',
        qos: 2,
        noLocal: false,
        retainAsPublished: true,
        retainHandling: 1,
        subscriptionId: 7,
      },
    ]);
    assert.deepEqual(
      s1.deliveries.map((d) => [d.seq, d.state, d.packetId, d.subscriptionIds]),
      [
        [5, 'queued', 0, [7]],
        [6, 'pubrel', 9, undefined],
      ],
    );
    // The first delivery carries the message itself; the second made it a shared row: same content.
    assert.deepEqual(s1.deliveries[0]?.message.payload, s1.deliveries[1]?.message.payload);
    assert.deepEqual(s1.deliveries[0]?.message.properties?.correlationData, Buffer.from([1, 2]));
    assert.deepEqual(s1.inboundQos2, [42]);
    assert.deepEqual(
      retained.map((m) => [m.topic, m.payload.toString(), m.retain]),
      [['r/1', 'kept', true]],
    );
  });

  test('a message fanned out to offline sessions is stored once and goes with its last delivery', async () => {
    const dir = freshDir();
    const store = new SqliteStore(dir);
    await store.open();
    const message = createMessage('fan', Buffer.alloc(1000), 1, false, undefined, undefined, Date.now());
    for (let i = 0; i < 3; i++) {
      store.saveSession(session(`s${i}`));
      store.saveDelivery(`s${i}`, {
        seq: i + 1,
        message,
        qos: 1,
        retain: false,
        subscriptionIds: undefined,
        packetId: 0,
        state: 'queued',
      });
    }
    store.commit();
    await store.close();
    assert.equal(count(dir, 'messages'), 1);
    assert.equal(count(dir, 'deliveries'), 3);
    const again = new SqliteStore(dir);
    await again.open();
    again.deleteDelivery('s0', 1);
    again.deleteSession('s1');
    await again.close();
    assert.equal(count(dir, 'messages'), 1, 'still used by s2');
    const third = new SqliteStore(dir);
    await third.open();
    third.deleteDelivery('s2', 3);
    await third.close();
    assert.equal(count(dir, 'messages'), 0);
    assert.equal(count(dir, 'deliveries'), 0);
  });

  test('deleting a session takes every delivery and inbound id of it, in the tables or not yet, and no other', async () => {
    const dir = freshDir();
    const store = new SqliteStore(dir);
    await store.open();
    const message = createMessage('t', Buffer.from('m'), 2, false, undefined, undefined, Date.now());
    const delivery = (seq: number) => ({
      seq,
      message,
      qos: 2 as const,
      retain: false,
      subscriptionIds: undefined,
      packetId: seq,
      state: 'publish' as const,
    });
    for (const id of ['a', 'b']) store.saveSession(session(id));
    // In the tables after a reopen: three deliveries and two inbound ids of 'a', one of each of 'b'.
    for (const seq of [1, 2, 3]) store.saveDelivery('a', delivery(seq));
    store.saveDelivery('b', delivery(4));
    store.addInboundQos2('a', 10);
    store.addInboundQos2('a', 11);
    store.addInboundQos2('b', 10);
    store.commit();
    await store.close();
    const again = new SqliteStore(dir);
    await again.open();
    // Not in the tables yet: one more of each for 'a', a delivery in the middle acknowledged first.
    again.saveDelivery('a', delivery(5));
    again.addInboundQos2('a', 12);
    again.deleteDelivery('a', 2);
    again.deleteSession('a');
    await again.close();
    const db = new Database(join(dir, DATABASE_FILE), { readonly: true });
    try {
      const rows = (sql: string): unknown[] => db.prepare(sql).all();
      assert.deepEqual(rows('SELECT client_id, seq FROM deliveries'), [{ client_id: 'b', seq: 4 }]);
      assert.deepEqual(rows('SELECT client_id, packet_id FROM inbound_qos2'), [
        { client_id: 'b', packet_id: 10 },
      ]);
      assert.deepEqual(rows('SELECT client_id FROM sessions'), [{ client_id: 'b' }]);
    } finally {
      db.close();
    }
    // Read back at the next open: only 'b', with its delivery and inbound id.
    const third = new SqliteStore(dir);
    const loaded = collect(await third.open());
    assert.deepEqual(
      loaded.sessions.map((s) => [s.session.clientId, s.deliveries.map((d) => d.seq), s.inboundQos2]),
      [['b', [4], [10]]],
    );
    await third.close();
  });

  test('a delivery saved and acknowledged within one batch is never written; a state change patches its save', async () => {
    const dir = freshDir();
    const store = new SqliteStore(dir);
    await store.open();
    store.saveSession(session('a'));
    const shared = createMessage('fan', Buffer.from('x'), 1, false, undefined, undefined, Date.now());
    const delivery = (seq: number, message = shared) => ({
      seq,
      message,
      qos: 1 as const,
      retain: false,
      subscriptionIds: undefined,
      packetId: seq,
      state: 'publish' as const,
    });
    store.saveDelivery('a', delivery(1)); // carries the message
    store.saveDelivery('a', delivery(2)); // makes the message row
    store.saveDelivery(
      'a',
      delivery(3, createMessage('q2', Buffer.from('y'), 2, false, undefined, undefined, Date.now())),
    );
    store.deleteDelivery('a', 1);
    store.deleteDelivery('a', 2);
    store.updateDelivery('a', 3, 7, 'pubrel');
    store.commit();
    await store.close();
    assert.equal(count(dir, 'messages'), 0, 'the message row went with its only row-backed delivery');
    const db = new Database(join(dir, DATABASE_FILE), { readonly: true, fileMustExist: true });
    try {
      const rows = db.prepare('SELECT seq, packet_id, state, m_topic, m_payload FROM deliveries').all();
      // Past PUBREC before it was written: the row leaves the message out (only PUBREL is sent again).
      assert.deepEqual(rows, [{ seq: 3, packet_id: 7, state: 2, m_topic: null, m_payload: null }]);
    } finally {
      db.close();
    }
    // It is read back as a delivery awaiting PUBCOMP; after the commit, an acknowledgement deletes the row.
    const again = new SqliteStore(dir);
    const [a] = collect(await again.open()).sessions;
    assert.deepEqual(
      a?.deliveries.map((d) => [d.seq, d.state, d.packetId]),
      [[3, 'pubrel', 7]],
    );
    again.deleteDelivery('a', 3);
    await again.close();
    assert.equal(count(dir, 'deliveries'), 0);
  });

  test('commits of sealed batches while later changes keep coming write exactly the changes made (a long pipeline)', async () => {
    // Each commit writes the sealed part and keeps the changes made since: the pending batch never empties,
    // so its written part is cut now and then. Saves still pending are patched or dropped all along.
    const dir = freshDir();
    const store = new SqliteStore(dir);
    await store.open();
    store.saveSession(session('a'));
    const message = createMessage('p', Buffer.from('z'), 2, false, undefined, undefined, Date.now());
    const expected = new Map<number, [string, number]>();
    let seq = 0;
    const save = (n: number): number[] => {
      const seqs: number[] = [];
      for (let k = 0; k < n; k++) {
        seq++;
        const packetId = (seq % 65_535) + 1;
        store.saveDelivery('a', {
          seq,
          message,
          qos: 2,
          retain: false,
          subscriptionIds: undefined,
          packetId,
          state: 'publish',
        });
        expected.set(seq, ['publish', packetId]);
        seqs.push(seq);
      }
      return seqs;
    };
    const touch = (seqs: readonly number[]): void => {
      for (const s of seqs) {
        if (s % 3 === 0) {
          store.deleteDelivery('a', s);
          expected.delete(s);
        } else if (s % 3 === 1) {
          store.updateDelivery('a', s, 9, 'pubrel');
          expected.set(s, ['pubrel', 9]);
        }
      }
    };
    let written: number[] = [];
    for (let round = 0; round < 150; round++) {
      const sealed = save(40);
      store.seal();
      const open = save(40);
      // Some of the sealed saves change before their commit, some of the open ones after it.
      touch(sealed.filter((s) => s % 2 === 0));
      store.commitSealed();
      touch(open.filter((s) => s % 2 === 1));
      // Rows written by an earlier commit change or go in a later batch.
      for (const s of written) {
        if (s % 3 === 1) {
          store.updateDelivery('a', s, 11, 'pubrel');
          expected.set(s, ['pubrel', 11]);
        } else {
          store.deleteDelivery('a', s);
          expected.delete(s);
        }
      }
      written = sealed.filter((s) => s % 2 === 1 && s % 5 === 0);
    }
    store.commit();
    await store.close();
    const again = new SqliteStore(dir);
    const [a] = collect(await again.open()).sessions;
    await again.close();
    assert.equal(a?.deliveries.length, expected.size);
    assert.deepEqual(
      a?.deliveries.map((d) => [d.seq, d.state, d.packetId]),
      [...expected].sort((x, y) => x[0] - y[0]).map(([s, [state, packetId]]) => [s, state, packetId]),
    );
  });

  test('a message whose row went with its last delivery is stored again for a later one (a retained message)', async () => {
    const dir = freshDir();
    const store = new SqliteStore(dir);
    await store.open();
    const retained = createMessage('r', Buffer.from('kept'), 1, true, undefined, undefined, Date.now());
    for (const id of ['a', 'b', 'c']) store.saveSession(session(id));
    const delivery = (seq: number) => ({
      seq,
      message: retained,
      qos: 1 as const,
      retain: true,
      subscriptionIds: undefined,
      packetId: 0,
      state: 'queued' as const,
    });
    store.saveDelivery('a', delivery(1));
    store.saveDelivery('b', delivery(2));
    store.commit();
    store.deleteDelivery('b', 2);
    store.deleteDelivery('a', 1);
    store.commit();
    store.saveDelivery('c', delivery(3));
    store.commit();
    await store.close();
    const again = new SqliteStore(dir);
    const loaded = collect(await again.open());
    const c = loaded.sessions.find((s) => s.session.clientId === 'c');
    assert.equal(c?.deliveries.length, 1);
    assert.equal(c?.deliveries[0]?.message.payload.toString(), 'kept');
    await again.close();
  });

  test('deletions by runs of keys delete exactly the acknowledged rows; a key saved again after its deletion stays', async () => {
    const dir = freshDir();
    const store = new SqliteStore(dir);
    await store.open();
    store.saveSession(session('a'));
    const m = createMessage('t', Buffer.from('x'), 1, false, undefined, undefined, Date.now());
    const delivery = (seq: number) => ({
      seq,
      message: createMessage('t', Buffer.from(`m${seq}`), 1, false, undefined, undefined, Date.now()),
      qos: 1 as const,
      retain: false,
      subscriptionIds: undefined,
      packetId: seq,
      state: 'publish' as const,
    });
    for (let seq = 1; seq <= 40; seq++) store.saveDelivery('a', delivery(seq));
    // 37 inbound ids: two statements of 16 and five single rows.
    for (let packetId = 1; packetId <= 37; packetId++) store.addInboundQos2('a', packetId);
    store.commit();
    // Acknowledged out of order, with gaps: 1-9, 11-19, 21, 23, 30-40 minus 35; 10, 20, 22, 24-29 and 35 stay.
    const acked = [
      ...[9, 3, 1, 2, 4, 5, 6, 7, 8],
      ...[19, 11, 12, 13, 14, 15, 16, 17, 18],
      21,
      23,
      ...[40, 30, 31, 32, 33, 34, 36, 37, 38, 39],
    ];
    for (const seq of acked) store.deleteDelivery('a', seq);
    for (const packetId of [1, 2, 3, 5, 6, 7, 36, 37]) store.deleteInboundQos2('a', packetId);
    // Deleted and saved again under the same key in one batch: the new row is kept.
    store.deleteDelivery('a', 10);
    store.saveDelivery('a', { ...delivery(10), message: m, packetId: 99 });
    store.commit();
    await store.close();
    const again = new SqliteStore(dir);
    const loaded = collect(await again.open());
    await again.close();
    const a = loaded.sessions.find((s) => s.session.clientId === 'a');
    assert.deepEqual(
      a?.deliveries.map((d) => d.seq),
      [10, 20, 22, 24, 25, 26, 27, 28, 29, 35],
    );
    assert.equal(a?.deliveries[0]?.packetId, 99);
    assert.equal(a?.deliveries[1]?.message.payload.toString(), 'm20');
    const inbound = Array.from({ length: 37 }, (_, k) => k + 1).filter(
      (id) => ![1, 2, 3, 5, 6, 7, 36, 37].includes(id),
    );
    assert.deepEqual(
      [...(a?.inboundQos2 ?? [])].sort((x, y) => x - y),
      inbound,
    );
  });

  test('a version 1 data directory (deliveries keyed by client and seq) is migrated on open', async () => {
    const dir = freshDir();
    const v1 = new Database(join(dir, DATABASE_FILE));
    v1.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
      INSERT INTO meta VALUES ('schema', '1');
      CREATE TABLE sessions (client_id TEXT PRIMARY KEY, expiry INTEGER NOT NULL, protocol INTEGER NOT NULL,
        username TEXT, connected INTEGER NOT NULL, disconnected_at INTEGER NOT NULL, will TEXT, will_due_at INTEGER) WITHOUT ROWID;
      INSERT INTO sessions VALUES ('old', 600, 4, NULL, 0, 1700000000000, NULL, NULL);
      CREATE TABLE deliveries (client_id TEXT NOT NULL, seq INTEGER NOT NULL, message_id INTEGER, m_topic TEXT,
        m_payload BLOB, m_qos INTEGER, m_retain INTEGER, m_properties TEXT, m_expires_at INTEGER, m_origin TEXT,
        qos INTEGER NOT NULL, retain INTEGER NOT NULL, subscription_ids TEXT, packet_id INTEGER NOT NULL,
        state INTEGER NOT NULL, PRIMARY KEY (client_id, seq)) WITHOUT ROWID;
      INSERT INTO deliveries VALUES ('old', 7, NULL, 'a/b', X'6869', 1, 0, NULL, NULL, NULL, 1, 0, NULL, 3, 1);
      CREATE TABLE inbound_qos2 (client_id TEXT NOT NULL, packet_id INTEGER NOT NULL,
        PRIMARY KEY (client_id, packet_id)) WITHOUT ROWID;
      INSERT INTO inbound_qos2 VALUES ('old', 42);
    `);
    v1.close();
    const store = new SqliteStore(dir);
    const loaded = collect(await store.open());
    const old = loaded.sessions.find((s) => s.session.clientId === 'old');
    assert.deepEqual(
      old?.deliveries.map((d) => [d.seq, d.message.topic, d.message.payload.toString(), d.packetId, d.state]),
      [[7, 'a/b', 'hi', 3, 'publish']],
    );
    assert.deepEqual(old?.inboundQos2, [42]);
    // The migrated rows are deleted by their new keys.
    store.deleteDelivery('old', 7);
    store.deleteInboundQos2('old', 42);
    await store.close();
    assert.equal(count(dir, 'deliveries'), 0);
    assert.equal(count(dir, 'inbound_qos2'), 0);
    const db = new Database(join(dir, DATABASE_FILE), { readonly: true });
    try {
      assert.equal(
        (db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as { value: string }).value,
        String(SCHEMA_VERSION),
      );
    } finally {
      db.close();
    }
  });

  test('an early version 1 directory (no inline message columns) is migrated too', async () => {
    const dir = freshDir();
    const v1 = new Database(join(dir, DATABASE_FILE));
    v1.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
      INSERT INTO meta VALUES ('schema', '1');
      CREATE TABLE sessions (client_id TEXT PRIMARY KEY, expiry INTEGER NOT NULL, protocol INTEGER NOT NULL,
        username TEXT, connected INTEGER NOT NULL, disconnected_at INTEGER NOT NULL, will TEXT, will_due_at INTEGER) WITHOUT ROWID;
      INSERT INTO sessions VALUES ('early', 600, 5, NULL, 0, 1700000000000, NULL, NULL);
      CREATE TABLE messages (id INTEGER PRIMARY KEY, topic TEXT NOT NULL, payload BLOB NOT NULL, qos INTEGER NOT NULL,
        retain INTEGER NOT NULL, properties TEXT, expires_at INTEGER, origin TEXT);
      INSERT INTO messages VALUES (1, 'x/y', X'6f6b', 1, 0, NULL, NULL, NULL);
      CREATE TABLE deliveries (client_id TEXT NOT NULL, seq INTEGER NOT NULL, message_id INTEGER NOT NULL,
        qos INTEGER NOT NULL, retain INTEGER NOT NULL, subscription_ids TEXT, packet_id INTEGER NOT NULL,
        state INTEGER NOT NULL, PRIMARY KEY (client_id, seq)) WITHOUT ROWID;
      INSERT INTO deliveries VALUES ('early', 3, 1, 1, 0, NULL, 0, 0);
      CREATE TABLE inbound_qos2 (client_id TEXT NOT NULL, packet_id INTEGER NOT NULL,
        PRIMARY KEY (client_id, packet_id)) WITHOUT ROWID;
    `);
    v1.close();
    const store = new SqliteStore(dir);
    const loaded = collect(await store.open());
    const early = loaded.sessions.find((s) => s.session.clientId === 'early');
    assert.deepEqual(
      early?.deliveries.map((d) => [d.seq, d.message.topic, d.message.payload.toString(), d.state]),
      [[3, 'x/y', 'ok', 'queued']],
    );
    await store.close();
  });

  test('a full database fails the commit, keeps the batch, and the retry writes it once there is room', async () => {
    const dir = freshDir();
    const store = new SqliteStore(dir, { maxBytes: 256 * 1024 });
    await store.open();
    const big = (i: number) =>
      createMessage(`big/${i}`, Buffer.alloc(64 * 1024, i), 1, true, undefined, undefined, Date.now());
    let failedAt = -1;
    for (let i = 0; i < 20 && failedAt < 0; i++) {
      store.setRetained(`big/${i}`, big(i));
      try {
        store.commit();
      } catch (err) {
        assert.match(String(err), /full/i);
        failedAt = i;
      }
    }
    assert.ok(failedAt > 0, 'the cap was reached');
    // The disk gets room again: the kept batch (the retained message that failed) goes in with the next commit.
    store.setMaxBytes(undefined);
    store.setRetained('big/0', undefined);
    store.commit();
    await store.close();
    const reopened = new SqliteStore(dir);
    const topics = collect(await reopened.open()).retained.map((m) => m.topic);
    await reopened.close();
    assert.ok(topics.includes(`big/${failedAt}`), 'the batch that failed was written by the retry');
    assert.ok(!topics.includes('big/0'));
  });

  test('a second store on the directory, a corrupt file and an unusable path are refused, naming the path', async () => {
    const dir = freshDir();
    const first = new SqliteStore(dir);
    await first.open();
    const second = new SqliteStore(dir);
    await assert.rejects(second.open(), (err: unknown) => {
      assert.ok(err instanceof StorageOpenError);
      assert.match(err.message, new RegExp(`${dir}.*in use by another broker`));
      return true;
    });
    await first.close();
    const corrupt = freshDir();
    writeFileSync(join(corrupt, DATABASE_FILE), Buffer.alloc(8192, 0x5a));
    await assert.rejects(new SqliteStore(corrupt).open(), (err: unknown) => {
      assert.ok(err instanceof StorageOpenError);
      assert.match(err.message, new RegExp(`${corrupt}.*not a database`));
      return true;
    });
    const file = join(freshDir(), 'plain-file');
    writeFileSync(file, 'x');
    await assert.rejects(
      new SqliteStore(join(file, 'sub')).open(),
      /cannot create data directory .*plain-file\/sub/,
    );
  });
});
