/**
 * Sessions are cluster-wide: a persistent session moves from node A to node B with its subscriptions and
 * queued messages (each delivered once); a client connecting to B while connected to A takes the session
 * over (A closes the old connection with 0x8E); node A then writes nothing more for it.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { clusterOf, engineOf, type Node, routeKnown, threeNodes, until } from './cluster-harness.js';

describe('cluster sessions', () => {
  const cluster = threeNodes('sessions:');
  const client = cluster.client;
  let nodes: Node[] = [];
  let a: Node;
  let b: Node;
  let c: Node;
  before(() => {
    nodes = cluster.nodes;
    [a, b, c] = cluster.nodes;
  });

  test('a persistent session moves from A to B: subscriptions and queued messages, each delivered once', async () => {
    const persistent = { clientId: 'mover', clean: false, protocolVersion: 5 as const };
    const first = await client(a, { ...persistent, properties: { sessionExpiryInterval: 300 } });
    await first.subscribe('moving/#', 1);
    await routeKnown(nodes, a, 'moving/#');
    await first.end();
    await until(() => engineOf(a.broker).sessions.get('mover')?.link === undefined, 'the client gone from A');
    const pub = await client(c, { clientId: 'mover-pub' });
    for (let i = 0; i < 10; i++) await pub.publish(`moving/${i}`, `queued-${i}`, 1);
    await until(() => (engineOf(a.broker).sessions.get('mover')?.queuedCount ?? 0) === 10, '10 queued on A');

    const second = await client(b, { ...persistent, properties: { sessionExpiryInterval: 300 } });
    assert.equal(second.mqtt.connected, true);
    // A loaded machine (the whole suite at once) has taken over 5 s here once; what came is in the message.
    await until(() => second.received.length >= 10, 'the queued messages on B', 15_000).catch(
      (err: Error) => {
        throw new Error(`${err.message}; got ${JSON.stringify(second.payloads())}`);
      },
    );
    // Published after the move (once C knows the route B took with the session): reaches the client on B.
    await routeKnown(nodes, b, 'moving/#');
    await pub.publish('moving/after', 'after-move', 1);
    await until(() => second.received.length >= 11, 'the message published after the move');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(second.payloads(), [
      ...Array.from({ length: 10 }, (_, i) => `queued-${i}`),
      'after-move',
    ]);
    assert.equal(engineOf(a.broker).sessions.has('mover'), false, 'A forgot its copy');
    assert.equal(engineOf(b.broker).sessions.get('mover')?.subscriptions.has('moving/#'), true);
    assert.equal(clusterOf(a.broker)?.stats.evictions, 1);
  });

  test('connecting on B while connected on A: A disconnects the old connection with 0x8E', async () => {
    const v5 = {
      clientId: 'twice',
      protocolVersion: 5 as const,
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    };
    const onA = await client(a, v5);
    await onA.subscribe('twice/#', 1);
    const reason = new Promise<number | undefined>((resolve) => {
      onA.mqtt.once('disconnect', (packet) => resolve(packet.reasonCode));
    });
    const onB = await client(b, v5);
    assert.equal(await reason, 0x8e, 'DISCONNECT Session taken over');
    await until(() => !engineOf(a.broker).sessions.has('twice'), 'A forgot the session');
    await routeKnown(nodes, b, 'twice/#');
    const pub = await client(c, { clientId: 'twice-pub' });
    await pub.publish('twice/x', 'to-b', 1);
    await until(() => onB.received.length === 1, 'the message on B');
    assert.deepEqual(onB.payloads(), ['to-b']);
    assert.equal(onA.received.length, 0);
  });

  test('a clean start on B discards the session A held', async () => {
    const first = await client(a, { clientId: 'fresh', clean: false, protocolVersion: 4 });
    await first.subscribe('fresh/#', 1);
    await first.end();
    await until(() => engineOf(a.broker).sessions.get('fresh')?.link === undefined, 'offline on A');
    const second = await client(b, { clientId: 'fresh', clean: true, protocolVersion: 4 });
    assert.equal(second.mqtt.connected, true);
    await until(() => !engineOf(a.broker).sessions.has('fresh'), 'A forgot the session');
    const held = engineOf(b.broker).sessions.get('fresh');
    assert.equal(held?.subscriptions.size, 0, 'no subscription survived the clean start');
  });
});
