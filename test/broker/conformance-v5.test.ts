/**
 * Conformance over raw TCP: MQTT 5 features: message expiry, topic aliases both ways, forwarded
 * application properties, response information, reason strings and session expiry at DISCONNECT.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { Properties } from '../../src/packets/types.js';
import { type BrokerHarness, startBroker } from '../support/broker-harness.js';
import type { RawClient } from '../support/raw-client.js';
import { waitFor } from '../support/raw-client.js';

let harness: BrokerHarness | undefined;
async function broker(options: Parameters<typeof startBroker>[0] = {}): Promise<BrokerHarness> {
  harness = await startBroker(options);
  return harness;
}
afterEach(async () => {
  await harness?.stop();
  harness = undefined;
});

/** A persistent v5 subscriber "s" of "t" at QoS 1 that has gone offline. */
async function offlineSubscriber(h: BrokerHarness): Promise<void> {
  const { client } = await h.connect('s', {
    version: 5,
    clean: false,
    properties: { sessionExpiryInterval: 60 },
  });
  client.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 't', qos: 1 }] });
  await client.expectPacket('suback');
  client.write('e0 00');
  await client.expectClosed();
  await waitFor(() => h.engine.sessions.get('s')?.link === undefined);
}

async function reconnect(h: BrokerHarness): Promise<RawClient> {
  const { client, connack } = await h.connect('s', {
    version: 5,
    clean: false,
    properties: { sessionExpiryInterval: 60 },
  });
  assert.equal(connack.sessionPresent, true);
  return client;
}

describe('message expiry', () => {
  it('[MQTT-3.3.2-6] the Message Expiry Interval sent on is the time left', async () => {
    const h = await broker();
    await offlineSubscriber(h);
    const { client: pub } = await h.connect('pub', { version: 5 });
    // QoS 1, id 1, Message Expiry Interval 10 s (02 00 00 00 0a), payload "x"
    pub.write('32 0c | 00 01 74 | 00 01 | 05 02 00 00 00 0a | 78');
    await pub.expectBytes('40 02 00 01');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const s = await reconnect(h);
    const got = await s.expectPacket('publish');
    assert.deepEqual(got.payload, Buffer.from('x'));
    const left = got.properties?.messageExpiryInterval;
    assert.ok(left !== undefined && left < 10 && left >= 8, `remaining interval ${left}`);
  });

  it('[MQTT-3.3.2-5] a message that expired while queued is not delivered', async () => {
    const h = await broker();
    await offlineSubscriber(h);
    const { client: pub } = await h.connect('pub', { version: 5 });
    pub.write('32 0c | 00 01 74 | 00 01 | 05 02 00 00 00 01 | 78'); // expires after 1 s
    await pub.expectBytes('40 02 00 01');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const s = await reconnect(h);
    await s.expectNothing();
    assert.equal(h.broker.stats.dropped.expired, 1);
  });
});

describe('topic aliases', () => {
  it('[MQTT-3.3.2-12] inbound: alias set with the topic, then used alone', async () => {
    const h = await broker();
    const { client: sub } = await h.connect('sub', { version: 5 });
    sub.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 't', qos: 0 }] });
    await sub.expectPacket('suback');
    const { client: pub } = await h.connect('pub', { version: 5 });
    pub.write('30 08 | 00 01 74 | 03 23 00 01 | 61'); // topic "t", alias 1, "a"
    pub.write('30 07 | 00 00 | 03 23 00 01 | 62'); // empty topic, alias 1, "b"
    await sub.expectBytes('30 05 | 00 01 74 | 00 | 61');
    await sub.expectBytes('30 05 | 00 01 74 | 00 | 62');
  });

  it('[MQTT-3.3.2-10] inbound: an alias above the Topic Alias Maximum is refused with DISCONNECT 0x94', async () => {
    const h = await broker({ topicAliasMaximum: 2 });
    const { client: pub } = await h.connect('pub', { version: 5 });
    pub.write('30 08 | 00 01 74 | 03 23 00 03 | 61');
    assert.equal((await pub.expectPacket('disconnect')).reasonCode, 0x94);
    await pub.expectClosed();
  });

  it('[MQTT-3.3.2-9] outbound: with the client Topic Alias Maximum > 0, a repeated topic goes as alias only', async () => {
    const h = await broker();
    const { client: sub } = await h.connect('sub', { version: 5, properties: { topicAliasMaximum: 5 } });
    sub.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 't', qos: 0 }] });
    await sub.expectPacket('suback');
    const { client: pub } = await h.connect('pub', { version: 5 });
    pub.write('30 05 | 00 01 74 | 00 | 61');
    pub.write('30 05 | 00 01 74 | 00 | 62');
    await sub.expectBytes('30 08 | 00 01 74 | 03 23 00 01 | 61'); // topic + alias 1
    await sub.expectBytes('30 07 | 00 00 | 03 23 00 01 | 62'); // empty topic, alias 1
  });
});

describe('forwarded properties and server information', () => {
  it('[MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17] [MQTT-3.3.2-18] application properties forwarded unchanged', async () => {
    const h = await broker();
    const { client: sub } = await h.connect('sub', { version: 5 });
    sub.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 't', qos: 1 }] });
    await sub.expectPacket('suback');
    const { client: pub } = await h.connect('pub', { version: 5 });
    const properties: Properties = {
      payloadFormatIndicator: 1,
      contentType: 'application/json',
      responseTopic: 'reply/here',
      correlationData: Buffer.from([0xde, 0xad]),
      userProperties: [
        ['b', '2'],
        ['a', '1'],
        ['b', '3'],
      ],
    };
    pub.send({
      type: 'publish',
      topic: 't',
      payload: Buffer.from('{}'),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 4,
      properties,
    });
    await pub.expectBytes('40 02 00 04');
    const got = await sub.expectPacket('publish');
    assert.deepEqual(got.properties, properties);
  });

  it('[MQTT-3.1.2-28] Request Response Information 1: CONNACK carries the configured Response Information', async () => {
    const h = await broker({ responseInformation: 'resp/%c' });
    const asked = await h.connect('rr', { version: 5, properties: { requestResponseInformation: 1 } });
    assert.equal(asked.connack.properties?.responseInformation, 'resp/rr');
    const notAsked = await h.connect('nr', { version: 5 });
    assert.equal(notAsked.connack.properties?.responseInformation, undefined);
  });

  it('[MQTT-3.14.2-1] server DISCONNECT carries a reason string (a human-readable cause)', async () => {
    const h = await broker();
    const { client } = await h.connect('c', { version: 5 });
    client.write('30 04 | 00 00 | 00 | 61'); // empty topic, no alias: Protocol Error
    const disconnect = await client.expectPacket('disconnect');
    assert.equal(disconnect.reasonCode, 0x82);
    assert.ok((disconnect.properties?.reasonString ?? '').length > 0);
  });
});

describe('session expiry at DISCONNECT', () => {
  it('[MQTT-3.14.2-2] Session Expiry set to 0 at DISCONNECT ends the session', async () => {
    const h = await broker();
    const { client } = await h.connect('c', {
      version: 5,
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    client.write('e0 07 | 00 | 05 11 00 00 00 00'); // Normal, Session Expiry 0
    await client.expectClosed();
    await waitFor(() => !h.engine.sessions.has('c'));
  });

  it('[MQTT-3.14.2-2] Session Expiry 0 at CONNECT, non-zero at DISCONNECT: DISCONNECT 0x82', async () => {
    const h = await broker();
    const { client } = await h.connect('c', { version: 5 });
    client.write('e0 07 | 00 | 05 11 00 00 00 3c'); // Session Expiry 60
    assert.equal((await client.expectPacket('disconnect')).reasonCode, 0x82);
    await client.expectClosed();
  });

  it('[MQTT-3.14.2-2] a longer Session Expiry at DISCONNECT keeps the session', async () => {
    const h = await broker();
    const { client } = await h.connect('c', {
      version: 5,
      clean: false,
      properties: { sessionExpiryInterval: 1 },
    });
    client.write('e0 07 | 00 | 05 11 00 00 00 3c');
    await client.expectClosed();
    await waitFor(() => h.engine.sessions.get('c')?.link === undefined);
    assert.equal(h.engine.sessions.get('c')?.expiryInterval, 60);
  });
});
