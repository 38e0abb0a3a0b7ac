/**
 * A client whose acknowledgements wait for commits (a slow store, a cluster's Redis away) is not read past
 * the Receive Maximum: a v3.1.1 publisher, which has no such limit, cannot fill the broker's memory with
 * held messages. What it sends waits in its socket, and everything is acknowledged once commits return.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';
import { takeSnapshot } from '../../src/broker/snapshot.js';
import { type BrokerHarness, publishPacket, rawSubscriber, startBroker } from '../support/broker-harness.js';
import { waitFor } from '../support/raw-client.js';
import { RecordingStore } from '../support/recording-store.js';

const LIMIT = 40;
const harnesses: BrokerHarness[] = [];
const clients: mqtt.MqttClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.endAsync(true);
  for (const h of harnesses.splice(0)) await h.stop();
});

/** A broker with a store whose commits wait for the test, and an offline persistent subscriber to `q/#`. */
async function stalledBroker(
  options: { receiveMaximum?: number; maxMemory?: number } = { receiveMaximum: LIMIT },
): Promise<{ h: BrokerHarness; store: RecordingStore }> {
  const store = new RecordingStore();
  const h = await startBroker({ storage: store, ...options });
  harnesses.push(h);
  const sub = await rawSubscriber(h, 'keeper', 'q/#', 1, 5, {
    clean: false,
    properties: { sessionExpiryInterval: 300 },
  });
  sub.send({ type: 'disconnect', reasonCode: 0 });
  await waitFor(() => h.engine.sessions.get('keeper')?.link === undefined);
  store.mode = 'async';
  return { h, store };
}

const received = (h: BrokerHarness): number => h.engine.stats.publishIn[1];

describe('reads held while acknowledgements wait', () => {
  test('an MQTT.js 3.1.1 publisher is read no further than the Receive Maximum while commits wait', async () => {
    const { h, store } = await stalledBroker();
    const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${h.port}`, {
      protocolVersion: 4,
      clientId: 'flooder',
      reconnectPeriod: 0,
    });
    clients.push(pub);
    const total = 900; // under the offline queue limit (1 000)
    const payload = Buffer.alloc(2048, 7);
    let acked = 0;
    const all = Array.from({ length: total }, (_, i) =>
      pub.publishAsync(`q/${i}`, payload, { qos: 1 }).then(() => acked++),
    );
    await waitFor(() => received(h) > LIMIT, 5000, 'the publisher was read up to the limit');
    await sleep(400);
    const whileHeld = received(h);
    // Past the limit, the rest of the read that crossed it is handled (a 64 KiB read holds ~30 of these).
    assert.ok(whileHeld <= LIMIT + 64, `read ${whileHeld} of ${total} publishes while commits waited`);
    assert.equal(acked, 0, 'nothing acknowledged before its commit');
    store.mode = 'sync';
    store.releaseCommits();
    await Promise.all(all);
    assert.equal(acked, total);
    assert.equal(received(h), total);
    assert.equal(store.disk.sessions.get('keeper')?.deliveries.size, total, 'every message committed');
  });

  test('a client not read meanwhile is not closed for keep alive, and is read again after the commits', async () => {
    const { h, store } = await stalledBroker();
    const { client } = await h.connect('quiet', { version: 4, keepalive: 1 });
    const big = 'x'.repeat(2048);
    for (let id = 1; id <= LIMIT * 4; id++) client.send(publishPacket(`q/${id}`, big, 1, id));
    await waitFor(() => received(h) > LIMIT, 5000, 'read up to the limit');
    // Three keep-alive periods without a byte read from it: the sweep must not count that against it.
    await sleep(3000);
    assert.equal(client.isClosed, false, 'still connected');
    store.mode = 'sync';
    store.releaseCommits();
    for (let id = 1; id <= LIMIT * 4; id++) assert.equal((await client.expectPacket('puback')).packetId, id);
    assert.equal(received(h), LIMIT * 4);
  });

  test('over the memory budget, publishers are held at a few acknowledgements each, not the Receive Maximum', async () => {
    // 1 MiB of budget (the least), the default Receive Maximum (1 024): 4 publishers x 240 messages of 8 KiB
    // would hold 7.5 MiB; past the budget each one stops after HELD_ACKS_FLOOR (16) plus the rest of its read.
    const budget = 1024 * 1024;
    const { h, store } = await stalledBroker({ maxMemory: budget });
    const payload = Buffer.alloc(8192, 7);
    const perPublisher = 240; // 4 x 240 = 960, under the offline queue limit (1 000)
    let acked = 0;
    const all: Promise<unknown>[] = [];
    for (let p = 0; p < 4; p++) {
      const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${h.port}`, {
        protocolVersion: 4,
        clientId: `flooder-${p}`,
        reconnectPeriod: 0,
      });
      clients.push(pub);
      for (let i = 0; i < perPublisher; i++)
        all.push(pub.publishAsync(`q/${p}/${i}`, payload, { qos: 1 }).then(() => acked++));
    }
    await waitFor(() => h.engine.services.memory.pressure, 5000, 'the held messages went over the budget');
    await sleep(400);
    const whileHeld = received(h);
    // Up to the budget (128 messages), then per publisher the floor plus the rest of one 64 KiB read.
    assert.ok(
      whileHeld <= 128 + 4 * (16 + 10),
      `read ${whileHeld} of ${4 * perPublisher} while commits waited`,
    );
    // The offline subscriber's queue counts too (`queued`), so the held messages alone may stay under it.
    const held = h.engine.services.memory.held;
    assert.ok(held > budget / 2 && held <= whileHeld * 8300, `held ${held} bytes for ${whileHeld} messages`);
    assert.equal(acked, 0, 'nothing acknowledged before its commit');
    const snapshot = takeSnapshot(h.engine, { mean: 0, p99: 0, max: 0 });
    assert.equal(snapshot.memoryBudget.held, held, 'the snapshot shows the held bytes');
    store.mode = 'sync';
    store.releaseCommits();
    await Promise.all(all);
    assert.equal(acked, 4 * perPublisher);
    assert.equal(received(h), 4 * perPublisher);
    assert.equal(h.engine.services.memory.held, 0, 'every held byte counted out');
    assert.equal(
      store.disk.sessions.get('keeper')?.deliveries.size,
      4 * perPublisher,
      'every message committed',
    );
  });
});
