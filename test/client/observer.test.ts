/**
 * The public `onPacket` observer of the client, against an in-process Starling broker.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ClientEvent, connect, type PacketDirection } from '../../src/client/index.js';
import { Broker } from '../../src/index.js';
import type { Packet } from '../../src/packets/types.js';

/** A packet as the observer saw it: direction, type, and the fields a test checks. */
interface Seen {
  direction: PacketDirection;
  type: Packet['type'];
  topic?: string;
  payload?: string;
  qos?: number;
  packetId?: number;
}

function summary(direction: PacketDirection, packet: Packet): Seen {
  const seen: Seen = { direction, type: packet.type };
  // Read at call time: the client reuses the object of QoS 0 publishes.
  if (packet.type === 'publish') {
    seen.topic = packet.topic;
    seen.payload = packet.payload.toString();
    seen.qos = packet.qos;
  }
  if ('packetId' in packet && typeof packet.packetId === 'number') seen.packetId = packet.packetId;
  return seen;
}

describe('client onPacket observer', () => {
  let broker: Broker;
  let url: string;

  before(async () => {
    broker = new Broker({ listeners: [] });
    await broker.start();
    const address = await broker.listen({ host: '127.0.0.1', port: 0 });
    url = `mqtt://127.0.0.1:${address.port}`;
  });

  after(() => broker.close());

  for (const protocolVersion of [4, 5] as const) {
    it(`sees CONNECT, CONNACK, PUBLISH and PUBACK in wire order (v${protocolVersion})`, async (t) => {
      const seen: Seen[] = [];
      const client = await connect(url, {
        protocolVersion,
        reconnect: false,
        onPacket: (direction, packet) => seen.push(summary(direction, packet)),
      });
      t.after(() => client.end());
      assert.deepEqual(
        seen.map((s) => [s.direction, s.type]),
        [
          ['out', 'connect'],
          ['in', 'connack'],
        ],
      );
      await client.publish('observer/q1', 'one', { qos: 1 });
      await client.publish('observer/q0', 'zero');
      const rest = seen.slice(2);
      assert.deepEqual(rest.slice(0, 2), [
        { direction: 'out', type: 'publish', topic: 'observer/q1', payload: 'one', qos: 1, packetId: 1 },
        { direction: 'in', type: 'puback', packetId: 1 },
      ]);
      assert.deepEqual(rest[2], {
        direction: 'out',
        type: 'publish',
        topic: 'observer/q0',
        payload: 'zero',
        qos: 0,
      });
      await client.end();
      assert.deepEqual(seen.at(-1), { direction: 'out', type: 'disconnect' });
    });
  }

  it('reports an inbound PUBLISH before the PUBACK the client answers it with', async (t) => {
    const seen: Seen[] = [];
    const client = await connect(url, {
      reconnect: false,
      onPacket: (direction, packet) => seen.push(summary(direction, packet)),
    });
    t.after(() => client.end());
    const subscription = await client.subscribe('observer/echo', { qos: 1 });
    await client.publish('observer/echo', 'back', { qos: 1 });
    const iterator = subscription[Symbol.asyncIterator]();
    const message = await iterator.next();
    assert.equal(message.done, false);
    const inbound = seen.findIndex((s) => s.direction === 'in' && s.type === 'publish');
    assert.ok(inbound > 0, 'the inbound PUBLISH was observed');
    const { packetId } = seen[inbound] as Seen;
    assert.equal(seen[inbound]?.payload, 'back');
    const answer = seen.findIndex((s) => s.direction === 'out' && s.type === 'puback');
    assert.ok(answer > inbound, 'PUBACK after the PUBLISH it acknowledges');
    assert.equal(seen[answer]?.packetId, packetId);
    assert.ok(
      seen.findIndex((s) => s.type === 'suback') < inbound,
      'the SUBACK is observed before the message',
    );
  });

  it('reports a throwing observer as an error event and keeps the client working', async (t) => {
    let calls = 0;
    const client = await connect(url, {
      reconnect: false,
      onPacket: (direction, packet) => {
        calls++;
        if (direction === 'out' && packet.type === 'publish') throw new Error('observer failed');
      },
    });
    t.after(() => client.end());
    const errors: ClientEvent[] = [];
    client.onEvent((event) => {
      if (event.type === 'error') errors.push(event);
    });
    await client.publish('observer/throws', 'x', { qos: 1 });
    assert.equal(client.status, 'connected');
    assert.equal(errors.length, 1);
    const [event] = errors;
    assert.ok(event?.type === 'error' && event.error.message === 'observer failed');
    assert.ok(calls >= 4, 'CONNECT, CONNACK, PUBLISH and PUBACK observed');
  });
});
