import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { allowAll, Broker, type ClientInfo, type Hook, type Message, ReasonCode } from '../../src/index.js';
import { brokerPerTest, collect, waitFor } from './helpers.js';

describe('hooks', () => {
  let broker: Broker;
  const connect = brokerPerTest(
    (b) => {
      broker = b;
    },
    { connectTimeout: 3000 },
  );

  it('runs hooks in the order added, and init gets the config', async () => {
    const calls: string[] = [];
    const make = (name: string): Hook => ({
      id: name,
      init: (config) => {
        calls.push(`${name}:init:${String(config)}`);
      },
      onConnect: (client) => {
        calls.push(`${name}:connect:${client.clientId}`);
      },
      onSessionEstablished: () => {
        calls.push(`${name}:established`);
      },
    });
    await broker.addHook(make('a'), 1);
    await broker.addHook(make('b'), 2);
    await connect('order');
    assert.deepEqual(calls, [
      'a:init:1',
      'b:init:2',
      'a:connect:order',
      'b:connect:order',
      'a:established',
      'b:established',
    ]);
  });

  it('authentication: allowed if any hook allows (async included), refused when none does', async () => {
    const asked: string[] = [];
    await broker.addHook({
      onConnectAuthenticate: async (client) => {
        asked.push(`async:${client.clientId}`);
        return client.clientId === 'by-async';
      },
    });
    await broker.addHook({
      onConnectAuthenticate: (client) => {
        asked.push(`sync:${client.clientId}`);
        return client.clientId === 'by-sync';
      },
    });
    await connect('by-async');
    await connect('by-sync');
    await assert.rejects(connect('nobody', { protocolVersion: 5 }), /Not authorized|Bad User Name|refused/i);
    // The first yes stops the chain: 'by-async' never reached the second hook.
    assert.deepEqual(asked, [
      'async:by-async',
      'async:by-sync',
      'sync:by-sync',
      'async:nobody',
      'sync:nobody',
    ]);
  });

  it('ACL: deny when no hook allows; allowAll is the explicit allow', async () => {
    await broker.addHook({
      onAclCheck: (_client, topic, access) => access === 'read' || topic.startsWith('open/'),
    });
    const sub = await connect('acl-sub', { protocolVersion: 5 });
    const got = collect(sub);
    const granted = await sub.subscribeAsync(['open/#', 'closed/#'], { qos: 1 });
    assert.deepEqual(
      granted.map((g) => g.qos),
      [1, 1],
    );
    const pub = await connect('acl-pub', { protocolVersion: 5 });
    await pub.publishAsync('open/a', 'yes', { qos: 1 });
    await assert.rejects(pub.publishAsync('closed/a', 'no', { qos: 1 }), /135|Not authorized/i);
    await waitFor(() => got.length === 1, 'the allowed publish');
    assert.deepEqual(
      got.map((m) => m.topic),
      ['open/a'],
    );
    await broker.addHook(allowAll);
    await pub.publishAsync('closed/a', 'now', { qos: 1 });
    await waitFor(() => got.length === 2, 'the publish allowed by allowAll');
    assert.equal(got[1]?.payload, 'now');
  });

  it('ACL with several hooks: asked in order, sync and async, the first yes stops the asking', async () => {
    const asked: string[] = [];
    await broker.addHook({
      onAclCheck: (_client, topic, access) => {
        if (access === 'write') asked.push(`sync:${topic}`);
        return access === 'read' || topic === 'by-sync';
      },
    });
    await broker.addHook({
      onAclCheck: async (_client, topic, access) => {
        if (access === 'write') asked.push(`async:${topic}`);
        return topic === 'by-async';
      },
    });
    await broker.addHook({
      onAclCheck: (_client, topic, access) => {
        if (access === 'write') asked.push(`last:${topic}`);
        return topic === 'by-last';
      },
    });
    const sub = await connect('acl3-sub', { protocolVersion: 5 });
    const got = collect(sub);
    await sub.subscribeAsync('#', { qos: 1 });
    const pub = await connect('acl3-pub', { protocolVersion: 5 });
    for (const topic of ['by-sync', 'by-async', 'by-last']) await pub.publishAsync(topic, topic, { qos: 1 });
    await assert.rejects(pub.publishAsync('nobody', 'no', { qos: 1 }), /135|Not authorized/i);
    await waitFor(() => got.length === 3, 'the three allowed publishes');
    assert.deepEqual(
      got.map((m) => m.topic),
      ['by-sync', 'by-async', 'by-last'],
    );
    assert.deepEqual(asked, [
      'sync:by-sync',
      'sync:by-async',
      'async:by-async',
      'sync:by-last',
      'async:by-last',
      'last:by-last',
      'sync:nobody',
      'async:nobody',
      'last:nobody',
    ]);
  });

  it('onPublish chains modifications and stops at the first reject with its reason code', async () => {
    const seen: string[] = [];
    await broker.addHook({
      onPublish: (_client, packet) => {
        seen.push(`first:${packet.topic}`);
        if (packet.topic === 'refuse') return { action: 'reject', reasonCode: ReasonCode.QuotaExceeded };
        return {
          action: 'continue',
          packet: { ...packet, payload: Buffer.from(`${packet.payload.toString()}+1`) },
        };
      },
    });
    await broker.addHook({
      onPublish: async (_client, packet) => {
        seen.push(`second:${packet.payload.toString()}`);
        return {
          action: 'continue',
          packet: { ...packet, payload: Buffer.from(`${packet.payload.toString()}+2`) },
        };
      },
    });
    const published: { clientId: string; payload: string; deliveries: number }[] = [];
    await broker.addHook({
      onPublished: (client, message, deliveries) => {
        published.push({ clientId: client.clientId, payload: message.payload.toString(), deliveries });
      },
    });
    const sub = await connect('chain-sub', { protocolVersion: 5 });
    const got = collect(sub);
    await sub.subscribeAsync('#', { qos: 1 });
    const pub = await connect('chain-pub', { protocolVersion: 5 });
    await pub.publishAsync('t', 'x', { qos: 1 });
    await assert.rejects(pub.publishAsync('refuse', 'x', { qos: 1 }), /151|Quota/i);
    await waitFor(() => got.length === 1, 'the modified message');
    assert.equal(got[0]?.payload, 'x+1+2');
    assert.deepEqual(seen, ['first:t', 'second:x+1', 'first:refuse']);
    assert.deepEqual(published, [{ clientId: 'chain-pub', payload: 'x+1+2', deliveries: 1 }]);
  });

  it('onSubscribe may change options or refuse per filter; onSubscribed and onUnsubscribed report', async () => {
    const subscribed: number[][] = [];
    const unsubscribed: string[][] = [];
    await broker.addHook({
      onSubscribe: (_client, subscription) => {
        if (subscription.topicFilter === 'secret/#')
          return { action: 'reject', reasonCode: ReasonCode.NotAuthorized };
        return { action: 'continue', subscription: { ...subscription, qos: 0 } };
      },
      onSubscribed: (_client, _subs, codes) => {
        subscribed.push([...codes]);
      },
      onUnsubscribed: (_client, filters) => {
        unsubscribed.push([...filters]);
      },
    });
    const client = await connect('sub-hooks', { protocolVersion: 5 });
    const granted = await client.subscribeAsync('a/#', { qos: 2 });
    assert.deepEqual(
      granted.map((g) => g.qos),
      [0],
    );
    // MQTT.js rejects a SUBACK carrying a failure code; the error holds the packet.
    const refused = await client.subscribeAsync('secret/#', { qos: 1 }).then(
      () => assert.fail('secret/# must be refused'),
      (err: { packet?: { granted?: number[]; reasonCodes?: number[] } }) => err.packet,
    );
    assert.deepEqual(refused?.granted ?? refused?.reasonCodes, [ReasonCode.NotAuthorized]);
    await client.unsubscribeAsync('a/#');
    assert.deepEqual(subscribed, [[0], [ReasonCode.NotAuthorized]]);
    assert.deepEqual(unsubscribed, [['a/#']]);
  });

  it('onPacketRead may drop packets; onPacketEncode may rewrite outgoing ones', async () => {
    await broker.addHook({
      onPacketRead: (_client, packet) =>
        packet.type === 'publish' && packet.topic === 'drop-me' ? undefined : packet,
      onPacketEncode: (_client, packet) =>
        packet.type === 'publish'
          ? { ...packet, payload: Buffer.from(packet.payload.toString().toUpperCase()) }
          : packet,
    });
    const sub = await connect('enc-sub');
    const got = collect(sub);
    await sub.subscribeAsync('#');
    const pub = await connect('enc-pub');
    await pub.publishAsync('drop-me', 'lost');
    await pub.publishAsync('keep', 'loud');
    await waitFor(() => got.length === 1, 'the kept message');
    // The dropped PUBLISH counts as refused by a hook; the kept ones do not.
    assert.equal(broker.stats.refused.hook, 1);
    assert.equal(broker.stats.refusedTotal, 1);
    await pub.publishAsync('keep', 'again');
    await waitFor(() => got.length === 2, 'the second kept message');
    assert.deepEqual(
      got.map((m) => `${m.topic}=${m.payload}`),
      ['keep=LOUD', 'keep=AGAIN'],
    );
  });

  it('onDisconnect reports who ended it; onWill may change the will and onWillSent reports it', async () => {
    const disconnects: string[] = [];
    const willsSent: string[] = [];
    await broker.addHook({
      onDisconnect: (client, info) => {
        disconnects.push(`${client.clientId}:${info.by}`);
      },
      onWill: (_clientId, will) => ({ ...will, payload: Buffer.from('changed') }),
      onWillSent: (clientId, will) => {
        willsSent.push(`${clientId}:${will.payload.toString()}`);
      },
    });
    const watcher = await connect('watcher');
    const got = collect(watcher);
    await watcher.subscribeAsync('wills/#');
    const dying = await connect('dying', {
      will: { topic: 'wills/dying', payload: Buffer.from('bye'), qos: 0, retain: false },
    });
    dying.stream.destroy();
    await waitFor(() => got.length === 1, 'the will');
    assert.equal(got[0]?.payload, 'changed');
    assert.deepEqual(willsSent, ['dying:changed']);
    assert.deepEqual(disconnects, ['dying:network']);
  });

  it('clients can never publish to $SYS/, whatever the hooks allow', async () => {
    await broker.addHook(allowAll);
    const sub = await connect('sys-sub', { protocolVersion: 5 });
    const got = collect(sub);
    await sub.subscribeAsync('$SYS/#');
    const pub = await connect('sys-pub', { protocolVersion: 5 });
    await assert.rejects(pub.publishAsync('$SYS/broker/uptime', 'forged', { qos: 1 }), /135|Not authorized/i);
    broker.publish('$SYS/broker/custom', 'inline may');
    await waitFor(() => got.length === 1, 'the inline $SYS publish');
    assert.deepEqual(
      got.map((m) => m.topic),
      ['$SYS/broker/custom'],
    );
  });
});

describe('inline client', () => {
  let broker: Broker;
  const connect = brokerPerTest(
    (b) => {
      broker = b;
    },
    { protocolVersion: 5 },
  );

  it('broker.publish reaches MQTT.js subscribers, retained ones included', async () => {
    const live = await connect('live');
    const got = collect(live);
    await live.subscribeAsync('inline/#', { qos: 1 });
    assert.equal(broker.publish('inline/a', 'hello', { qos: 1 }), 1);
    broker.publish('inline/kept', 'stored', { retain: true });
    await waitFor(() => got.length === 2, 'both inline publishes');
    const late = await connect('late');
    const lateGot = collect(late);
    await late.subscribeAsync('inline/#');
    await waitFor(() => lateGot.length === 1, 'the retained inline message');
    assert.deepEqual(lateGot[0], { topic: 'inline/kept', payload: 'stored', retain: true, qos: 0 });
  });

  it('an inline subscriber gets retained messages first, then network publishes, until it unsubscribes', async () => {
    broker.publish('room/temp', '21', { retain: true, qos: 1 });
    const got: { topic: string; payload: string; retain: boolean; qos: number }[] = [];
    const unsubscribe = await broker.subscribe(
      'room/+',
      (message: Message, delivery) => {
        got.push({
          topic: message.topic,
          payload: message.payload.toString(),
          retain: delivery.retain,
          qos: delivery.qos,
        });
      },
      { qos: 1 },
    );
    assert.deepEqual(got, [{ topic: 'room/temp', payload: '21', retain: true, qos: 1 }]);
    const pub = await connect('room-pub');
    await pub.publishAsync('room/temp', '22', { qos: 1 });
    await pub.publishAsync('room/humidity', '40', { qos: 2 });
    await waitFor(() => got.length === 3, 'the network publishes');
    assert.deepEqual(
      got.slice(1).map((m) => `${m.topic}=${m.payload}@${m.qos}`),
      ['room/temp=22@1', 'room/humidity=40@1'],
    );
    unsubscribe();
    assert.equal(broker.publish('room/temp', '23'), 0);
    assert.equal(got.length, 3);
  });

  it('inline subscriptions go through the subscribe hooks but not the ACL', async () => {
    const clientsSeen: ClientInfo[] = [];
    await broker.addHook({
      onAclCheck: () => false,
      onSubscribe: (client, subscription) => {
        clientsSeen.push(client);
        return subscription.topicFilter === 'forbidden'
          ? { action: 'reject', reasonCode: ReasonCode.TopicFilterInvalid }
          : { action: 'continue' };
      },
    });
    const got: string[] = [];
    await broker.subscribe('$SYS/#', (message) => got.push(message.topic));
    await assert.rejects(
      broker.subscribe('forbidden', () => {}),
      /refused/,
    );
    assert.equal(clientsSeen.length, 2);
    assert.equal(clientsSeen[0]?.inline, true);
    broker.publish('$SYS/broker/x', '1');
    assert.deepEqual(got, ['$SYS/broker/x']);
  });

  it('inlineClient: false makes publish and subscribe throw', async () => {
    const off = new Broker({ inlineClient: false, sysInterval: 0 });
    assert.throws(() => off.publish('a', 'b'), /inline client is disabled/);
    assert.throws(() => off.subscribe('a', () => {}), /inline client is disabled/);
    await off.close();
  });
});
