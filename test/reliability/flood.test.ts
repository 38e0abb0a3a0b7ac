/**
 * A bounded connection flood (the full one is `bench/flood.ts`): 1 000 attempts in a burst from two
 * processes, half never sending CONNECT, while 10 clients keep publishing through the broker. The silent
 * connections the broker accepted are all closed, none before the connect timeout; the CONNECTing half is
 * served; the publishers are never disconnected and keep getting their messages; the broker survives.
 * (Latency is a benchmark figure and is not asserted here.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runFlood } from '../../bench/lib/flood-run.js';

const ATTEMPTS = 1000;
const CONNECT_TIMEOUT_MS = 500;
const PUBLISHERS = 10;

test('flood: half-open connections are closed after the connect timeout, publishers keep working', async () => {
  const report = await runFlood({
    attempts: ATTEMPTS,
    processes: 2,
    publishers: PUBLISHERS,
    publishRate: 20,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    beforeMs: 300,
    afterMs: 300,
    settleTimeoutMs: 20_000,
  });
  assert.equal(report.brokerCrash, undefined, report.brokerCrash?.stderr);
  assert.equal(report.brokerAliveAfter, true, 'a fresh client gets a round trip after the flood');
  assert.equal(report.attempted, ATTEMPTS);
  assert.equal(report.connackOk, ATTEMPTS / 2, 'every CONNECTing client got CONNACK 0');
  assert.equal(report.droppedAfterConnack, 0);
  // Every silent connection that reached the broker was closed by it, and none too early: the close came
  // at least the connect timeout after the client's connect() call (which precedes the broker's accept).
  assert.ok(report.silentAcceptedByBroker > 0);
  assert.equal(report.silentClosedAfterMs.length, report.silentAcceptedByBroker);
  const earliest = Math.min(...report.silentClosedAfterMs);
  assert.ok(earliest >= CONNECT_TIMEOUT_MS, `a silent connection was closed after ${earliest} ms`);
  assert.equal(report.publishersLost, 0, 'no publisher was disconnected');
  for (const phase of report.phases)
    assert.ok(phase.received > 0, `publishers got messages ${phase.name} the burst`);
  const sent = report.phases.reduce((sum, p) => sum + p.sent, 0);
  const received = report.phases.reduce((sum, p) => sum + p.received, 0);
  // QoS 0 on loopback, nobody slow: everything arrives but what the last tick still had in flight.
  assert.ok(received >= sent - PUBLISHERS, `${received} of ${sent} messages came back`);
});
