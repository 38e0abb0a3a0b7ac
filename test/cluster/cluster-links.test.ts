/**
 * The nodes' direct links: only a node of the cluster may open one (it proves the secret kept in Redis
 * against a fresh challenge, for the node id the link is meant for); QoS 1/2 copies sent ahead over them are delivered once, in order, while links break and
 * come back mid-stream and the messages switch between the link and the Redis inbox.
 */
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { createMessage } from '../../src/broker/message.js';
import type { NodeInfo } from '../../src/cluster/backend.js';
import { encodeSubscribersFrame } from '../../src/cluster/frames.js';
import { parseLinkAddress } from '../../src/cluster/node-links.js';
import {
  clusterOf,
  linkFrame as frame,
  type Node,
  routeKnown,
  type ThreeNodes,
  threeNodes,
  until,
} from './cluster-harness.js';

/** The link address of `node`, to connect to. */
function linkOf(node: Node): { host: string; port: number } {
  const address = clusterOf(node.broker)?.links?.address;
  assert.ok(address !== undefined, 'the node listens for links');
  return parseLinkAddress(address);
}

/** The first frame that arrives on `socket` (its type and body). */
function firstFrame(socket: Socket): Promise<{ type: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    let bytes = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      bytes = Buffer.concat([bytes, chunk]);
      if (bytes.length < 4 || bytes.length < 4 + bytes.readUInt32BE(0)) return;
      socket.off('data', onData);
      const length = bytes.readUInt32BE(0);
      resolve({ type: bytes[4] as number, body: bytes.subarray(5, 4 + length) });
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error('closed before a whole frame')));
  });
}

/**
 * The handshake as docs/cluster.md states it, written here from that text (not with the node's code): the
 * HELLO of `from` to `to` answering `challenge`, and the WELCOME body that proves the listener knows `secret`.
 */
function handshake(
  secret: string,
  challenge: Buffer,
  from: string,
  to: string,
): { hello: Buffer; welcome: string } {
  const nonce = randomBytes(16).toString('hex');
  const mac = (role: string): string =>
    createHmac('sha256', secret)
      .update(`${role}\n${challenge.toString('hex')}\n${nonce}\n${from}\n${to}`)
      .digest('hex');
  return { hello: frame(1, `${from}\n${to}\n${nonce}\n${mac('hello')}`), welcome: mac('welcome') };
}

/**
 * Open a raw connection to `node`'s link, take its challenge, send `answer(challenge)`; the challenge, what
 * came back after it, and whether the node closed the connection.
 */
async function tryLink(
  node: Node,
  answer: (challenge: Buffer) => Buffer,
): Promise<{ challenge: Buffer; reply: Buffer; closed: boolean }> {
  const socket: Socket = netConnect(linkOf(node));
  socket.on('error', () => undefined);
  const first = await firstFrame(socket);
  assert.equal(first.type, 5, 'the listener speaks first: CHALLENGE');
  assert.equal(first.body.length, 16, '16 random bytes');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const closed = new Promise<boolean>((resolve) => {
    socket.once('close', () => resolve(true));
    setTimeout(() => resolve(false), 1500).unref();
  });
  socket.write(answer(first.body));
  const wasClosed = await closed;
  socket.destroy();
  return { challenge: first.body, reply: Buffer.concat(chunks), closed: wasClosed };
}

/** The cluster's link secret, as the nodes keep it in Redis. */
async function readSecret(url: string): Promise<string> {
  const raw = new Redis(url);
  try {
    const secret = await raw.get('links:link-secret');
    assert.ok(secret !== null && secret.length >= 16, 'the cluster made a secret');
    return secret;
  } finally {
    raw.disconnect();
  }
}

/** A connection to `node`'s link, welcomed as node `from`; `closed` settles when the node closes it. */
async function openLink(
  node: Node,
  secret: string,
  from: string,
): Promise<{ socket: Socket; closed: Promise<void> }> {
  const socket = netConnect(linkOf(node));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const challenge = await firstFrame(socket);
  const { hello, welcome } = handshake(secret, challenge.body, from, node.id);
  socket.write(hello);
  const answer = await firstFrame(socket);
  assert.deepEqual([answer.type, answer.body.toString()], [2, welcome], 'WELCOME, with its proof');
  return { socket, closed };
}

/** `count` QoS 1 messages from a client on `from` reach a subscriber on `to` (the nodes took no harm). */
async function stillCrosses(
  cluster: ThreeNodes,
  from: Node,
  to: Node,
  tag: string,
  count: number,
): Promise<void> {
  const sub = await cluster.client(to, { clientId: `${tag}-sub` });
  await sub.subscribe(`${tag}/#`, 1);
  await routeKnown(cluster.nodes, to, `${tag}/#`);
  const pub = await cluster.client(from, { clientId: `${tag}-pub` });
  for (let i = 0; i < count; i++) await pub.publish(`${tag}/x`, `${tag}${i}`, 1);
  await until(() => sub.received.length === count, `${count} messages across (${tag})`);
}

describe('cluster direct links', () => {
  const cluster = threeNodes('links:');
  const client = cluster.client;

  test('a connection that is not a node of the cluster is closed; the links keep working', async () => {
    const [a, b] = cluster.nodes;
    const secret = await readSecret(cluster.redisUrl());
    const garbage = Buffer.from(Array.from({ length: 2048 }, (_, i) => (i * 37 + 11) & 0xff));
    // A HELLO recorded on one connection, replayed on another (which has its own challenge).
    let replayed: Buffer = Buffer.alloc(0);
    const recorded = await tryLink(a, (challenge) => {
      replayed = handshake(secret, challenge, 'visitor', a.id).hello;
      return replayed;
    });
    assert.equal(recorded.closed, false, 'a right HELLO is kept');
    for (const [what, answer] of [
      ['garbage', () => garbage],
      ['a wrong secret', (c: Buffer) => handshake('not-the-secret', c, 'intruder', a.id).hello],
      ['a HELLO meant for another node', (c: Buffer) => handshake(secret, c, 'intruder', b.id).hello],
      ['a HELLO for another challenge', () => replayed],
      ['the secret itself', () => frame(1, `${secret}\nintruder\n${a.id}`)],
      ['a QoS 0 frame before HELLO', () => frame(3, 'x')],
    ] as const) {
      const { reply, closed } = await tryLink(a, answer);
      assert.ok(closed, `${what}: closed`);
      assert.equal(reply.length, 0, `${what}: no answer after the challenge`);
    }
    // The right HELLO is welcomed, with the proof that the node knows the secret.
    let welcome = '';
    const { reply, closed } = await tryLink(a, (challenge) => {
      const made = handshake(secret, challenge, 'visitor', a.id);
      welcome = made.welcome;
      return made.hello;
    });
    assert.equal(closed, false, 'a node is kept');
    assert.deepEqual(reply, frame(2, welcome), 'WELCOME');
    // The node took no harm: messages still cross, over the link.
    await stillCrosses(cluster, b, a, 'calm', 5);
    assert.ok((clusterOf(b.broker)?.links?.framesSent ?? 0) > 0, 'B sent over its link');
  });

  test('links broken again and again mid-stream: QoS 1 and 2 arrive once each, in order', async () => {
    const [a, b] = cluster.nodes;
    const sub = await client(a, { clientId: 'steady', protocolVersion: 5 });
    await sub.subscribe('steady/#', 2);
    await routeKnown(cluster.nodes, a, 'steady/#');
    const pub = await client(b, { clientId: 'steady-pub', protocolVersion: 5 });
    const links = clusterOf(b.broker)?.links;
    assert.ok(links !== undefined);
    const early = () => clusterOf(a.broker)?.stats.earlyDelivered ?? 0;
    const earlyBefore = early();
    // Break B's link to A every 30 ms: the messages go through the inbox until B links again.
    let breaks = 0;
    const breaker = setInterval(() => {
      links.forget('a');
      breaks++;
    }, 30);
    // At least 600 messages, in rounds of 50, and on until the link was broken a few times (a fast machine
    // sends 600 in fewer than four breaks); bounded at 6 000.
    let count = 0;
    try {
      while ((count < 600 || breaks < 5) && count < 6000) {
        const acks: Promise<unknown>[] = [];
        for (let k = 0; k < 50; k++, count++)
          acks.push(pub.publish(`steady/q${(count % 2) + 1}`, `m-${count}`, ((count % 2) + 1) as 1 | 2));
        await Promise.all(acks);
      }
    } finally {
      clearInterval(breaker);
    }
    await until(() => sub.received.length >= count, 'every message at the subscriber', 10_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const payloads = sub.payloads();
    assert.equal(payloads.length, count, 'none twice');
    for (const qos of [1, 2]) {
      const got = sub.received.filter((m) => m.topic === `steady/q${qos}`).map((m) => m.payload);
      const want = Array.from({ length: count / 2 }, (_, j) => `m-${2 * j + qos - 1}`);
      assert.deepEqual(got, want, `QoS ${qos}: each once, in order`);
    }
    assert.ok(breaks >= 5, `the link was broken ${breaks} times`);
    assert.ok(early() > earlyBefore, 'some went ahead over the link between the breaks');
  });

  test('a copy is not delivered ahead of an earlier append still in Redis: the order holds', async () => {
    const [a, b] = cluster.nodes;
    const sub = await client(a, { clientId: 'ordered' });
    await sub.subscribe('order/#', 1);
    await routeKnown(cluster.nodes, a, 'order/#');
    const pub = await client(b, { clientId: 'order-pub' });
    const links = clusterOf(b.broker)?.links;
    const address = clusterOf(a.broker)?.links?.address;
    assert.ok(links !== undefined && address !== undefined);
    await pub.publish('order/x', 'warm', 1);
    await until(() => sub.received.length === 1, 'the first message');
    const raw = new Redis(cluster.redisUrl());
    try {
      // B has no link to A, and Redis holds every command for 3 s: the next appends wait in Redis.
      links.forget('a');
      await raw.call('CLIENT', 'PAUSE', '3000', 'ALL');
      let firstAcked = false;
      const acks = [
        pub.publish('order/x', 'first', 1).then(() => {
          firstAcked = true;
        }),
      ];
      await new Promise((resolve) => setTimeout(resolve, 20));
      // B links to A again (as its next look at the registry would) while those appends still wait.
      links.update([{ id: 'a', alive: true, info: { link: address } as NodeInfo }]);
      acks.push(pub.publish('order/x', 'second', 1));
      await until(() => links.ready('a'), 'B linked to A again', 2500);
      assert.equal(firstAcked, false, "'first' still waits in Redis");
      // This one's copy goes over the link at once; A must not deliver it before 'first' and 'second'.
      const sent = links.framesSent;
      acks.push(pub.publish('order/x', 'third', 1));
      await Promise.all(acks);
      assert.ok(links.framesSent > sent, "'third' went over the link");
    } finally {
      raw.disconnect();
    }
    await until(() => sub.received.length === 4, 'every message');
    assert.deepEqual(sub.payloads(), ['warm', 'first', 'second', 'third']);
  });

  test('a frame split anywhere is put together; a frame a node cannot handle closes its link only', async () => {
    const [a, b] = cluster.nodes;
    const sub = await client(a, { clientId: 'pieces' });
    await sub.subscribe('pieces/#', 0);
    const secret = await readSecret(cluster.redisUrl());
    const { socket, closed } = await openLink(a, secret, 'visitor');
    socket.setNoDelay(true);
    // A batch of one message, as a node frames it, sent in pieces: the length prefix split, then the rest.
    const message = createMessage(
      'pieces/x',
      Buffer.from('whole again'),
      0,
      false,
      undefined,
      'visitor',
      Date.now(),
    );
    const batch = encodeSubscribersFrame(message);
    const whole = frame(3, batch);
    for (const piece of [
      whole.subarray(0, 2),
      whole.subarray(2, 7),
      whole.subarray(7, 20),
      whole.subarray(20),
    ]) {
      socket.write(piece);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await until(() => sub.received.length === 1, 'the message put together');
    assert.deepEqual(sub.received[0], { topic: 'pieces/x', payload: 'whole again', qos: 0, retain: false });
    // A frame of a type no node sends: the link is closed, the node goes on.
    socket.write(frame(9, 'what is this'));
    await closed;
    const pub = await client(b, { clientId: 'pieces-pub' });
    await routeKnown(cluster.nodes, a, 'pieces/#');
    await pub.publish('pieces/y', 'still here', 1);
    await until(() => sub.received.length === 2, 'cross-node after the bad frame');
  });

  test('random frames from a linked peer: the node never crashes, and goes on linking and delivering', async () => {
    const [a, b] = cluster.nodes;
    const secret = await readSecret(cluster.redisUrl());
    // A valid batch frame to mutate: the bytes a node sends, then flipped, cut and lengthened at random.
    const message = createMessage('fuzz/x', Buffer.from('seed'), 1, false, undefined, 'fz', Date.now());
    const seed = encodeSubscribersFrame(message);
    const bodies = fc.sample(
      fc.oneof(
        fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
        fc
          .tuple(
            fc.nat({ max: seed.length - 1 }),
            fc.integer({ min: 0, max: 255 }),
            fc.nat({ max: seed.length }),
          )
          .map(([at, value, cut]) => {
            const copy = Buffer.from(seed);
            copy[at] = value;
            return copy.subarray(0, Math.max(cut, 1));
          }),
      ),
      { numRuns: 300, seed: 20261207 },
    );
    // Mutations that leave a frame whole deliver it: someone listens.
    const listener = await client(a, { clientId: 'fuzz-listener' });
    await listener.subscribe('#', 0);
    const framesBefore = clusterOf(a.broker)?.links?.framesReceived ?? 0;
    let sent = 0;
    for (const [i, body] of bodies.entries()) {
      // One authenticated connection per frame (a bad frame closes its connection).
      const { socket, closed } = await openLink(a, secret, 'fuzzer');
      // QoS 0 batches and inbox copies in turn; an INBOX body starts with its stamp and the previous stamp.
      socket.end(
        i % 2 === 0 ? frame(3, body) : frame(4, Buffer.concat([Buffer.from([0, 2, 0x66, 0x31, 0, 0]), body])),
      );
      sent++;
      await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 200))]);
      socket.destroy();
    }
    assert.equal(sent, bodies.length);
    const handled = (clusterOf(a.broker)?.links?.framesReceived ?? 0) - framesBefore;
    assert.equal(handled, bodies.length, 'every frame handled (after HELLO, whatever it holds)');
    await until(() => listener.received.length > 0, 'some fuzzed frames delivered');
    // The node is alive, its links work, and messages still cross.
    await stillCrosses(cluster, b, a, 'calm-again', 3);
  });
});
