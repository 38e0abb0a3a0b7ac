/**
 * Hooks on the fan-out path are isolated: one that throws for one subscriber costs that subscriber its copy,
 * never the publisher's acknowledgement or the other subscribers'. Every message, whatever its origin, goes
 * through the one publish pipeline that `onPublished` observes, and each storage event is reported once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Broker, ClientInfo, Message } from '../../src/index.js';
import { engineOf } from '../../src/server/broker.js';
import { brokerPerTest, collect, waitFor } from './helpers.js';

describe('hook isolation and the one publish pipeline', () => {
  let broker: Broker;
  const connect = brokerPerTest((b) => {
    broker = b;
  });

  it('an encode hook that throws for one subscriber: the publisher is acknowledged, the others served', async () => {
    await broker.addHook({
      onPacketEncode: (client, packet) => {
        if (client.clientId === 'victim' && packet.type === 'publish') throw new Error('broken hook');
        return packet;
      },
    });
    const victim = await connect('victim');
    const fine = await connect('fine');
    await victim.subscribeAsync('fan/#', { qos: 1 });
    await fine.subscribeAsync('fan/#', { qos: 1 });
    const victimGot = collect(victim);
    const fineGot = collect(fine);
    const pub = await connect('pub');
    await pub.publishAsync('fan/1', 'x', { qos: 1 });
    await pub.publishAsync('fan/2', 'y', { qos: 0 });
    await waitFor(() => fineGot.length === 2, 'the healthy subscriber got both');
    assert.equal(victimGot.length, 0);
    const stats = engineOf(broker).stats;
    assert.equal(stats.dropped['encode-hook'], 2);
    assert.equal(stats.hookErrors.onPacketEncode, 2);
    assert.equal(pub.connected, true, 'the publisher was not disconnected');
  });

  it('notification hooks that throw on the fan-out path are counted and the flow goes on', async () => {
    await broker.addHook({
      onQosPublish: () => {
        throw new Error('qos publish');
      },
      onPublished: () => {
        throw new Error('published');
      },
    });
    const sub = await connect('s');
    await sub.subscribeAsync('n/#', { qos: 1 });
    const got = collect(sub);
    const pub = await connect('p');
    await pub.publishAsync('n/1', 'z', { qos: 1 });
    await waitFor(() => got.length === 1, 'delivered');
    const errors = engineOf(broker).stats.hookErrors;
    assert.equal(errors.onQosPublish, 1);
    assert.equal(errors.onPublished, 1);
  });

  it('onPublished sees client, inline, will and $SYS messages', async () => {
    const seen: string[] = [];
    await broker.addHook({
      onPublished: (client: ClientInfo, message: Message) => {
        if (!message.topic.startsWith('$SYS') || message.topic.endsWith('/uptime'))
          seen.push(`${client.clientId}:${client.listener}:${message.topic}`);
      },
    });
    const pub = await connect('pub-origin');
    await pub.publishAsync('o/client', 'c', { qos: 1 });
    broker.publish('o/inline', 'i');
    const mortal = await connect('mortal', {
      will: { topic: 'o/will', payload: Buffer.from('w'), qos: 0, retain: false },
    });
    mortal.stream.destroy();
    engineOf(broker).sys.tick();
    await waitFor(() => seen.some((s) => s.includes('o/will')), 'the will');
    assert.ok(seen.includes('pub-origin:tcp:o/client'));
    assert.ok(seen.includes('$inline:inline:o/inline'));
    assert.ok(seen.includes('mortal:tcp:o/will'));
    assert.ok(seen.includes('$sys:sys:$SYS/broker/uptime'));
  });

  it('each storage event is reported once per change', async () => {
    const events: string[] = [];
    await broker.addHook({
      onInflightChanged: (clientId, packetId, message, stage) =>
        events.push(`inflight ${clientId} ${packetId} ${message === undefined ? 'done' : stage}`),
      onRetainedChanged: (topic, message) =>
        events.push(`retained ${topic} ${message === undefined ? 'x' : 'set'}`),
    });
    const sub = await connect('q2', { protocolVersion: 5 });
    await sub.subscribeAsync('e/#', { qos: 2 });
    const got = collect(sub);
    const pub = await connect('p2');
    await pub.publishAsync('e/1', 'v', { qos: 2, retain: true });
    await waitFor(() => got.length === 1 && events.includes('inflight q2 1 done'), 'QoS 2 completed');
    assert.deepEqual(events, [
      'retained e/1 set',
      'inflight q2 1 publish',
      'inflight q2 1 pubrel',
      'inflight q2 1 done',
    ]);
  });
});
