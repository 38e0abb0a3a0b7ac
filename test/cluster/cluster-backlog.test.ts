/**
 * Cross-node backlogs: a burst of QoS 1 messages for a node (the publishers' in-flight windows released at
 * once when Redis comes back, or a publisher faster than the subscriber) waits in the node's inbox stream
 * while its subscriber works through it, instead of overflowing the subscriber's queue (1000 messages by
 * default) and being dropped. A subscriber that stopped reading holds that inflow only for a bounded wait.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { decodeFrames } from '../../src/cluster/frames.js';
import { STALL_MS } from '../../src/cluster/inbox-gate.js';
import { RawClient } from '../support/raw-client.js';
import { type RedisServer, startRedis } from '../support/redis.js';
import { Client, clusterOf, engineOf, type Node, routeKnown, startNode, until } from './cluster-harness.js';

/** Publish `count` QoS 1 messages `m-<i>`, at most `window` unacknowledged; `at(i)` before the i-th. */
function stream(pub: MqttClient, count: number, window: number, at?: (i: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let acked = 0;
    const pump = (): void => {
      while (sent < count && sent - acked < window) {
        const i = sent++;
        at?.(i);
        pub.publish(`flow/${i % 5}`, `m-${i}`, { qos: 1 }, (err) => {
          if (err !== undefined && err !== null) {
            reject(err);
            return;
          }
          acked++;
          if (acked === count) resolve();
          else pump();
        });
      }
    };
    pump();
  });
}

async function connect(node: Node, options: IClientOptions): Promise<MqttClient> {
  const client = mqtt.connect(node.url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  return client;
}

const expected = (count: number): string[] => Array.from({ length: count }, (_, i) => `m-${i}`);

function missing(count: number, client: Client): string[] {
  const got = new Set(client.payloads());
  return expected(count).filter((p) => !got.has(p));
}

/** Wait until `client` has every message, or nothing came for 2 s (or `timeoutMs` passed). */
async function settle(count: number, client: Client, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let seen = -1;
  let quietSince = Date.now();
  while (missing(count, client).length > 0 && Date.now() < deadline && Date.now() - quietSince < 2000) {
    if (client.received.length !== seen) {
      seen = client.received.length;
      quietSince = Date.now();
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The messages in node a's inbox stream after its checkpoint. */
async function framesAfterCheckpoint(raw: Redis, prefix: string): Promise<number> {
  const checkpoint = (await raw.get(`${prefix}cp:a`)) ?? '0-0';
  const entries = await raw.xrangeBuffer(`${prefix}in:a`, `(${checkpoint}`, '+');
  let frames = 0;
  for (const [, fields] of entries) {
    const at = fields.findIndex((f, i) => i % 2 === 0 && f.toString() === 'b');
    if (at >= 0) frames += decodeFrames(fields[at + 1] as Buffer).length;
  }
  return frames;
}

interface SlowSubscriber {
  readonly payloads: Set<string>;
  atEnd: boolean;
  stop(): void;
}

/**
 * A persistent QoS 1 subscriber to `flow/#` on a raw connection that reads and acknowledges `perTick`
 * messages, then rests `tickMs`: a reader that keeps draining, more slowly than the publisher publishes.
 */
async function slowSubscriber(
  node: Node,
  clientId: string,
  perTick: number,
  tickMs: number,
): Promise<SlowSubscriber> {
  const client = await RawClient.open(node.port, 4);
  client.send({
    type: 'connect',
    protocolName: 'MQTT',
    protocolVersion: 4,
    clean: false,
    keepalive: 0,
    clientId,
  });
  await client.expectPacket('connack');
  client.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'flow/#', qos: 1 }] });
  await client.expectPacket('suback');
  let stopped = false;
  const sub: SlowSubscriber = {
    payloads: new Set(),
    atEnd: false,
    stop() {
      stopped = true;
      client.destroy();
    },
  };
  void (async () => {
    let read = 0;
    while (!stopped) {
      const packet = await client.readPacket(30_000).catch(() => undefined);
      if (packet === undefined) return;
      if (packet.type !== 'publish') continue;
      sub.payloads.add(packet.payload.toString());
      client.send({ type: 'puback', packetId: packet.packetId as number });
      if (++read % perTick === 0) await new Promise((resolve) => setTimeout(resolve, tickMs));
    }
  })();
  return sub;
}

const queueFull = (node: Node): number => engineOf(node.broker).stats.dropped['queue-full'];

/** Two nodes on one Redis (default queue limit), torn down after `body`. */
async function twoNodes(
  prefix: string,
  redisOptions: Parameters<typeof startRedis>[0],
  body: (redis: RedisServer, a: Node, b: Node) => Promise<void>,
): Promise<void> {
  const redis = await startRedis(redisOptions);
  const nodes = await Promise.all(['a', 'b'].map((id) => startNode(redis, id, prefix)));
  const [a, b] = nodes as [Node, Node];
  try {
    await body(redis, a, b);
  } finally {
    await Promise.all(nodes.map((n) => n.broker.close()));
    await redis.stop();
  }
}

describe('cluster backlog', () => {
  test('Redis killed (-9) and restarted under a backlog beyond the queue limit: no QoS 1 message dropped', async () => {
    await twoNodes('crash:', { aof: true }, async (redis, a, b) => {
      const sub = await Client.connect(a, { clientId: 'keeping-up', clean: false });
      const pub = await connect(b, { clientId: 'burst' });
      try {
        await sub.subscribe('flow/#', 1);
        await routeKnown([a, b], a, 'flow/#');
        // 3000 in flight: while Redis is away they wait in B, and come to A's inbox at once when it is back,
        // three times what A's subscriber can hold (its window of 1024 and its queue of 1000).
        const count = 6000;
        let back: Promise<void> | undefined;
        await stream(pub, count, 3000, (i) => {
          if (i === 1000)
            back = redis
              .crash()
              .then(() => new Promise((resolve) => setTimeout(resolve, 300)))
              .then(() => redis.start());
        });
        await back;
        await settle(count, sub, 15_000);
        assert.equal(queueFull(a), 0, 'nothing dropped for a full queue');
        assert.deepEqual(missing(count, sub), []);
        // The copies may all have come over the link before A's Redis connections are back (ioredis
        // retries with a backoff): wait for A to see Redis again.
        await until(
          () => (clusterOf(a.broker)?.stats.reconnects ?? 0) >= 1,
          'node A saw Redis come back',
          10_000,
        );
      } finally {
        await sub.end();
        await pub.endAsync();
      }
    });
  });

  test('a publisher faster than its subscriber: the backlog waits in the inbox stream, also across a Redis restart', async () => {
    await twoNodes('pace:', { aof: true }, async (redis, a, b) => {
      // About 1000 messages a second: 50 acknowledged every 50 ms.
      const sub = await slowSubscriber(a, 'slow', 50, 50);
      const pub = await connect(b, { clientId: 'fast' });
      const raw = new Redis(redis.url, { maxRetriesPerRequest: null });
      raw.on('error', () => undefined);
      try {
        await routeKnown([a, b], a, 'flow/#');
        const count = 5000;
        await stream(pub, count, count);
        // Every message is in A's inbox (the publisher has its acknowledgements); the subscriber has a part.
        await until(() => sub.payloads.size >= 1500, 'a part of the messages at the subscriber', 10_000);
        const waiting = await framesAfterCheckpoint(raw, 'pace:');
        assert.ok(waiting > 1000, `a queue's worth waits in the stream after the checkpoint (${waiting})`);
        // Redis restarts now: what A read and did not handle yet is still after the checkpoint, read again.
        await redis.restart(100);
        await until(() => sub.payloads.size === count, 'every message at the subscriber', 15_000).catch(
          () => undefined,
        );
        assert.equal(queueFull(a), 0, 'nothing dropped for a full queue');
        assert.equal(count - sub.payloads.size, 0, 'messages missing');
        assert.ok((clusterOf(a.broker)?.stats.inboxWaitMs ?? 0) > 0, 'the inbox reader waited');
        // Everything handled: the checkpoint reaches the newest entry.
        await until(
          () => sub.atEnd,
          'the checkpoint at the end of the inbox',
          5000,
          async () => {
            const newest = (await raw.xrevrange('pace:in:a', '+', '-', 'COUNT', 1))[0]?.[0];
            sub.atEnd = newest !== undefined && (await raw.get('pace:cp:a')) === newest;
          },
        );
      } finally {
        raw.disconnect();
        sub.stop();
        await pub.endAsync();
      }
    });
  });

  test('a subscriber that stopped reading holds its node inbox for a bounded wait only', async () => {
    await twoNodes('stall:', {}, async (_redis, a, b) => {
      const received: number[] = [];
      const healthy = await Client.connect(a, { clientId: 'healthy' });
      healthy.mqtt.on('message', () => received.push(Date.now()));
      // A raw client that never acknowledges and stops reading its socket (as if SIGSTOPped).
      const stuck = await RawClient.open(a.port, 4);
      const pub = await connect(b, { clientId: 'feeder' });
      try {
        stuck.send({
          type: 'connect',
          protocolName: 'MQTT',
          protocolVersion: 4,
          clean: true,
          keepalive: 0,
          clientId: 'stuck',
        });
        await stuck.expectPacket('connack');
        stuck.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'flow/#', qos: 1 }] });
        await stuck.expectPacket('suback');
        stuck.pauseReading();
        await healthy.subscribe('flow/#', 1);
        await routeKnown([a, b], a, 'flow/#');
        const count = 6000;
        await stream(pub, count, 3000);
        await until(
          () => missing(count, healthy).length === 0,
          'every message at the healthy subscriber',
          15_000,
        );
        let gap = 0;
        for (let i = 1; i < received.length; i++)
          gap = Math.max(gap, (received[i] as number) - (received[i - 1] as number));
        // The stall bound, plus room for a loaded machine.
        assert.ok(gap < STALL_MS + 1000, `the healthy subscriber waited ${gap} ms at most`);
        assert.ok((clusterOf(a.broker)?.stats.inboxStalled ?? 0) >= 1, 'the stuck subscriber was let go');
        assert.ok(queueFull(a) > 0, "the stuck subscriber's overflow is dropped and counted, as before");
      } finally {
        stuck.destroy();
        await healthy.end();
        await pub.endAsync();
      }
    });
  });
});
