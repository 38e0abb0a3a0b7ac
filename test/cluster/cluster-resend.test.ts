/**
 * An inbox append that Redis ran twice (ioredis sends a command again when the connection dropped before its
 * reply came) is delivered once: each append carries its sender's stamp, and the reader drops a second copy.
 * The copy is made here as the resend would make it, with every field of the original entry.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { startRedis } from '../support/redis.js';
import { Client, clusterOf, type Node, routeKnown, startNode, until } from './cluster-harness.js';

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
});
