/**
 * The inbox gate on its own, with real sessions and short bounds: when a session holds the reader, for how
 * long, and what lets it go.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createMessage } from '../../src/broker/message.js';
import { Session } from '../../src/broker/session.js';
import type { Outbound, SessionLink } from '../../src/broker/session-link.js';
import { ClusterStats } from '../../src/cluster/cluster-stats.js';
import { InboxGate } from '../../src/cluster/inbox-gate.js';

const LIMITS = { maxQueuedMessages: 8, maxQueuedBytes: 0 };
const LINK = {} as SessionLink;

function outbound(): Outbound {
  const message = createMessage('t', Buffer.from('x'), 1, false, undefined, 'p', Date.now());
  return {
    message,
    qos: 1,
    retain: false,
    subscriptionIds: undefined,
    packetId: 0,
    state: 'publish',
    seq: 0,
  };
}

/** A connected session with `count` messages queued. */
function sessionWith(count: number): Session {
  const session = new Session('s');
  session.link = LINK;
  fill(session, count);
  return session;
}

function fill(session: Session, count: number): void {
  for (let i = 0; i < count; i++) session.enqueue(outbound(), LIMITS.maxQueuedMessages, 0);
}

function drain(session: Session, count: number): void {
  for (let i = 0; i < count; i++) session.shiftQueued();
}

/** Milliseconds until `promise` settles (or `null` when it is still pending after `limitMs`). */
async function settlesIn(promise: Promise<void>, limitMs: number): Promise<number | null> {
  const started = performance.now();
  const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), limitMs));
  const done = promise.then(() => performance.now() - started);
  return Promise.race([done, timeout]);
}

const gate = (stats = new ClusterStats(), closing = (): boolean => false): InboxGate =>
  new InboxGate(LIMITS, stats, closing, 1000, 100);

describe('inbox gate', () => {
  test('a session half full holds the reader while it drains, until it is down to a quarter', async () => {
    const g = gate();
    const session = sessionWith(3);
    g.queued(session);
    assert.equal(g.closed, false, 'under half: open');
    fill(session, 1);
    g.queued(session);
    assert.equal(g.closed, true, 'half full: closed');
    const waiting = g.wait();
    // Draining one message every 30 ms (under the 100 ms stall bound): 4 -> 2 takes 60 ms.
    const timer = setInterval(() => drain(session, 1), 30);
    const took = await settlesIn(waiting, 1000);
    clearInterval(timer);
    assert.ok(took !== null && took >= 50, `held while it drained (${took} ms)`);
    assert.equal(session.queuedCount, 2);
  });

  test('a session that does not drain holds the reader for the stall bound only; again once it moves', async () => {
    const stats = new ClusterStats();
    const g = gate(stats);
    const session = sessionWith(6);
    g.queued(session);
    const took = await settlesIn(g.wait(), 1000);
    assert.ok(took !== null && took >= 90 && took < 500, `let go after the stall bound (${took} ms)`);
    assert.equal(stats.inboxStalled, 1);
    g.queued(session);
    assert.equal(g.closed, false, 'still stalled: it holds nothing');
    drain(session, 1);
    g.queued(session);
    assert.equal(g.closed, true, 'its queue moved: it holds again');
  });

  test('behind for the limit, the reader goes on until it has read its inbox up', async () => {
    const stats = new ClusterStats();
    const g = gate(stats);
    const session = sessionWith(6);
    // Draining, slowly, for ever: only the limit on being behind lets the reader go.
    const timer = setInterval(() => {
      drain(session, 1);
      fill(session, 1);
    }, 20);
    g.queued(session);
    const took = await settlesIn(g.wait(), 3000);
    clearInterval(timer);
    assert.ok(took !== null && took >= 950 && took < 2000, `let go after 1000 ms behind (${took} ms)`);
    assert.equal(stats.inboxOverdue, 1);
    g.queued(session);
    assert.equal(g.closed, false, 'overdue: nothing holds the reader');
    g.caughtUp();
    g.queued(session);
    assert.equal(g.closed, true, 'read up: it may hold again');
  });

  test('a session that went offline, or the broker closing, lets the reader go', async () => {
    const g = gate();
    const session = sessionWith(6);
    g.queued(session);
    const waiting = g.wait();
    session.link = undefined;
    assert.notEqual(await settlesIn(waiting, 80), null, 'offline: let go before the stall bound');

    let closing = false;
    const other = gate(new ClusterStats(), () => closing);
    const held = sessionWith(6);
    other.queued(held);
    const stillWaiting = other.wait();
    closing = true;
    assert.notEqual(await settlesIn(stillWaiting, 80), null, 'closing: let go at once');
    other.queued(held);
    assert.equal(other.closed, false, 'closing: nothing holds the reader');
  });
});
