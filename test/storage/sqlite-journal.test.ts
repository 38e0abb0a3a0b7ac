/**
 * The SQLite store's journal: commits between two flushes are one journal row each, and a process killed
 * with -9 before the flush comes back with every committed change replayed over the tables, including the
 * changes to rows that only the journal held (acknowledged, moved to PUBREL, released). A flush empties the
 * journal once its time window is over; a corrupt journal refuses the directory, naming the file.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { DATABASE_FILE, SqliteStore, StorageOpenError } from '../../src/storage/sqlite.js';

const STORE = new URL('../../src/storage/sqlite.js', import.meta.url).href;
const MESSAGE = new URL('../../src/broker/message.js', import.meta.url).href;

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'starling-journal-'));
  dirs.push(dir);
  return dir;
}

function count(dir: string, table: string): number {
  const db = new Database(join(dir, DATABASE_FILE), { readonly: true });
  try {
    return (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/**
 * Run `body` against an open store in a child process (`store`, `m(topic, payload)` making a message,
 * `d(seq, message, state, packetId)` a delivery, `session(id)`, `sleep(ms)`), then kill it with -9 once it
 * has printed "committed".
 */
async function runAndKill(dir: string, body: string): Promise<void> {
  const script = `
    const { SqliteStore } = await import(${JSON.stringify(STORE)});
    const { createMessage } = await import(${JSON.stringify(MESSAGE)});
    const store = new SqliteStore(${JSON.stringify(dir)});
    await store.open();
    const m = (topic, payload) => createMessage(topic, Buffer.from(payload), 1, false, undefined, undefined, Date.now());
    const d = (seq, message, state, packetId) => ({ seq, message, qos: 1, retain: false, subscriptionIds: undefined, packetId, state });
    const session = (clientId) => ({ clientId, expiryInterval: 600, protocolVersion: 5, username: undefined,
      connected: false, disconnectedAt: Date.now(), will: undefined, willDueAt: undefined });
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    ${body}
    process.stdout.write('committed\\n');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let errors = '';
  child.stderr.on('data', (chunk: Buffer) => {
    errors += chunk.toString();
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child did not commit: ${errors}`)), 20_000);
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('committed')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`child exited (${code}): ${errors}`));
    });
  });
  const closed = new Promise((resolve) => child.once('close', resolve));
  child.kill('SIGKILL');
  await closed;
}

describe('SQLite journal', () => {
  test('killed -9 between flushes, every committed change comes back from the journal, row changes included', async () => {
    const dir = freshDir();
    await runAndKill(
      dir,
      `
      store.saveSession(session('a'));
      store.saveSession(session('b'));
      const shared = m('s/x', 'shared');
      store.saveDelivery('a', d(1, m('a/1', 'one'), 'publish', 11));
      store.saveDelivery('a', d(2, m('a/2', 'two'), 'publish', 12));
      store.saveDelivery('a', d(3, shared, 'queued', 0));
      store.saveDelivery('b', d(4, shared, 'queued', 0));
      store.saveDelivery('a', d(5, m('a/5', 'five'), 'publish', 15));
      store.addInboundQos2('a', 77);
      store.addInboundQos2('b', 78);
      store.setRetained('r/1', createMessage('r/1', Buffer.from('kept'), 1, true, undefined, undefined, Date.now()));
      store.commit();
      store.deleteDelivery('a', 2);
      store.updateDelivery('a', 5, 15, 'pubrel');
      store.deleteInboundQos2('a', 77);
      store.deleteDelivery('a', 3);
      store.deleteDelivery('b', 4);
      store.saveDelivery('b', d(6, m('b/6', 'six'), 'queued', 0));
      store.commit();
      store.saveDelivery('b', d(7, m('b/7', 'never committed'), 'queued', 0));
    `,
    );
    // Nothing reached the tables: what comes back comes from the journal.
    assert.equal(count(dir, 'journal'), 2);
    assert.equal(count(dir, 'deliveries'), 0);
    assert.equal(count(dir, 'sessions'), 0);

    const store = new SqliteStore(dir);
    const state = await store.open();
    const sessions = new Map([...state.sessions].map((s) => [s.session.clientId, s]));
    assert.deepEqual([...sessions.keys()].sort(), ['a', 'b']);
    assert.deepEqual(
      sessions.get('a')?.deliveries.map((x) => [x.seq, x.message.payload.toString(), x.packetId, x.state]),
      [
        [1, 'one', 11, 'publish'],
        [5, 'five', 15, 'pubrel'],
      ],
    );
    assert.deepEqual(
      sessions.get('b')?.deliveries.map((x) => [x.seq, x.message.payload.toString()]),
      [[6, 'six']],
    );
    assert.deepEqual(sessions.get('a')?.inboundQos2, []);
    assert.deepEqual(sessions.get('b')?.inboundQos2, [78]);
    assert.deepEqual(
      [...state.retained].map((r) => [r.topic, r.payload.toString()]),
      [['r/1', 'kept']],
    );
    await store.close();
    // The replay wrote the tables and emptied the journal; the shared message row went with its deliveries.
    assert.equal(count(dir, 'journal'), 0);
    assert.equal(count(dir, 'deliveries'), 3);
    assert.equal(count(dir, 'messages'), 0);
    assert.equal(count(dir, 'inbound_qos2'), 1);
  });

  test('a commit after the time window flushes the journal to the tables and empties it', async () => {
    const dir = freshDir();
    await runAndKill(
      dir,
      `
      store.saveSession(session('a'));
      store.saveDelivery('a', d(1, m('a/1', 'one'), 'publish', 1));
      store.commit();
      await sleep(1_100);
      store.saveDelivery('a', d(2, m('a/2', 'two'), 'queued', 0));
      store.commit();
    `,
    );
    assert.equal(count(dir, 'journal'), 0);
    assert.equal(count(dir, 'sessions'), 1);
    assert.equal(count(dir, 'deliveries'), 2);
  });

  test('a corrupt journal entry refuses the directory, naming the file', async () => {
    const dir = freshDir();
    const store = new SqliteStore(dir);
    await store.open();
    await store.close();
    const db = new Database(join(dir, DATABASE_FILE));
    db.prepare('INSERT INTO journal (ops) VALUES (?)').run(Buffer.from([99, 1, 2, 3]));
    db.close();
    const again = new SqliteStore(dir);
    await assert.rejects(again.open(), (err: unknown) => {
      assert.ok(err instanceof StorageOpenError);
      assert.match(err.message, /journal/);
      assert.ok(err.message.includes(join(dir, DATABASE_FILE)));
      return true;
    });
    // The journal is left as it was (nothing half-applied): the row is still there.
    assert.equal(count(dir, 'journal'), 1);
  });
});
