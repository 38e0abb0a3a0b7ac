/**
 * Faults: Redis restarted in the middle of a QoS 1 stream (AOF, everysec) loses no acknowledged message; a
 * node killed with -9 in the middle of a stream (a real process): another node takes its sessions over and
 * its clients resume there, reconnecting before or after the take-over, with nothing acknowledged lost.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { startRedis } from '../support/redis.js';
import {
  Client,
  clusterOf,
  type Node,
  routeKnown,
  startNode,
  startProcessNode,
  until,
} from './cluster-harness.js';

const expected = (count: number): string[] => Array.from({ length: count }, (_, i) => `m-${i}`);

/** Every payload of `wanted` was received at least once. */
function missing(wanted: readonly string[], ...clients: Client[]): string[] {
  const got = new Set(clients.flatMap((c) => c.payloads()));
  return wanted.filter((p) => !got.has(p));
}

describe('cluster faults', () => {
  test('Redis restarted mid-stream: every acknowledged QoS 1 message arrives', async () => {
    const redis = await startRedis({ aof: true });
    const nodes = await Promise.all(['a', 'b'].map((id) => startNode(redis, id, 'restart:')));
    const [a, b] = nodes as [Node, Node];
    const sub = await Client.connect(a, { clientId: 'steady', clean: false });
    const pub = await Client.connect(b, { clientId: 'streamer' });
    try {
      await sub.subscribe('flow/#', 1);
      await routeKnown(nodes, a, 'flow/#');
      const count = 150;
      let restarted: Promise<void> | undefined;
      for (let i = 0; i < count; i++) {
        if (i === 50) restarted = redis.restart(200);
        await pub.publish(`flow/${i % 5}`, `m-${i}`, 1);
      }
      await restarted;
      await until(
        () => missing(expected(count), sub).length === 0,
        'every message after the restart',
        10_000,
      );
      assert.deepEqual(missing(expected(count), sub), []);
      // The messages may all have crossed over the link before B's Redis connections are back (ioredis
      // retries with a backoff): wait for B to see Redis again.
      await until(
        () => (clusterOf(b.broker)?.stats.reconnects ?? 0) >= 1,
        'node B saw Redis come back',
        10_000,
      );
    } finally {
      await sub.end();
      await pub.end();
      await Promise.all(nodes.map((n) => n.broker.close()));
      await redis.stop();
    }
  });

  test('Redis down: local clients served, QoS 0 for other nodes dropped and counted; back empty: sessions written again', async () => {
    const redis = await startRedis();
    const nodes = await Promise.all(['a', 'b'].map((id) => startNode(redis, id, 'down:')));
    const [a, b] = nodes as [Node, Node];
    const remote = await Client.connect(a, { clientId: 'far' });
    const keeper = await Client.connect(a, { clientId: 'keeper', clean: false });
    let stored: string[] = [];
    const local = await Client.connect(b, { clientId: 'near' });
    const pub = await Client.connect(b, { clientId: 'talker' });
    try {
      await remote.subscribe('talk/#', 0);
      await local.subscribe('talk/#', 0);
      await keeper.subscribe('keep/#', 1);
      await routeKnown(nodes, a, 'talk/#');
      await pub.publish('talk/1', 'before', 0);
      await until(() => remote.received.length === 1 && local.received.length === 1, 'the first message');
      await redis.halt();
      await until(() => clusterOf(b.broker)?.backend.available === false, 'B to notice');
      await pub.publish('talk/2', 'during', 0);
      await until(() => local.received.length === 2, 'the local subscriber served while Redis is down');
      assert.equal(clusterOf(b.broker)?.stats.qos0Dropped, 1, 'the copy for node A dropped and counted');
      await redis.start();
      await until(() => clusterOf(b.broker)?.backend.available === true, 'B reconnected', 10_000);
      // Redis came back empty: the routes are announced again; until they are known, QoS 0 goes nowhere.
      await until(
        () => remote.payloads().includes('after'),
        'cross-node again after Redis came back',
        5000,
        () => pub.publish('talk/3', 'after', 0),
      );
      assert.equal(remote.payloads()[0], 'before');
      assert.ok(
        !remote.payloads().includes('during'),
        'the message published while Redis was down was dropped',
      );
      // Redis came back empty (no AOF here): the persistent session held on A is written again.
      const raw = new Redis(redis.url);
      try {
        await until(
          () => stored.length > 0,
          'the session written again',
          5000,
          async () => {
            stored = await raw.hkeys('down:s:keeper');
          },
        );
        assert.deepEqual(stored.sort(), ['session', 'sub:keep/#']);
      } finally {
        raw.disconnect();
      }
    } finally {
      for (const client of [remote, local, pub, keeper]) await client.end();
      await Promise.all(nodes.map((n) => n.broker.close()));
      await redis.stop();
    }
  });

  test('a node killed with -9 mid-stream: its clients resume on another node, nothing acknowledged lost', async () => {
    const redis = await startRedis();
    const victim = await startProcessNode(redis, 'victim', 'kill:');
    const survivor = await startNode(redis, 'survivor', 'kill:');
    // The victim's wills go through the survivor's will hooks, as any will does.
    const willsHooked: string[] = [];
    await survivor.broker.addHook({
      id: 'will-watch',
      onWill: (clientId, will) => {
        willsHooked.push(clientId);
        return will;
      },
    });
    const clients: Client[] = [];
    try {
      // `early` comes back at once (before the take-over), `late` once the survivor took the victim over.
      const early = await Client.connect(victim, { clientId: 'early', clean: false, protocolVersion: 4 });
      const late = await Client.connect(victim, {
        clientId: 'late',
        clean: false,
        protocolVersion: 5,
        properties: { sessionExpiryInterval: 300 },
        will: { topic: 'wills/late', payload: Buffer.from('late gone'), qos: 1, retain: false },
      });
      // A client without a stored session, with a will: published by the node that takes the victim over.
      const mortal = await Client.connect(victim, {
        clientId: 'mortal',
        clean: true,
        will: { topic: 'wills/mortal', payload: Buffer.from('mortal gone'), qos: 1, retain: false },
      });
      const witness = await Client.connect(survivor, { clientId: 'witness' });
      await witness.subscribe('wills/#', 1);
      clients.push(early, late, mortal, witness);
      await early.subscribe('line/#', 1);
      await late.subscribe('line/+', 1);
      await until(
        () => (clusterOf(survivor.broker)?.table.routesOf('victim') ?? 0) === 2,
        'the victim routes',
      );
      const pub = await Client.connect(survivor, { clientId: 'feeder' });
      clients.push(pub);
      const count = 120;
      let earlyAgain: Promise<Client> | undefined;
      for (let i = 0; i < count; i++) {
        if (i === 40) {
          victim.child.kill('SIGKILL');
          earlyAgain = reconnect(survivor, { clientId: 'early', clean: false, protocolVersion: 4 });
        }
        await pub.publish(`line/${i % 7}`, `m-${i}`, 1);
      }
      const earlyResumed = await (earlyAgain as Promise<Client>);
      clients.push(earlyResumed);
      await until(() => clusterOf(survivor.broker)?.stats.nodesAdopted === 1, 'the take-over', 10_000);
      const lateResumed = await Client.connect(survivor, {
        clientId: 'late',
        clean: false,
        protocolVersion: 5,
        properties: { sessionExpiryInterval: 300 },
      });
      clients.push(lateResumed);
      await until(
        () => missing(expected(count), early, earlyResumed).length === 0,
        'every message for the client back before the take-over',
        10_000,
      );
      await until(
        () => missing(expected(count), late, lateResumed).length === 0,
        'every message for the client back after the take-over',
        10_000,
      );
      assert.deepEqual(missing(expected(count), late, lateResumed), []);
      assert.deepEqual(missing(expected(count), early, earlyResumed), []);
      assert.ok(late.received.length < count, 'the victim died mid-stream');
      assert.equal(clusterOf(survivor.broker)?.table.routesOf('victim'), 0, 'the victim routes are gone');
      await until(() => witness.payloads().length === 2, 'the wills of the victim clients');
      assert.deepEqual(witness.payloads().sort(), ['late gone', 'mortal gone']);
      assert.deepEqual(willsHooked.sort(), ['late', 'mortal'], 'both wills through the onWill hook');
    } finally {
      victim.stop();
      for (const client of clients) await client.end().catch(() => undefined);
      await survivor.broker.close();
      await redis.stop();
    }
  });

  test('a node paused past the node timeout: its sessions move; when it wakes it lets them go and rejoins', async () => {
    const redis = await startRedis();
    const sleeper = await startProcessNode(redis, 'sleeper', 'pause:');
    const awake = await startNode(redis, 'awake', 'pause:');
    const clients: Client[] = [];
    try {
      const options = {
        clientId: 'napper',
        clean: false,
        protocolVersion: 5 as const,
        properties: { sessionExpiryInterval: 300 },
      };
      const napper = await Client.connect(sleeper, options);
      clients.push(napper);
      await napper.subscribe('nap/#', 1);
      await until(() => (clusterOf(awake.broker)?.table.routesOf('sleeper') ?? 0) === 1, 'the sleeper route');
      const reason = new Promise<number | undefined>((resolve) => {
        napper.mqtt.once('disconnect', (packet) => resolve(packet.reasonCode));
      });
      const pub = await Client.connect(awake, { clientId: 'nap-pub' });
      clients.push(pub);
      sleeper.child.kill('SIGSTOP');
      for (let i = 0; i < 20; i++) await pub.publish(`nap/${i}`, `m-${i}`, 1);
      await until(() => clusterOf(awake.broker)?.stats.nodesAdopted === 1, 'the take-over', 10_000);
      sleeper.child.kill('SIGCONT');
      assert.equal(await reason, 0x8e, 'the sleeper let the client go (session taken over)');
      const back = await Client.connect(awake, options);
      clients.push(back);
      await until(
        () => missing(expected(20), napper, back).length === 0,
        'the messages published during the pause',
      );
      // The sleeper joined again: its heartbeat is back and it takes new clients.
      const fresh = await Client.connect(sleeper, { clientId: 'after-nap' });
      clients.push(fresh);
      await fresh.subscribe('nap/again', 1);
      await until(
        () => (clusterOf(awake.broker)?.table.routesOf('sleeper') ?? 0) === 1,
        'the sleeper routes again',
      );
      await pub.publish('nap/again', 'welcome back', 1);
      await until(() => fresh.payloads().includes('welcome back'), 'a message to the rejoined node');
    } finally {
      sleeper.child.kill('SIGCONT');
      for (const client of clients) await client.end().catch(() => undefined);
      sleeper.stop();
      await awake.broker.close();
      await redis.stop();
    }
  });
});

/** Connect again until a node accepts (the first attempts may race the kill). */
async function reconnect(node: Node, options: Parameters<typeof Client.connect>[1]): Promise<Client> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await Client.connect(node, options);
    } catch (err) {
      if (attempt >= 20) throw err;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
