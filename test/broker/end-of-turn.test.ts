/**
 * Group commit with the real SQLite store: an acknowledgement held for a turn's changes is released only
 * after the commit holding them; while input keeps arriving the commit waits for the acknowledgements of
 * the deliveries it saved (a delivery acknowledged first is never written), without polling the loop, and
 * never longer than a few milliseconds; a batch with nothing to wait for is committed at the end of its own
 * turn.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { EndOfTurn } from '../../src/broker/end-of-turn.js';
import type { HeldAck, TurnTarget } from '../../src/broker/held-acks.js';
import { silentLogger } from '../../src/broker/logger.js';
import { createMessage } from '../../src/broker/message.js';
import { BrokerStats } from '../../src/broker/stats.js';
import type { SessionStore, StoredDelivery, StoredState } from '../../src/broker/storage.js';
import { SqliteStore } from '../../src/storage/sqlite.js';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function openStore(): Promise<SqliteStore> {
  const dir = mkdtempSync(join(tmpdir(), 'starling-turn-'));
  dirs.push(dir);
  const store = new SqliteStore(dir);
  await store.open();
  store.saveSession({
    clientId: 'sub',
    expiryInterval: 600,
    protocolVersion: 5,
    username: undefined,
    connected: true,
    disconnectedAt: 0,
    will: undefined,
    willDueAt: undefined,
  });
  store.commit();
  return store;
}

/** The seqs of the deliveries the store at `dir` holds for 'sub', read by opening it again. */
async function storedDeliveries(dir: string): Promise<number[]> {
  const again = new SqliteStore(dir);
  const state = await again.open();
  const sub = [...state.sessions].find((s) => s.session.clientId === 'sub');
  await again.close();
  return sub?.deliveries.map((d) => d.seq) ?? [];
}

/** A connection that records what it was given, and how many commits had returned by then. */
class Recorder implements TurnTarget {
  flushScheduled = false;
  flushedEarly = false;
  readonly released: { kind: HeldAck; packetId: number; commits: number }[] = [];
  constructor(private readonly stats: BrokerStats) {}
  flushWrites(): number {
    return 0;
  }
  releaseAck(kind: HeldAck, packetId: number): void {
    this.released.push({ kind, packetId, commits: this.stats.commits });
  }
  refuseAck(): void {
    assert.fail('nothing is refused here');
  }
}

/**
 * A store whose commits return when the test says (as Redis's do, a round trip later): it records nothing,
 * it only stands for the contract's timing.
 */
class DeferredStore implements SessionStore {
  readonly name = 'deferred';
  readonly pending: (() => void)[] = [];
  async open(): Promise<StoredState> {
    return { sessions: [], retained: [] };
  }
  saveSession(): void {}
  deleteSession(): void {}
  saveSubscription(): void {}
  deleteSubscription(): void {}
  saveDelivery(): void {}
  updateDelivery(): void {}
  deleteDelivery(): void {}
  addInboundQos2(): void {}
  deleteInboundQos2(): void {}
  setRetained(): void {}
  commit(): Promise<void> {
    return new Promise((resolve) => this.pending.push(resolve));
  }
  async close(): Promise<void> {}
}

function delivery(seq: number, state: StoredDelivery['state']): StoredDelivery {
  return {
    seq,
    message: createMessage('t', Buffer.from(`m${seq}`), 1, false, undefined, undefined, Date.now()),
    qos: 1,
    retain: false,
    subscriptionIds: undefined,
    packetId: state === 'queued' ? 0 : seq,
    state,
  };
}

describe('end of turn: group commit', () => {
  test('while input keeps arriving, a held acknowledgement waits for the subscriber acknowledgement it can save a write for', async () => {
    const store = await openStore();
    const stats = new BrokerStats();
    // A long gather, so that only the acknowledgement can end the wait.
    const turn = new EndOfTurn(store, stats, silentLogger, 60_000);
    const publisher = new Recorder(stats);
    const commitsBefore = stats.commits;
    // Turn 1: a publish arrives, its delivery is saved as sent, PUBACK held.
    turn.chunkBegins();
    store.saveDelivery('sub', delivery(1, 'publish'));
    turn.markDirty();
    turn.holdAck(publisher, 'puback', 11);
    turn.chunkDone();
    await nextTurn();
    // Passes that bring input (other connections' chunks) do not end the wait.
    for (let pass = 0; pass < 5; pass++) {
      turn.chunkBegins();
      turn.chunkDone();
      await nextTurn();
      assert.equal(publisher.released.length, 0, `not released before the commit (pass ${pass})`);
    }
    assert.equal(store.sealedInFlight(), 1);
    assert.equal(stats.commits, commitsBefore, 'nothing committed while waiting');
    // The subscriber acknowledges before the commit: the save is dropped, and the commit follows.
    turn.chunkBegins();
    store.deleteDelivery('sub', 1);
    turn.markDirty();
    turn.chunkDone();
    await nextTurn();
    await nextTurn();
    assert.deepEqual(
      publisher.released.map((r) => r.packetId),
      [11],
    );
    assert.ok((publisher.released[0]?.commits ?? 0) > commitsBefore, 'released after a commit returned');
    await store.close();
    // The delivery never reached the disk.
    assert.deepEqual(await storedDeliveries(store.dir), []);
  });

  test('passes of the loop without input neither end the wait nor poll: the acknowledgement ends it', async () => {
    const store = await openStore();
    const stats = new BrokerStats();
    const turn = new EndOfTurn(store, stats, silentLogger, 60_000);
    const publisher = new Recorder(stats);
    turn.chunkBegins();
    store.saveDelivery('sub', delivery(3, 'publish'));
    turn.markDirty();
    turn.holdAck(publisher, 'puback', 13);
    turn.chunkDone();
    await nextTurn();
    assert.equal(publisher.released.length, 0, 'sealed, not yet committed');
    assert.equal(store.sealedInFlight(), 1);
    // Count the runs from here on: a wait that polled would run once per pass of the loop.
    let runs = 0;
    const run = turn.run.bind(turn);
    turn.run = (force?: boolean) => {
      runs++;
      run(force);
    };
    for (let pass = 0; pass < 10; pass++) await nextTurn();
    assert.equal(publisher.released.length, 0, 'idle passes do not release it');
    assert.equal(runs, 0, 'the loop was not polled while waiting');
    // The subscriber's acknowledgement arrives: one run commits and releases.
    store.deleteDelivery('sub', 3);
    turn.markDirty();
    await nextTurn();
    assert.equal(runs, 1);
    assert.deepEqual(
      publisher.released.map((r) => r.packetId),
      [13],
    );
    await store.close();
    assert.deepEqual(await storedDeliveries(store.dir), [], 'the save was dropped, never written');
  });

  test('without that acknowledgement the commit happens within a few milliseconds', async () => {
    const store = await openStore();
    const stats = new BrokerStats();
    const turn = new EndOfTurn(store, stats, silentLogger);
    const publisher = new Recorder(stats);
    store.saveDelivery('sub', delivery(2, 'publish'));
    turn.markDirty();
    turn.holdAck(publisher, 'puback', 12);
    const started = performance.now();
    while (publisher.released.length === 0 && performance.now() - started < 1000) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    assert.equal(publisher.released.length, 1);
    assert.ok(performance.now() - started < 200, 'bounded wait');
    await store.close();
    // The delivery was written: it comes back on the next open.
    assert.deepEqual(await storedDeliveries(store.dir), [2]);
  });

  test('an acknowledgement waits only when something it may depend on is uncommitted, or earlier ones wait', async () => {
    const store = await openStore();
    const stats = new BrokerStats();
    const turn = new EndOfTurn(store, stats, silentLogger, 60_000);
    const publisher = new Recorder(stats);
    // Everything reported so far is committed: a clean session's PUBACK goes at once.
    assert.equal(turn.acksWait, false);
    assert.equal(new EndOfTurn(undefined, stats, silentLogger).acksWait, false, 'no store: never');
    // A change is reported (a persistent subscriber's delivery): acknowledgements from here on wait.
    store.saveDelivery('sub', delivery(5, 'publish'));
    turn.markDirty();
    assert.equal(turn.acksWait, true);
    turn.holdAck(publisher, 'puback', 15);
    await nextTurn();
    // Sealed, waiting for the subscriber: a later acknowledgement must not overtake the held one.
    assert.equal(publisher.released.length, 0);
    assert.equal(turn.acksWait, true, 'an earlier acknowledgement waits');
    store.deleteDelivery('sub', 5);
    turn.markDirty();
    await nextTurn();
    assert.deepEqual(
      publisher.released.map((r) => r.packetId),
      [15],
    );
    // The subscriber's acknowledgement is a change too; it rides along with the next commit, or the deferred one.
    const started = performance.now();
    while (turn.acksWait && performance.now() - started < 1000) await new Promise((r) => setTimeout(r, 5));
    assert.equal(turn.acksWait, false, 'all committed and released: at once again');
    await store.close();
  });

  test('with a store that commits asynchronously, each commit releases the acknowledgements held before it, once', async () => {
    const store = new DeferredStore();
    const stats = new BrokerStats();
    const turn = new EndOfTurn(store, stats, silentLogger);
    const publisher = new Recorder(stats);
    const released = () => publisher.released.map((r) => r.packetId);
    for (const packetId of [1, 2]) {
      turn.markDirty();
      turn.holdAck(publisher, 'puback', packetId);
      await nextTurn();
    }
    assert.equal(store.pending.length, 2, 'one commit per turn, the second not waiting for the first');
    assert.deepEqual(released(), [], 'nothing before its commit returned');
    // A turn with an acknowledgement but no change of its own: it waits for the commits still running.
    turn.holdAck(publisher, 'puback', 3);
    await nextTurn();
    store.pending[0]?.();
    await nextTurn();
    assert.deepEqual(released(), [1]);
    store.pending[1]?.();
    await nextTurn();
    await nextTurn();
    assert.deepEqual(released(), [1, 2, 3], 'each once, in order');
    turn.markDirty();
    turn.holdAck(publisher, 'puback', 4);
    await nextTurn();
    store.pending[2]?.();
    await nextTurn();
    assert.deepEqual(released(), [1, 2, 3, 4]);
  });

  test('a batch with nothing an acknowledgement could drop is committed at the end of its own turn', async () => {
    const store = await openStore();
    const stats = new BrokerStats();
    const turn = new EndOfTurn(store, stats, silentLogger);
    const publisher = new Recorder(stats);
    store.saveDelivery('sub', delivery(3, 'queued'));
    turn.markDirty();
    turn.holdAck(publisher, 'puback', 13);
    await nextTurn();
    assert.equal(publisher.released.length, 1);
    assert.equal(store.sealedInFlight(), 0);
    await store.close();
  });
});
