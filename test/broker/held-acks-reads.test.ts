/**
 * A client whose acknowledgements wait for commits (a slow store, a cluster's Redis away) is not read past
 * the Receive Maximum: a v3.1.1 publisher, which has no such limit, cannot fill the broker's memory with
 * held messages. What it sends waits in its socket, and everything is acknowledged once commits return.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';
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
async function stalledBroker(): Promise<{ h: BrokerHarness; store: RecordingStore }> {
  const store = new RecordingStore();
  const h = await startBroker({ storage: store, receiveMaximum: LIMIT });
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
});
