/**
 * Commits to Redis that go wrong. An inbox append that Redis ran twice (ioredis sends a command again when
 * the connection dropped before its reply came) is delivered once: each append carries its sender's stamp,
 * and the reader drops a second copy (made here as the resend would make it, with every field of the
 * original entry); so is a hand-over of a delivery to a session's new owner. Commits refused by Redis (out of memory) are retried in the order their changes were
 * made, and without the writes a later commit (taken by Redis, or itself retried) rewrote or deleted.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { createMessage } from '../../src/broker/message.js';
import { encodeDelivery } from '../../src/cluster/codec.js';
import { startRedis } from '../support/redis.js';
import { Client, clusterOf, engineOf, type Node, routeKnown, startNode, until } from './cluster-harness.js';

describe('cluster inbox: a resent append', () => {
  test('a second copy of an entry is dropped and counted; an entry with a new stamp is delivered', async () => {
    const redis = await startRedis();
    const prefix = 'resend:';
    const nodes = await Promise.all(['a', 'b'].map((id) => startNode(redis, id, prefix)));
    const [a, b] = nodes as [Node, Node];
    const sub = await Client.connect(a, { clientId: 'reader' });
    const pub = await Client.connect(b, { clientId: 'writer' });
    const direct = new Redis(redis.url);
    try {
      await sub.subscribe('dup/#', 2);
      await routeKnown(nodes, a, 'dup/#');
      await pub.publish('dup/1', 'once', 2);
      await until(() => sub.payloads().length === 1, 'the message reached node A');
      // The entry stays in A's inbox up to its checkpoint (XTRIM MINID keeps the checkpoint's own entry).
      const entries = (await direct.xrangeBuffer(`${prefix}in:a`, '-', '+')) as [Buffer, Buffer[]][];
      const original = entries.filter(([, fields]) => fields.some((f) => f.toString() === 'b')).at(-1);
      assert.ok(original !== undefined, 'the batch entry is in the inbox');
      const fields = original[1];
      const stampAt = fields.findIndex((f, i) => i % 2 === 0 && f.toString() === 's');
      assert.ok(stampAt >= 0, 'the append is stamped');
      const stats = clusterOf(a.broker)?.stats;
      assert.ok(stats !== undefined);
      // The resend: the same fields again.
      await direct.xadd(`${prefix}in:a`, '*', ...fields);
      await until(() => stats.duplicatesDropped === 1, 'the copy was dropped');
      // The same batch under another stamp is a new append: delivered (so the check above could fail).
      const renewed = fields.map((f, i) => (i === stampAt + 1 ? Buffer.from(`${f.toString()}-new`) : f));
      await direct.xadd(`${prefix}in:a`, '*', ...renewed);
      await until(() => sub.payloads().length === 2, 'the entry with a new stamp was delivered');
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual(sub.payloads(), ['once', 'once'], 'the dropped copy never reached the subscriber');
      assert.equal(stats.duplicatesDropped, 1);
    } finally {
      direct.disconnect();
      await sub.end();
      await pub.end();
      await Promise.all(nodes.map((n) => n.broker.close()));
      await redis.stop();
    }
  });

  test('a hand-over appended twice is delivered once; one with a new stamp is delivered', async () => {
    const redis = await startRedis();
    const prefix = 'handoff:';
    const nodes = await Promise.all(['a', 'b'].map((id) => startNode(redis, id, prefix)));
    const [a, b] = nodes as [Node, Node];
    const keeper = await Client.connect(a, {
      clientId: 'keeper',
      clean: false,
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 600 },
    });
    const direct = new Redis(redis.url);
    try {
      const stats = clusterOf(a.broker)?.stats;
      const sender = clusterOf(b.broker)?.backend.store;
      assert.ok(stats !== undefined && sender !== undefined);
      // Node B hands a delivery for keeper's session to its owner, node A, as after a take-over.
      const message = createMessage('moved/1', Buffer.from('handed'), 2, false, undefined, 'x', Date.now());
      const delivery = encodeDelivery({ message, qos: 2, retain: false, subscriptionIds: undefined });
      sender.handOff('a', 'keeper', delivery);
      engineOf(b.broker).services.turn.markDirty();
      await until(() => keeper.payloads().length === 1, 'the hand-over reached the session');
      const entries = (await direct.xrangeBuffer(`${prefix}in:a`, '-', '+')) as [Buffer, Buffer[]][];
      const original = entries.filter(([, fields]) => fields[0]?.toString() === 'h').at(-1);
      assert.ok(original !== undefined, 'the hand-over entry is in the inbox');
      const fields = original[1];
      const stampAt = fields.findIndex((f, i) => i % 2 === 0 && f.toString() === 's');
      assert.ok(stampAt >= 0, 'the hand-over is stamped');
      // The resend: the same fields again.
      await direct.xadd(`${prefix}in:a`, '*', ...fields);
      await until(() => stats.duplicatesDropped === 1, 'the copy was dropped');
      const renewed = fields.map((f, i) => (i === stampAt + 1 ? Buffer.from(`${f.toString()}-new`) : f));
      await direct.xadd(`${prefix}in:a`, '*', ...renewed);
      await until(() => keeper.payloads().length === 2, 'the entry with a new stamp was delivered');
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual(keeper.payloads(), ['handed', 'handed'], 'the dropped copy never reached the session');
      assert.equal(stats.handoffs, 2);
    } finally {
      direct.disconnect();
      await keeper.end();
      await Promise.all(nodes.map((n) => n.broker.close()));
      await redis.stop();
    }
  });

  test('a refused save is not retried over a later deletion that Redis took: no delivery comes back', async () => {
    const redis = await startRedis();
    const prefix = 'oom:';
    const a = await startNode(redis, 'a', prefix);
    const sub = await Client.connect(a, {
      clientId: 'keeper',
      clean: false,
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 600 },
    });
    const pub = await Client.connect(a, { clientId: 'sender', protocolVersion: 5 });
    pub.mqtt.on('error', () => undefined);
    const direct = new Redis(redis.url);
    const blocker = new Redis(redis.url);
    try {
      await sub.subscribe('oom/#', 1);
      // Redis refuses writes (maxmemory below what it uses) but still takes deletions, and is kept busy
      // for a moment by a read-only script, so that the commit saving the delivery and the one deleting it
      // (the subscriber acknowledged at once) are both in flight when it answers: the save is refused,
      // the deletion taken.
      await direct.config('SET', 'maxmemory', '1');
      const busy = blocker.eval(
        "#!lua flags=no-writes\nlocal t0 = redis.call('TIME') local t repeat t = redis.call('TIME') until (t[1] - t0[1]) * 1000000 + (t[2] - t0[2]) > 400000 return 1",
        0,
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
      pub.mqtt.publish('oom/1', 'kept?', { qos: 1 });
      await until(() => sub.payloads().length === 1, 'delivered from memory while Redis is busy');
      await busy;
      const stats = engineOf(a.broker).services.stats;
      await until(() => stats.commitFailures >= 1, 'the save refused', 5000);
      // Redis takes writes again; the retry (after its rest) must not save the delivery deleted since.
      await direct.config('SET', 'maxmemory', '0');
      await until(() => !engineOf(a.broker).services.turn.failing, 'commits succeed again', 5000);
      await until(() => !engineOf(a.broker).services.turn.acksWait, 'nothing left to commit', 5000);
      const fields = await direct.hkeys(`${prefix}s:keeper`);
      assert.deepEqual(
        fields.filter((f) => f.startsWith('d:') || f.startsWith('p:')),
        [],
        'no delivery left stored for the session',
      );
      assert.ok(
        fields.some((f) => f.startsWith('sub:')),
        'the session itself is stored',
      );
    } finally {
      direct.disconnect();
      blocker.disconnect();
      await sub.end();
      pub.mqtt.end(true);
      await a.broker.close();
      await redis.stop();
    }
  });
});
