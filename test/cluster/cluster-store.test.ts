/**
 * The pieces under the cluster: the wire codec, the route table cache, and the Redis store's ownership
 * (fencing): a node that lost a session to another cannot write it, and a delivery it makes after the loss
 * goes on to the new owner.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { createMessage, type Message } from '../../src/broker/message.js';
import type { RemoteTarget } from '../../src/broker/routing.js';
import type { MatchResult } from '../../src/broker/topic-index.js';
import { decodeDelivery, encodeDelivery } from '../../src/cluster/codec.js';
import {
  decodeFrames,
  encodeFrame,
  encodeSubscribersFrame,
  FrameBatch,
  SUBSCRIBERS_ONLY,
  visitFrames,
} from '../../src/cluster/frames.js';
import { decodeMessage, encodeMessage } from '../../src/cluster/message-codec.js';
import { RedisBackend } from '../../src/cluster/redis-backend.js';
import { RouteTable } from '../../src/cluster/route-table.js';
import { type RedisServer, startRedis } from '../support/redis.js';

/** A logger that says nothing, and cluster events nobody listens to. */
const logger = () => ({ info() {}, warn() {}, error() {}, debug() {} });
const events = {
  route() {},
  nodeGone() {},
  retained() {},
  qos0() {},
  reconnected() {},
  membershipLost() {},
};

/** What a node reports of itself in these tests: nothing running. */
const idleNodeInfo = () => ({
  startedAt: 0,
  pid: 0,
  host: 'h',
  clients: 0,
  sessions: 0,
  subscriptions: 0,
  retained: 0,
  messagesReceived: 0,
  messagesSent: 0,
});

describe('cluster codec', () => {
  test('a message with every optional part survives encode and decode', () => {
    const message = createMessage(
      'a/b',
      Buffer.from([0, 1, 2, 255]),
      2,
      true,
      {
        messageExpiryInterval: 60,
        contentType: 'bin',
        responseTopic: 'r/1',
        correlationData: Buffer.from('corr'),
        userProperties: [['k', 'v']],
        payloadFormatIndicator: 0,
      },
      'client-1',
      1_000,
    );
    const { message: back, end } = decodeMessage(encodeMessage(message));
    assert.deepEqual(back, message);
    assert.equal(end, encodeMessage(message).length);
    const bare = createMessage('x', Buffer.alloc(0), 0, false, undefined, undefined, 0);
    assert.deepEqual(decodeMessage(encodeMessage(bare)).message, bare);
  });

  test('frames carry the subscribers flag and the shared groups chosen, in order', () => {
    const one = createMessage('t/1', Buffer.from('one'), 1, false, undefined, 'p', 0);
    const two = createMessage('t/2', Buffer.from('two'), 0, false, undefined, undefined, 0);
    const batch = Buffer.concat([
      ...encodeFrame(true, [], encodeMessage(one)),
      ...encodeFrame(
        false,
        [
          { group: 'g', filter: 't/+' },
          { group: 'h', filter: '#' },
        ],
        encodeMessage(two),
      ),
    ]);
    const frames = [...decodeFrames(batch)];
    assert.equal(frames.length, 2);
    assert.deepEqual(frames[0]?.target, { subscribers: true, shared: [] });
    assert.deepEqual(frames[0]?.message, one);
    assert.deepEqual(frames[1]?.target, {
      subscribers: false,
      shared: [
        { group: 'g', filter: 't/+' },
        { group: 'h', filter: '#' },
      ],
    });
    assert.deepEqual(frames[1]?.message, two);
  });

  test('a one-buffer subscribers frame is the same bytes as header and message apart (multi-byte topic and origin)', () => {
    const message = createMessage(
      'Zürich/größe',
      Buffer.from('payload'),
      1,
      true,
      { contentType: 'x' },
      'clïent',
      5,
    );
    const single = encodeSubscribersFrame(message);
    assert.deepEqual(single, Buffer.concat(encodeFrame(true, [], encodeMessage(message))));
    const frames = [...decodeFrames(Buffer.concat([single, single]))];
    assert.equal(frames.length, 2);
    assert.deepEqual(frames[1]?.message, message);
  });

  test('a frame batch writes frames in place, grows past its first buffer, and starts empty after take', () => {
    const batch = new FrameBatch();
    assert.equal(batch.empty, true);
    assert.equal(batch.take().length, 0);
    const messages = Array.from({ length: 300 }, (_, i) =>
      createMessage(
        `t/${i}`,
        Buffer.alloc(i % 50, i),
        1,
        i % 2 === 0,
        undefined,
        i % 3 === 0 ? 'p' : undefined,
        0,
      ),
    );
    const shared = [{ group: 'g', filter: 't/+' }];
    const expected: Buffer[] = [];
    for (const [i, message] of messages.entries()) {
      if (i % 10 === 9) {
        const [header, body] = encodeFrame(false, shared, encodeMessage(message));
        batch.add(header as Buffer, body);
        expected.push(header as Buffer, body as Buffer);
      } else {
        batch.addSubscribers(message);
        expected.push(encodeSubscribersFrame(message));
      }
    }
    assert.equal(batch.frames, 300);
    const taken = batch.take();
    assert.ok(taken.length > 2048, 'more than the first buffer holds');
    assert.deepEqual(taken, Buffer.concat(expected));
    assert.equal(batch.empty, true);
    assert.equal(batch.frames, 0);
    // The taken bytes are the caller's: the next frames go elsewhere.
    const copy = Buffer.from(taken);
    batch.addSubscribers(messages[0] as Message);
    assert.deepEqual(taken, copy);
    const frames: { message: Message; target: RemoteTarget }[] = [];
    visitFrames(taken, (message, target) => frames.push({ message, target }));
    assert.equal(frames.length, 300);
    assert.equal(frames[0]?.target, SUBSCRIBERS_ONLY, 'subscribers only: the shared target');
    assert.deepEqual(frames[9]?.target, { subscribers: false, shared });
    assert.deepEqual(
      frames.map((f) => f.message),
      messages,
    );
  });

  test('a delivery keeps its QoS, retain flag and subscription identifiers', () => {
    const message = createMessage('d', Buffer.from('x'), 1, true, undefined, undefined, 0);
    const back = decodeDelivery(
      encodeDelivery({ message, qos: 1, retain: true, subscriptionIds: [7, 70000] }),
    );
    assert.deepEqual(back, { message, qos: 1, retain: true, subscriptionIds: [7, 70000] });
  });
});

describe('cluster route table', () => {
  const match = (table: RouteTable, topic: string): { nodes: string[]; groups: string[] } => {
    const out: MatchResult<string> = { subscribers: [], shared: [] };
    table.index.match(topic, out);
    return {
      nodes: [...new Set(out.subscribers.map((s) => s.clientId))].sort(),
      groups: out.shared.map((g) => `${g.group}:${[...g.members.keys()].sort().join(',')}`),
    };
  };

  test('local routes are announced on the first subscriber and withdrawn after the last', () => {
    const table = new RouteTable('me');
    assert.equal(table.addLocal('a/#', 'c1'), true);
    assert.equal(table.addLocal('a/#', 'c2'), false);
    assert.equal(table.addLocal('a/#', 'c2'), false, 'the same client again');
    assert.equal(table.removeLocal('a/#', 'c1'), false);
    assert.equal(table.removeLocal('a/#', 'c2'), true);
    assert.equal(table.removeLocal('a/#', 'c2'), false);
    assert.equal(table.hasRemote, false);
  });

  test('remote routes and shared groups match by topic; a node gone takes its routes along', () => {
    const table = new RouteTable('me');
    table.addLocal('$share/g/jobs/+', 'w1');
    table.setRemote('n1', 'jobs/#', true);
    table.setRemote('n2', '$share/g/jobs/+', true);
    table.setRemote('n2', 'other', true);
    assert.deepEqual(match(table, 'jobs/1'), { nodes: ['n1'], groups: ['g:me,n2'] });
    table.dropNode('n2');
    assert.deepEqual(match(table, 'jobs/1'), { nodes: ['n1'], groups: ['g:me'] });
    table.replaceRemote(
      new Map([
        ['n3', ['jobs/1']],
        ['me', ['ignored']],
      ]),
    );
    assert.deepEqual(match(table, 'jobs/1'), { nodes: ['n3'], groups: ['g:me'] });
    assert.equal(table.routesOf('n1'), 0, 'a node missing from the snapshot is dropped');
  });
});

describe('Redis store ownership', () => {
  let redis: RedisServer;
  let x: RedisBackend;
  let y: RedisBackend;
  let raw: Redis;

  before(async () => {
    redis = await startRedis();
    raw = new Redis(redis.url);
    x = new RedisBackend({ url: redis.url, nodeId: 'x', keyPrefix: 'f:' }, logger);
    y = new RedisBackend({ url: redis.url, nodeId: 'y', keyPrefix: 'f:' }, logger);
    for (const backend of [x, y]) {
      await backend.connect();
      await backend.join(events, idleNodeInfo);
    }
  });

  after(async () => {
    await x.close();
    await y.close();
    raw.disconnect();
    await redis.stop();
  });

  test('the node that lost a session cannot write it; its late delivery goes to the new owner', async () => {
    const session = {
      clientId: 'c1',
      expiryInterval: 300,
      protocolVersion: 5 as const,
      username: undefined,
      connected: true,
      disconnectedAt: 0,
      will: undefined,
      willDueAt: undefined,
    };
    const sub = {
      key: 'f/#',
      qos: 1 as const,
      noLocal: false,
      retainAsPublished: false,
      retainHandling: 0 as const,
      subscriptionId: undefined,
    };
    assert.equal(await x.store.claimSession('c1', false), undefined, 'a new session: nothing to resume');
    x.store.saveSession(session);
    x.store.saveSubscription('c1', sub);
    await x.store.commit();

    const moved = await y.store.claimSession('c1', false);
    assert.deepEqual(moved?.subscriptions, [sub], 'y gets what x stored');
    assert.ok(y.store.epochOf('c1') > x.store.epochOf('c1'));
    assert.equal(await raw.sismember('f:r:y', 'f/#'), 1, 'the subscription is a route of y at once');
    const notice = await raw.xrange('f:in:x', '-', '+');
    assert.deepEqual(notice.at(-1)?.[1].slice(0, 2), ['e', 'c1'], 'x is told to let go');

    const message = createMessage('f/late', Buffer.from('late'), 1, false, undefined, undefined, 0);
    x.store.saveSubscription('c1', { ...sub, key: 'sneaky/#' });
    x.store.saveDelivery('c1', {
      seq: 1,
      message,
      qos: 1,
      retain: false,
      subscriptionIds: undefined,
      packetId: 0,
      state: 'queued',
    });
    const skipped: string[] = [];
    x.store.onSkipped = (clients) => skipped.push(...clients);
    await x.store.commit();
    assert.deepEqual([...new Set(skipped)], ['c1']);
    const fields = await raw.hkeys('f:s:c1');
    assert.deepEqual(fields.sort(), ['session', 'sub:f/#'], 'nothing of x landed');
    const handed = await raw.xrangeBuffer('f:in:y', '-', '+');
    const last = handed.at(-1)?.[1] ?? [];
    assert.equal(last[0]?.toString(), 'h');
    assert.equal(last[1]?.toString(), 'c1');
    assert.deepEqual(decodeDelivery(last[3] as Buffer).message, message, 'the delivery went on to y');
  });

  test('a clean start discards the stored session; a release lets go only of what is still ours', async () => {
    await x.store.claimSession('c2', false);
    x.store.saveSession({
      clientId: 'c2',
      expiryInterval: 60,
      protocolVersion: 4,
      username: undefined,
      connected: true,
      disconnectedAt: 0,
      will: undefined,
      willDueAt: undefined,
    });
    await x.store.commit();
    const state = await y.store.claimSession('c2', true);
    assert.equal(state?.session.clientId, 'c2', 'returned so the engine can end it (its will)');
    assert.equal(await raw.exists('f:s:c2'), 0, 'deleted in Redis');
    x.store.release('c2');
    await x.store.commit();
    assert.match((await raw.get('f:o:c2')) ?? '', /^y\|/, 'x cannot release what y owns');
    y.store.release('c2');
    await y.store.commit();
    assert.equal(await raw.exists('f:o:c2'), 0);
    assert.equal(await raw.sismember('f:own:y', 'c2'), 0);
  });
});

describe('Redis inbox appends', () => {
  let redis: RedisServer;
  let raw: Redis;
  const backends: RedisBackend[] = [];
  async function node(nodeId: string, heartbeatMs = 1000): Promise<RedisBackend> {
    const backend = new RedisBackend(
      { url: redis.url, nodeId, keyPrefix: 'i:', heartbeatMs, nodeTimeoutMs: heartbeatMs * 5 },
      logger,
    );
    backends.push(backend);
    await backend.connect();
    await backend.join(events, idleNodeInfo);
    return backend;
  }
  /** Queue one message for `to`'s inbox on `from`'s store. */
  function append(from: RedisBackend, to: string, text: string): void {
    const message = createMessage('t', Buffer.from(text), 1, false, undefined, undefined, 0);
    from.store.inboxFrames(to).addSubscribers(message);
  }
  async function inbox(nodeId: string): Promise<string[]> {
    const entries = await raw.xrangeBuffer(`i:in:${nodeId}`, '-', '+');
    return entries.flatMap(([, fields]) =>
      [...decodeFrames(fields[1] as Buffer)].map((f) => f.message.payload.toString()),
    );
  }

  before(async () => {
    redis = await startRedis();
    raw = new Redis(redis.url);
  });

  after(async () => {
    for (const backend of backends) await backend.close();
    raw.disconnect();
    await redis.stop();
  });

  test('a node joining has an empty inbox at once; appends (plain XADDs) reach it with a checkpoint', async () => {
    const a = await node('a');
    const b = await node('b');
    assert.equal(await raw.exists('i:in:a'), 1, 'created by the join');
    assert.equal(await raw.xlen('i:in:a'), 0, 'empty');
    append(b, 'a', 'one');
    await b.store.commit();
    append(b, 'a', 'two');
    b.store.checkpoint('0-1');
    await b.store.commit();
    assert.deepEqual(await inbox('a'), ['one', 'two']);
    assert.equal(await raw.get('i:cp:b'), '0-1', 'the checkpoint went with the append');
    await a.close();
    await b.close();
  });

  test('an append to a node taken over is refused: its inbox is not created again', async () => {
    const c = await node('c');
    const d = await node('d');
    const gone: string[] = [];
    d.store.onSkipped = (_clients, nodes) => gone.push(...nodes);
    append(d, 'c', 'before');
    await d.store.commit();
    assert.deepEqual(await inbox('c'), ['before']);
    await d.forgetNode('c');
    assert.equal(await raw.exists('i:in:c'), 0, 'the take-over deleted the inbox');
    append(d, 'c', 'late');
    await d.store.commit();
    assert.equal(await raw.exists('i:in:c'), 0, 'not created again by the late append');
    assert.deepEqual(gone, ['c'], 'the append is reported as to a node gone');
    // With a route change in the same commit it goes through the script: refused the same way.
    append(d, 'c', 'late too');
    d.store.addRoute('r/#');
    await d.store.commit();
    assert.equal(await raw.exists('i:in:c'), 0);
    assert.deepEqual(gone, ['c', 'c']);
    await c.close();
    await d.close();
  });

  test('after Redis lost its data, a node heartbeat opens its inbox again', async () => {
    const e = await node('e', 100);
    const f = await node('f', 100);
    const gone: string[] = [];
    f.store.onSkipped = (_clients, nodes) => gone.push(...nodes);
    await raw.flushall();
    append(f, 'e', 'lost');
    await f.store.commit();
    assert.deepEqual(gone, ['e'], 'no inbox (and no registration) until the heartbeat');
    const deadline = Date.now() + 5000;
    while ((await raw.exists('i:in:e')) === 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));
    append(f, 'e', 'kept');
    await f.store.commit();
    assert.deepEqual(await inbox('e'), ['kept']);
    await e.close();
    await f.close();
  });
});
