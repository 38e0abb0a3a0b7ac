/**
 * Three nodes on one Redis: messages cross nodes at every QoS, only to the nodes with subscribers; retained
 * messages are cluster-wide and found by a wildcard subscribe on another node; a shared group spread over
 * the nodes gets each message once. MQTT.js and mosquitto_sub as clients.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { clusterOf, engineOf, type Node, routeKnown, threeNodes, until } from './cluster-harness.js';

for (const links of [true, false])
  describe(`cluster routing (3 nodes, ${links ? 'direct links' : 'Redis only'})`, () => {
    const cluster = threeNodes(links ? 'routing:' : 'routing-redis:', links ? {} : { link: false });
    const client = cluster.client;
    let nodes: Node[] = [];
    let a: Node;
    let b: Node;
    let c: Node;
    before(() => {
      nodes = cluster.nodes;
      [a, b, c] = cluster.nodes;
    });

    test('a subscriber on A gets what B and C publish, at QoS 0, 1 and 2, in order per publisher', async () => {
      const sub = await client(a, { clientId: 'sub-a', protocolVersion: 5 });
      await sub.subscribe('cross/#', 2);
      await routeKnown(nodes, a, 'cross/#');
      const fromB = await client(b, { clientId: 'pub-b' });
      const fromC = await client(c, { clientId: 'pub-c', protocolVersion: 5 });
      const sent: string[] = [];
      for (const qos of [0, 1, 2] as const) {
        for (let i = 0; i < 5; i++) {
          await fromB.publish(`cross/b/${qos}`, `b${qos}-${i}`, qos);
          await fromC.publish(`cross/c/${qos}`, `c${qos}-${i}`, qos);
          sent.push(`b${qos}-${i}`, `c${qos}-${i}`);
        }
      }
      await until(() => sub.received.length >= sent.length, 'every message on A');
      assert.deepEqual([...sub.payloads()].sort(), [...sent].sort(), 'each message exactly once');
      for (const qos of [0, 1, 2]) {
        for (const from of ['b', 'c']) {
          const got = sub.received.filter((m) => m.topic === `cross/${from}/${qos}`);
          assert.deepEqual(
            got.map((m) => m.payload),
            [0, 1, 2, 3, 4].map((i) => `${from}${qos}-${i}`),
            `order from ${from} at QoS ${qos}`,
          );
          assert.ok(
            got.every((m) => m.qos === qos),
            `delivered at QoS ${qos}`,
          );
        }
      }
      // Routing, not broadcast: C has no subscriber, so nothing was sent to it.
      const forwardedTo = (node: Node) => clusterOf(node.broker)?.stats.received ?? -1;
      assert.equal(forwardedTo(c), 0, 'nothing reached the node without subscribers');
      assert.equal(forwardedTo(b), 0);
      assert.equal(forwardedTo(a), sent.length);
      // Which way they went: over the nodes' direct links (QoS 0 batches, and QoS 1/2 copies delivered ahead
      // of their inbox appends), or through Redis alone.
      const onA = clusterOf(a.broker);
      if (links) {
        assert.ok((onA?.links?.framesReceived ?? 0) > 0, 'frames came over the links');
        assert.ok((onA?.stats.earlyDelivered ?? 0) > 0, 'QoS 1/2 delivered ahead of the inbox');
      } else {
        assert.equal(onA?.links, undefined, 'no links');
        assert.equal(onA?.stats.earlyDelivered, 0);
      }
    });

    test('a wildcard subscriber on A gets the retained messages stored through B (mosquitto_sub)', async () => {
      const pub = await client(b, { clientId: 'retainer' });
      await pub.publish('shelf/one', 'first', 1, true);
      await pub.publish('shelf/two/deep', 'second', 1, true);
      await pub.publish('other/three', 'not matched', 1, true);
      await until(
        () => engineOf(a.broker).router.get('shelf/two/deep') !== undefined,
        'retained replicated to A',
      );
      const child = spawn('mosquitto_sub', [
        '-h',
        '127.0.0.1',
        '-p',
        String(a.port),
        '-i',
        'msub',
        '-t',
        'shelf/#',
        '-v',
        '-C',
        '2',
        '-W',
        '5',
        '-q',
        '1',
      ]);
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
      });
      const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
      assert.equal(code, 0, 'mosquitto_sub got its two messages');
      assert.deepEqual(out.trim().split('\n').sort(), ['shelf/one first', 'shelf/two/deep second']);
      // A retained message deleted on C is gone on A too.
      const deleter = await client(c, { clientId: 'deleter' });
      await deleter.publish('shelf/one', '', 1, true);
      await until(
        () => engineOf(a.broker).router.get('shelf/one') === undefined,
        'the delete replicated to A',
      );
      assert.equal(engineOf(b.broker).router.get('shelf/one'), undefined);
    });

    test('a retained topic holding a newline crosses whole; an event nobody can read is skipped, not thrown', async () => {
      // MQTT allows a newline in a topic (spec 1.5.4 only advises against control characters).
      const topic = 'shelf/line\nbreak/é';
      // Hooks run where the change is made (docs/cluster.md): B's for the set, C's for the delete, none on A.
      const seen: string[] = [];
      for (const [name, node] of [
        ['a', a],
        ['b', b],
        ['c', c],
      ] as const)
        await node.broker.addHook({
          id: `retained-seen-${name}`,
          onRetainedChanged: (changed, message) => {
            if (changed === topic) seen.push(`${name} ${message === undefined ? 'deleted' : 'set'}`);
          },
        });
      const pub = await client(b, { clientId: 'newline-retainer' });
      await pub.publish(topic, 'kept whole', 1, true);
      await until(() => engineOf(a.broker).router.get(topic) !== undefined, 'the retained message on A');
      assert.equal(engineOf(a.broker).router.get(topic)?.payload.toString(), 'kept whole');
      assert.equal(engineOf(a.broker).router.get('shelf/line'), undefined, 'not cut at the newline');
      // Garbage on the retained-event channel (another version, a stray PUBLISH): every node goes on.
      const raw = new Redis(cluster.redisUrl());
      try {
        const channel = `${links ? 'routing:' : 'routing-redis:'}ev:retained2`;
        for (const junk of [
          'x',
          'other\n',
          'other\n99\nshort',
          'other\n1\nt\u0001\u0000',
          'other\nab\ntopic',
        ])
          assert.ok((await raw.publish(channel, junk)) >= 3, 'every node heard it');
      } finally {
        raw.disconnect();
      }
      const deleter = await client(c, { clientId: 'newline-deleter' });
      await deleter.publish(topic, '', 1, true);
      await until(() => engineOf(a.broker).router.get(topic) === undefined, 'the delete replicated to A');
      assert.deepEqual(seen, ['b set', 'c deleted']);
    });

    test('a shared group spread over the three nodes gets each message once', async () => {
      const members = await Promise.all(
        nodes.map((node, i) => client(node, { clientId: `member-${i}`, protocolVersion: 5 })),
      );
      for (const member of members) await member.subscribe('$share/workers/jobs/+', 1);
      for (const node of nodes) await routeKnown(nodes, node, '$share/workers/jobs/+');
      const pub = await client(b, { clientId: 'jobs-pub' });
      const count = 30;
      for (let i = 0; i < count; i++) await pub.publish(`jobs/${i % 3}`, `job-${i}`, 1);
      await until(() => members.reduce((n, m) => n + m.received.length, 0) >= count, 'every job delivered');
      await new Promise((resolve) => setTimeout(resolve, 200));
      const all = members.flatMap((m) => m.payloads());
      assert.equal(all.length, count, 'no job twice');
      assert.deepEqual(new Set(all).size, count);
      for (const [i, member] of members.entries())
        assert.ok(member.received.length > 0, `member on node ${i} got a share`);
    });
  });
