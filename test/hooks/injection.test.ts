import assert from 'node:assert/strict';
import { describe, it, test } from 'node:test';
import { Broker, MqttError, ReasonCode } from '../../src/index.js';
import { engineOf } from '../../src/server/broker.js';
import { brokerPerTest, collect, waitFor } from './helpers.js';

describe('packet injection and in-process clients', () => {
  let broker: Broker;
  const connect = brokerPerTest(
    (b) => {
      broker = b;
    },
    { protocolVersion: 5 },
  );

  it('a packet injected as an in-process client reaches MQTT.js subscribers and is acknowledged to it', async () => {
    const sub = await connect('inj-sub');
    const got = collect(sub);
    await sub.subscribeAsync('inj/#', { qos: 1 });
    const inproc = await broker.createClient('inproc');
    assert.equal(inproc.received[0]?.type, 'connack');
    assert.equal(inproc.connection.inline, true);
    broker.injectPacket(inproc, {
      type: 'publish',
      topic: 'inj/a',
      payload: Buffer.from('injected'),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 7,
    });
    await waitFor(() => got.length === 1, 'the injected publish');
    assert.deepEqual(got[0], { topic: 'inj/a', payload: 'injected', retain: false, qos: 1 });
    await waitFor(
      () => inproc.received.some((p) => p.type === 'puback'),
      'the PUBACK to the in-process client',
    );
    const puback = inproc.received.find((p) => p.type === 'puback');
    assert.equal(puback?.type === 'puback' ? puback.packetId : undefined, 7);
  });

  it('an in-process client subscribes by injection and receives what MQTT.js publishes', async () => {
    const inproc = await broker.createClient('inproc-sub', { protocolVersion: 4 });
    inproc.inject({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'to/inproc', qos: 0 }] });
    await waitFor(() => inproc.received.some((p) => p.type === 'suback'), 'SUBACK');
    const pub = await connect('pub');
    await pub.publishAsync('to/inproc', 'hi');
    await waitFor(() => inproc.received.some((p) => p.type === 'publish'), 'the publish');
    const publish = inproc.received.find((p) => p.type === 'publish');
    assert.equal(publish?.type === 'publish' ? publish.payload.toString() : undefined, 'hi');
  });

  it('injects as an existing network client, named by id or by the ClientInfo a hook got', async () => {
    const seenBy: string[] = [];
    await broker.addHook({
      onPublished: (client) => {
        seenBy.push(`${client.clientId}:${client.inline}`);
      },
    });
    const real = await connect('real');
    const watcher = await connect('watcher');
    const got = collect(watcher);
    await watcher.subscribeAsync('as/#');
    broker.injectPacket('real', {
      type: 'publish',
      topic: 'as/id',
      payload: Buffer.from('1'),
      qos: 0,
      retain: false,
      dup: false,
    });
    const info = engineOf(broker).sessions.get('real')?.link;
    assert.ok(info !== undefined);
    broker.injectPacket(info as never, {
      type: 'publish',
      topic: 'as/info',
      payload: Buffer.from('2'),
      qos: 0,
      retain: false,
      dup: false,
    });
    await waitFor(() => got.length === 2, 'both injected publishes');
    assert.deepEqual(
      got.map((m) => m.topic),
      ['as/id', 'as/info'],
    );
    assert.deepEqual(seenBy, ['real:false', 'real:false']);
    assert.equal(real.connected, true);
  });

  it('an injected protocol violation ends that client like a sent one would', async () => {
    const inproc = await broker.createClient('violator');
    inproc.inject({ type: 'connack', sessionPresent: false, reasonCode: 0 });
    await waitFor(() => inproc.connection.state === 'closed', 'the connection to close');
    const disconnect = inproc.received.find((p) => p.type === 'disconnect');
    assert.equal(
      disconnect?.type === 'disconnect' ? disconnect.reasonCode : undefined,
      ReasonCode.ProtocolError,
    );
  });

  it('refuses unknown targets and reports a refused in-process CONNECT', async () => {
    assert.throws(() => broker.injectPacket('ghost', { type: 'pingreq' }), RangeError);
    await broker.addHook({ onConnectAuthenticate: () => false });
    await assert.rejects(broker.createClient('denied'), (err: unknown) => {
      assert.ok(err instanceof MqttError);
      assert.equal(err.reasonCode, ReasonCode.NotAuthorized);
      return true;
    });
  });
});

test('the inline client refuses a topic name with wildcards or an empty one (0x90), bypassing only the ACL', async () => {
  const local = new Broker({ sysInterval: 0 });
  try {
    for (const topic of ['a/+', 'a/#', '']) {
      assert.throws(
        () => local.publish(topic, 'x'),
        (err: unknown) => err instanceof MqttError && err.reasonCode === 0x90,
        `topic '${topic}'`,
      );
    }
    assert.equal(local.publish('$SYS/ok', 'x'), 0);
  } finally {
    await local.close();
  }
});
