/**
 * Connections past the connect timeout are closed a bounded number per event-loop turn, so a wave of sockets
 * that never sent CONNECT (a flood) does not stall the other clients; every one of them is closed within a few
 * turns, except one whose CONNECT came in meanwhile. The process-level flood test checks the timeout itself.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { closeTimedOut } from '../../src/broker/connection-sweep.js';

function waiting(count: number) {
  return Array.from({ length: count }, () => ({
    state: 'connecting',
    closed: false,
    close() {
      this.closed = true;
    },
  }));
}

test('a wave of timed-out connections is closed over several turns, all of it', async () => {
  const list = waiting(300);
  closeTimedOut(list);
  const first = list.filter((c) => c.closed).length;
  assert.ok(first > 0 && first < 300, `some closed at once, not all in one turn (${first})`);
  for (let turn = 0; turn < 10 && list.some((c) => !c.closed); turn++) await nextTurn();
  assert.equal(list.filter((c) => c.closed).length, 300, 'all closed within a few turns');
});

test('a connection whose CONNECT came in before its turn is not closed', async () => {
  const list = waiting(200);
  closeTimedOut(list);
  const late = list[199];
  assert.ok(late !== undefined && !late.closed);
  late.state = 'connected';
  for (let turn = 0; turn < 10; turn++) await nextTurn();
  assert.equal(late.closed, false);
  assert.equal(list.filter((c) => c.closed).length, 199);
});
