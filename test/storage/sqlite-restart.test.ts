/**
 * A broker restarted on the same data directory: QoS 2 flows stopped at the PUBREL stage finish without a
 * second delivery, session and message expiry count across the restart, and a full database refuses
 * QoS 1/2 (v5 0x97) while QoS 0 keeps flowing.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { publishPacket, rawSubscriber } from '../support/broker-harness.js';
import { waitFor } from '../support/raw-client.js';
import { sqliteBrokers } from '../support/sqlite-brokers.js';

const { freshDir, brokerOn, restart } = sqliteBrokers('starling-restart-');

const persistent = { version: 5 as const, clean: false, properties: { sessionExpiryInterval: 600 } };

describe('SQLite store across restarts', () => {
  test('QoS 2 at the PUBREL stage, both ways, completes after a restart without a second delivery', async () => {
    const dir = freshDir();
    let h = await brokerOn(dir);
    const sub = await rawSubscriber(h, 'q2-sub', 'q2/#', 2, 5, persistent);
    const { client: pub } = await h.connect('q2-pub', persistent);
    // Inbound: the publisher's flow stops after PUBREC (no PUBREL yet).
    pub.send(publishPacket('q2/in', 'once', 2, 11));
    assert.equal((await pub.expectPacket('pubrec')).packetId, 11);
    // Outbound: the subscriber's flow stops after PUBREL (no PUBCOMP yet).
    const delivered = await sub.expectPacket('publish');
    sub.send({ type: 'pubrec', packetId: delivered.packetId! });
    assert.equal((await sub.expectPacket('pubrel')).packetId, delivered.packetId);
    await waitFor(() => h.engine.services.turn.failing === false);
    h = await restart(h, dir);
    const { client: sub2, connack: subAck } = await h.connect('q2-sub', persistent);
    assert.equal(subAck.sessionPresent, true);
    assert.equal(
      (await sub2.expectPacket('pubrel')).packetId,
      delivered.packetId,
      'PUBREL resent, not PUBLISH',
    );
    sub2.send({ type: 'pubcomp', packetId: delivered.packetId! });
    const { client: pub2, connack: pubAck } = await h.connect('q2-pub', persistent);
    assert.equal(pubAck.sessionPresent, true);
    // The publisher did not see... it resends the PUBLISH with DUP: acknowledged again, not delivered again.
    pub2.send({ ...publishPacket('q2/in', 'once', 2, 11), dup: true });
    assert.equal((await pub2.expectPacket('pubrec')).packetId, 11);
    pub2.send({ type: 'pubrel', packetId: 11 });
    assert.equal((await pub2.expectPacket('pubcomp')).packetId, 11);
    await sub2.expectNothing(300);
    await waitFor(() => h.engine.sessions.get('q2-sub')?.inflight.size === 0, 2000, 'outbound flow finished');
  });

  test('session and message expiry keep counting across a restart', async () => {
    const dir = freshDir();
    let h = await brokerOn(dir);
    const short = { version: 5 as const, clean: false, properties: { sessionExpiryInterval: 2 } };
    const ephemeral = await rawSubscriber(h, 'short', 'e/#', 1, 5, short);
    ephemeral.send({ type: 'disconnect', reasonCode: 0 });
    const keeper = await rawSubscriber(h, 'keeper', 'e/#', 1, 5, persistent);
    keeper.send({ type: 'disconnect', reasonCode: 0 });
    await waitFor(() => h.engine.sessions.get('keeper')?.link === undefined);
    const { client: pub } = await h.connect('pub', { version: 5 });
    pub.send({ ...publishPacket('e/soon', 'gone', 1, 1), properties: { messageExpiryInterval: 1 } });
    await pub.expectPacket('puback');
    pub.send({ ...publishPacket('e/later', 'kept', 1, 2), properties: { messageExpiryInterval: 60 } });
    await pub.expectPacket('puback');
    const stoppedAt = Date.now();
    h = await restart(h, dir);
    assert.ok(h.engine.sessions.has('short'), 'restored with the time it had left');
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 2300 - (Date.now() - stoppedAt))));
    assert.equal(h.engine.sessions.has('short'), false, 'expired on time after the restart');
    const { client, connack } = await h.connect('keeper', persistent);
    assert.equal(connack.sessionPresent, true);
    const message = await client.expectPacket('publish');
    assert.equal(message.topic, 'e/later', 'the expired message was not delivered');
    const left = message.properties?.messageExpiryInterval ?? 0;
    assert.ok(left <= 58 && left > 0, `expiry counted across the restart (${left} s left)`);
  });

  test('a full database refuses QoS 1 with 0x97 and keeps QoS 0 and subscribers going', async () => {
    const dir = freshDir();
    const h = await brokerOn(dir, 128 * 1024);
    const off = await rawSubscriber(h, 'off', 'full/#', 1, 5, persistent);
    off.send({ type: 'disconnect', reasonCode: 0 });
    const live = await rawSubscriber(h, 'live', 'full/#', 0, 5);
    const { client: pub } = await h.connect('filler', { version: 5 });
    const payload = 'x'.repeat(16 * 1024);
    let refused = 0;
    for (let id = 1; id <= 40 && refused === 0; id++) {
      pub.send(publishPacket('full/big', payload, 1, id));
      const ack = await pub.expectPacket('puback');
      if (ack.reasonCode === 0x97) refused = id;
      await live.expectPacket('publish');
    }
    assert.ok(refused > 1, 'acknowledged until the database was full, then refused');
    pub.send(publishPacket('full/small', 'qos0', 0));
    const got = await live.expectPacket('publish');
    assert.equal(got.topic, 'full/small', 'QoS 0 still flows');
    assert.ok(h.engine.stats.commitFailures > 0);
  });
});
