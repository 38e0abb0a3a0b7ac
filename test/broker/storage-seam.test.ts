/**
 * The storage seam: what a persistent store is told, that acknowledgements wait for the commit holding
 * their state, that a failing commit refuses instead of acknowledging, and that a broker starts from the
 * stored state without writing it back. The store here keeps its "disk" in memory (RecordingStore); the
 * SQLite store has its own tests against real files and processes.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { type BrokerHarness, publishPacket, rawSubscriber, startBroker } from '../support/broker-harness.js';
import { waitFor } from '../support/raw-client.js';
import { RecordingStore } from '../support/recording-store.js';

const harnesses: BrokerHarness[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.stop();
});

async function brokerWith(store: RecordingStore): Promise<BrokerHarness> {
  const h = await startBroker({ storage: store });
  harnesses.push(h);
  return h;
}

/** A v5 subscriber with a session that outlives its connection, subscribed to `filter` at QoS 1, then gone. */
async function offlineSubscriber(h: BrokerHarness, id: string, filter: string): Promise<void> {
  const properties = { sessionExpiryInterval: 300 };
  const sub = await rawSubscriber(h, id, filter, 1, 5, { clean: false, properties });
  sub.send({ type: 'disconnect', reasonCode: 0 });
  await waitFor(() => h.engine.sessions.get(id)?.link === undefined);
}

describe('storage seam', () => {
  test('a persistent session, its subscription and a queued message are reported; a clean session is not', async () => {
    const store = new RecordingStore();
    const h = await brokerWith(store);
    await offlineSubscriber(h, 'keeper', 'q/#');
    const { client: pub } = await h.connect('pub', { version: 5 });
    pub.send(publishPacket('q/1', 'one', 1, 7));
    assert.equal((await pub.expectPacket('puback')).packetId, 7);
    const mine = store.calls.filter((c) => c !== 'commit');
    assert.deepEqual(mine, [
      'saveSession keeper connected=true',
      'saveSubscription keeper q/#',
      'saveSession keeper connected=false',
      'saveDelivery keeper 1 queued',
    ]);
    const disk = store.disk.sessions.get('keeper');
    assert.equal(disk?.deliveries.size, 1, 'the queued message is committed');
    assert.equal(store.disk.sessions.has('pub'), false, 'a clean session is never stored');
  });

  test('PUBACK and SUBACK wait for the commit that holds their state', async () => {
    const store = new RecordingStore();
    const h = await brokerWith(store);
    await offlineSubscriber(h, 'waiter', 'w/#');
    store.mode = 'async';
    const { client: pub } = await h.connect('pub', { version: 5 });
    pub.send(publishPacket('w/1', 'held', 1, 3));
    await waitFor(() => store.waitingCommits === 1, 2000, 'the commit started');
    await pub.expectNothing(200);
    assert.equal(store.disk.sessions.get('waiter')?.deliveries.size, 0, 'nothing committed yet');
    store.releaseCommits();
    const puback = await pub.expectPacket('puback');
    assert.equal(puback.packetId, 3);
    assert.equal(store.disk.sessions.get('waiter')?.deliveries.size, 1, 'committed before the PUBACK');
    // SUBACK of a persistent session likewise.
    const { client: sub } = await h.connect('sub2', {
      version: 5,
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    await waitFor(() => store.waitingCommits === 1, 2000, 'the session commit started');
    store.releaseCommits();
    sub.send({ type: 'subscribe', packetId: 9, subscriptions: [{ topicFilter: 's/#', qos: 1 }] });
    await waitFor(() => store.waitingCommits === 1, 2000, 'the subscription commit started');
    await sub.expectNothing(200);
    store.releaseCommits();
    assert.deepEqual((await sub.expectPacket('suback')).reasonCodes, [1]);
    assert.equal(store.disk.sessions.get('sub2')?.subscriptions.has('s/#'), true);
  });

  test('our PUBREL waits for the commit of the PUBREC stage (the PUBLISH is never sent again after it)', async () => {
    const store = new RecordingStore();
    const h = await brokerWith(store);
    const sub = await rawSubscriber(h, 'q2', 'p/#', 2, 5, {
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    const { client: pub } = await h.connect('pub', { version: 5 });
    pub.send(publishPacket('p/1', 'x', 2, 1));
    await pub.expectPacket('pubrec');
    const message = await sub.expectPacket('publish');
    assert.equal(message.qos, 2);
    store.mode = 'async';
    sub.send({ type: 'pubrec', packetId: message.packetId! });
    await waitFor(() => store.waitingCommits === 1, 2000, 'the PUBREC stage commit started');
    await sub.expectNothing(200);
    store.releaseCommits();
    assert.equal((await sub.expectPacket('pubrel')).packetId, message.packetId);
    assert.equal([...(store.disk.sessions.get('q2')?.deliveries.values() ?? [])][0]?.state, 'pubrel');
  });

  test('a failing commit refuses QoS 1 (v5 0x97, v3 disconnected) and keeps QoS 0 flowing; it recovers', async () => {
    const store = new RecordingStore();
    const h = await brokerWith(store);
    await offlineSubscriber(h, 'off', 'f/#');
    const live = await rawSubscriber(h, 'live', 'f/#', 0, 5);
    store.mode = 'fail';
    const { client: pub5 } = await h.connect('pub5', { version: 5 });
    pub5.send(publishPacket('f/1', 'a', 1, 1));
    const refused = await pub5.expectPacket('puback');
    assert.equal(refused.reasonCode, 0x97, 'the first one, held for the failed commit');
    pub5.send(publishPacket('f/2', 'b', 1, 2));
    assert.equal((await pub5.expectPacket('puback')).reasonCode, 0x97, 'refused up front while failing');
    pub5.send(publishPacket('f/3', 'c', 0));
    const got = await live.expectPacket('publish');
    assert.equal(got.topic, 'f/1', 'online subscribers still get what was routed');
    assert.equal((await live.expectPacket('publish')).topic, 'f/3', 'QoS 0 keeps flowing');
    const { client: pub3 } = await h.connect('pub3', { version: 4 });
    pub3.send(publishPacket('f/4', 'd', 1, 4));
    await pub3.expectClosed();
    // The disk comes back: the held batch is retried and QoS 1 is acknowledged again.
    store.mode = 'sync';
    await waitFor(() => !h.engine.services.turn.failing, 3000, 'a commit succeeded again');
    pub5.send(publishPacket('f/5', 'e', 1, 5));
    const ok = await pub5.expectPacket('puback');
    assert.equal(ok.packetId, 5);
    assert.equal(ok.reasonCode ?? 0, 0);
    assert.ok(
      (store.disk.sessions.get('off')?.deliveries.size ?? 0) >= 1,
      'the retried batch reached the disk',
    );
  });

  test('a broker starts from the stored state, writes nothing back, and resumes the session', async () => {
    const first = new RecordingStore();
    const a = await brokerWith(first);
    await offlineSubscriber(a, 'phoenix', 'r/#');
    const { client: pub } = await a.connect('pub', { version: 4 });
    for (let i = 1; i <= 3; i++) {
      pub.send(publishPacket('r/x', `m${i}`, 1, i));
      await pub.expectPacket('puback');
    }
    pub.send({ ...publishPacket('r/kept', 'retained', 1, 9), retain: true });
    await pub.expectPacket('puback');
    // A second broker on the same committed state, as after a crash: nothing of the first is closed first.
    const second = new RecordingStore(first.disk);
    const b = await brokerWith(second);
    assert.deepEqual(second.calls, [], 'loading wrote nothing back');
    assert.equal(b.engine.index.retainedCount, 1);
    const { client: sub, connack } = await b.connect('phoenix', {
      version: 5,
      clean: false,
      properties: { sessionExpiryInterval: 300 },
    });
    assert.equal(connack.sessionPresent, true);
    const payloads: string[] = [];
    for (let i = 0; i < 4; i++) {
      const message = await sub.expectPacket('publish');
      payloads.push(message.payload.toString());
      sub.send({ type: 'puback', packetId: message.packetId! });
    }
    assert.deepEqual(payloads, ['m1', 'm2', 'm3', 'retained']);
    await waitFor(
      () => second.disk.sessions.get('phoenix')?.deliveries.size === 0,
      2000,
      'acks delete the rows',
    );
  });
});
