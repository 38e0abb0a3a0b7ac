/**
 * A connection that ends while its CONNECT is taking the session over (the claim is a Redis round trip;
 * `CLIENT PAUSE` makes it long here). Found with the fuzz as a cluster node, where ~5 % of sessions left
 * `o:<client>` keys and `own:<node>` members behind until the node restarted:
 * - closed before the claim's answer (the connect timeout here): the node must not keep an ownership with
 *   nothing to hold, and a persistent session the claim took from another node must be kept, offline;
 * - closed after it: the previous owner's last deliveries, fenced in Redis, come as hand-overs that can
 *   reach the inbox before the claim's answer; they must reach the session, not be dropped.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { encode } from '../../src/packets/encode.js';
import type { ConnectPacket } from '../../src/packets/types.js';
import { engineOf, type Node, routeKnown, threeNodes, until } from './cluster-harness.js';

const PREFIX = 'abandon:';
/** How long Redis holds commands (`CLIENT PAUSE`) while clients connect and leave. */
const PAUSE_MS = 400;
/** Node d closes a connection whose CONNECT is not answered within this; Redis is then paused longer. */
const SHORT_CONNECT_TIMEOUT_MS = 200;
const LONG_PAUSE_MS = 1500;

/** A v5 CONNECT for a persistent session (expiry 300 s). */
const persistentConnect = (clientId: string): Omit<ConnectPacket, 'type' | 'protocolName'> => ({
  protocolVersion: 5,
  clean: false,
  keepalive: 30,
  clientId,
  properties: { sessionExpiryInterval: 300 },
});

/** Write a CONNECT, then end the connection once the node closes it or once it was written. */
async function connectAndLeave(
  node: Node,
  packet: Omit<ConnectPacket, 'type' | 'protocolName'>,
): Promise<void> {
  const bytes = encode({ type: 'connect', protocolName: 'MQTT', ...packet }, packet.protocolVersion);
  await new Promise<void>((resolve, reject) => {
    const socket = net.connect(node.port, '127.0.0.1', () => {
      socket.end(bytes);
      socket.destroySoon();
    });
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
}

/** Write a CONNECT and keep the connection until the node closes it. */
async function connectUntilClosed(
  node: Node,
  packet: Omit<ConnectPacket, 'type' | 'protocolName'>,
): Promise<void> {
  const bytes = encode({ type: 'connect', protocolName: 'MQTT', ...packet }, packet.protocolVersion);
  await new Promise<void>((resolve) => {
    const socket = net.connect(node.port, '127.0.0.1', () => socket.write(bytes));
    socket.on('close', () => resolve());
    socket.on('error', () => undefined);
  });
}

describe('cluster: a client gone during its session take-over', () => {
  const cluster = threeNodes(PREFIX);
  const client = cluster.client;
  let nodes: Node[] = [];
  let a: Node;
  let b: Node;
  let c: Node;
  let d: Node;
  let redis: Redis;
  before(async () => {
    nodes = cluster.nodes;
    [a, b, c] = cluster.nodes;
    d = await cluster.extraNode('d', { connectTimeoutMs: SHORT_CONNECT_TIMEOUT_MS });
    // No reconnecting: the suite's Redis stops in its own `after`.
    redis = new Redis(cluster.redisUrl(), { lazyConnect: true, retryStrategy: () => null });
    await redis.connect();
  });
  after(() => redis.disconnect());

  /** A persistent session on A with three QoS 1 messages queued for it. */
  async function queuedOnA(clientId: string): Promise<void> {
    const first = await client(a, {
      clientId,
      clean: false,
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 300 },
    });
    await first.subscribe(`${clientId}/#`, 1);
    await routeKnown(nodes, a, `${clientId}/#`);
    await first.end();
    await until(() => engineOf(a.broker).sessions.get(clientId)?.link === undefined, 'offline on A');
    const pub = await client(c, { clientId: `${clientId}-pub` });
    for (let i = 0; i < 3; i++) await pub.publish(`${clientId}/${i}`, `queued-${i}`, 1);
    await until(() => (engineOf(a.broker).sessions.get(clientId)?.queuedCount ?? 0) === 3, '3 queued on A');
  }

  /** The client comes back on `node`: Session Present, and the three messages, once each. */
  async function resumesOn(node: Node, clientId: string): Promise<void> {
    await until(() => !engineOf(a.broker).sessions.has(clientId), 'A gave the session up');
    await until(() => engineOf(node.broker).sessions.has(clientId), `${node.id} holds the session`);
    const back = await client(node, {
      clientId,
      clean: false,
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 300 },
    });
    assert.equal(back.sessionPresent, true, 'Session Present');
    await until(() => back.received.length >= 3, `the queued messages on ${node.id}`).catch((err: Error) => {
      throw new Error(`${err.message}; got ${JSON.stringify(back.payloads())}`);
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(back.payloads(), ['queued-0', 'queued-1', 'queued-2']);
    assert.equal(
      (await redis.get(`${PREFIX}o:${clientId}`))?.split('|')[0],
      node.id,
      'owned where it is held',
    );
  }

  test('closed before the claim is answered: no ownership left behind (no o:<client>, no own:<node> member)', async () => {
    const ids = Array.from({ length: 10 }, (_, i) => `early-${i}`);
    await redis.call('CLIENT', 'PAUSE', String(LONG_PAUSE_MS), 'ALL');
    await Promise.all(
      ids.map((clientId, i) =>
        connectUntilClosed(d, { protocolVersion: i % 2 === 0 ? 4 : 5, clean: true, keepalive: 30, clientId }),
      ),
    );
    let owners = ids.length;
    await until(
      () => owners === 0,
      'every ownership let go',
      LONG_PAUSE_MS + 5000,
      async () => {
        owners = await redis.exists(...ids.map((id) => `${PREFIX}o:${id}`));
      },
    ).catch(async (err: Error) => {
      const left = (await redis.smembers(`${PREFIX}own:d`)).filter((id) => id.startsWith('early-'));
      throw new Error(`${err.message}; still owned by d: ${left.join(', ')}`);
    });
    const owned = await redis.smembers(`${PREFIX}own:d`);
    assert.deepEqual(
      owned.filter((id) => id.startsWith('early-')),
      [],
    );
    for (const id of ids) assert.equal(engineOf(d.broker).sessions.has(id), false);
  });

  test('closed before the claim is answered: a session taken from another node is kept, queued messages and all', async () => {
    await queuedOnA('half-closed');
    await redis.call('CLIENT', 'PAUSE', String(LONG_PAUSE_MS), 'ALL');
    await connectUntilClosed(d, persistentConnect('half-closed'));
    await resumesOn(d, 'half-closed');
  });

  test('closed after the claim: the fenced deliveries handed over reach the session', async () => {
    await queuedOnA('half-ended');
    await redis.call('CLIENT', 'PAUSE', String(PAUSE_MS), 'ALL');
    await connectAndLeave(b, persistentConnect('half-ended'));
    await resumesOn(b, 'half-ended');
  });
});
