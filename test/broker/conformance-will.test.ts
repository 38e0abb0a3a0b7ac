/**
 * Conformance over raw TCP: the will message. A watcher subscribed to "w" sees exactly what the broker
 * publishes when the will's connection ends in each of the ways the spec distinguishes.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { WillMessage } from '../../src/packets/types.js';
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

// 3.1.1 CONNECT "wc", Clean Session 1, keep alive 0, will flag (04) QoS 0: topic "w", message "bye".
const CONNECT_WITH_WILL =
  '10 16 | 00 04 4d 51 54 54 | 04 | 06 | 00 00 | 00 02 77 63 | 00 01 77 | 00 03 62 79 65';
// What a QoS 0 subscriber of "w" receives: PUBLISH QoS 0, topic "w", payload "bye".
const WILL_PUBLISH = '30 06 | 00 01 77 | 62 79 65';
const WILL: WillMessage = { topic: 'w', payload: Buffer.from('bye'), qos: 0, retain: false };

/** A 3.1.1 client "watch" subscribed to "w" at `qos`. */
async function watcher(h: BrokerHarness, qos: 0 | 1 | 2 = 0, version: 4 | 5 = 4): Promise<RawClient> {
  const { client } = await h.connect('watch', { version });
  client.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'w', qos }] });
  const suback = await client.expectPacket('suback');
  assert.deepEqual(suback.reasonCodes, [qos]);
  return client;
}

describe('will message', () => {
  it('[MQTT-3.1.2-7] [MQTT-3.1.2-8] stored with the session at CONNECT, published when the network connection drops', async () => {
    const h = await broker();
    const w = await watcher(h);
    const c = await h.open(4);
    c.write(CONNECT_WITH_WILL);
    await c.expectBytes('20 02 00 00');
    c.destroy();
    await w.expectBytes(WILL_PUBLISH);
  });

  it('[MQTT-3.1.2-8] [MQTT-3.1.2-22] published on keep alive timeout', async () => {
    const h = await broker();
    const w = await watcher(h);
    const c = await h.open(4);
    // As CONNECT_WITH_WILL with keep alive 1 s.
    c.write('10 16 | 00 04 4d 51 54 54 | 04 | 06 | 00 01 | 00 02 77 63 | 00 01 77 | 00 03 62 79 65');
    await c.expectBytes('20 02 00 00');
    await w.expectBytes(WILL_PUBLISH, 3500);
    await c.expectClosed();
  });

  it('[MQTT-3.1.2-8] published when the server closes the connection for a protocol error', async () => {
    const h = await broker();
    const w = await watcher(h);
    const c = await h.open(4);
    c.write(CONNECT_WITH_WILL);
    await c.expectBytes('20 02 00 00');
    c.write('36 05 00 01 74 00 01'); // PUBLISH with QoS 3: malformed [MQTT-3.3.1-4]
    await c.expectClosed();
    await w.expectBytes(WILL_PUBLISH);
  });

  it('[MQTT-3.1.4-3] published when a new connection takes the client id over', async () => {
    const h = await broker();
    const w = await watcher(h);
    const c = await h.open(4);
    c.write(CONNECT_WITH_WILL);
    await c.expectBytes('20 02 00 00');
    const taker = await h.open(4);
    // Same id "wc", no will.
    taker.write('10 0e | 00 04 4d 51 54 54 | 04 | 02 | 00 00 | 00 02 77 63');
    await taker.expectBytes('20 02 00 00');
    await c.expectClosed();
    await w.expectBytes(WILL_PUBLISH);
  });

  it('[MQTT-3.1.2-10] (v5: [MQTT-3.14.4-3]) NOT published after a normal DISCONNECT', async () => {
    const h = await broker();
    const w = await watcher(h);
    const c = await h.open(4);
    c.write(CONNECT_WITH_WILL);
    await c.expectBytes('20 02 00 00');
    c.write('e0 00');
    await c.expectClosed();
    await w.expectNothing(200);
  });

  it('[MQTT-3.14.4-3] v5 DISCONNECT 0x00 discards the will; 0x04 publishes it', async () => {
    const h = await broker();
    const w = await watcher(h);
    const normal = (await h.connect('wc', { version: 5, will: WILL })).client;
    normal.write('e0 01 00');
    await normal.expectClosed();
    await w.expectNothing(150);
    const withWill = (await h.connect('wc', { version: 5, will: WILL })).client;
    withWill.write('e0 01 04'); // Disconnect with Will Message
    await withWill.expectClosed();
    await w.expectBytes(WILL_PUBLISH);
  });

  it('[MQTT-3.1.2-15] (3.1.1: [MQTT-3.1.2-17]) will retain: the will is stored as retained and sent with RETAIN 1 to later subscribers', async () => {
    const h = await broker();
    const c = await h.open(4);
    // Will flag 04 + will retain 20 + clean 02 = 26.
    c.write('10 16 | 00 04 4d 51 54 54 | 04 | 26 | 00 00 | 00 02 77 63 | 00 01 77 | 00 03 62 79 65');
    await c.expectBytes('20 02 00 00');
    c.destroy();
    await waitFor(() => h.engine.index.retainedCount > 0, 2000, 'retained will');
    const { client: late } = await h.connect('late');
    late.write('82 06 | 00 01 | 00 01 77 | 00');
    await late.expectBytes('90 03 00 01 00');
    await late.expectBytes('31 06 | 00 01 77 | 62 79 65'); // RETAIN set
  });

  it('[MQTT-3.1.2-14] will QoS 1 is delivered at QoS 1 to a QoS 1 subscriber', async () => {
    const h = await broker();
    const w = await watcher(h, 1);
    const c = await h.open(4);
    // Will flag 04 + will QoS 1 (08) + clean 02 = 0e.
    c.write('10 16 | 00 04 4d 51 54 54 | 04 | 0e | 00 00 | 00 02 77 63 | 00 01 77 | 00 03 62 79 65');
    await c.expectBytes('20 02 00 00');
    c.destroy();
    await w.expectBytes('32 08 | 00 01 77 | 00 01 | 62 79 65');
  });

  it('[MQTT-3.1.3-10] v5 will properties (content type, user properties in order, correlation data) are forwarded', async () => {
    const h = await broker();
    const w = await watcher(h, 0, 5);
    const will: WillMessage = {
      ...WILL,
      properties: {
        contentType: 'text/plain',
        payloadFormatIndicator: 1,
        responseTopic: 'reply',
        correlationData: Buffer.from([1, 2, 3]),
        userProperties: [['k', 'v']],
      },
    };
    const { client } = await h.connect('wc', { version: 5, will });
    client.destroy();
    const got = await w.expectPacket('publish');
    assert.equal(got.topic, 'w');
    assert.deepEqual(got.payload, Buffer.from('bye'));
    assert.deepEqual(got.properties, will.properties);
  });

  it('[MQTT-3.1.3-9] will delay interval: published only after the delay', async () => {
    const h = await broker();
    const w = await watcher(h);
    const will: WillMessage = { ...WILL, properties: { willDelayInterval: 1 } };
    const { client } = await h.connect('wc', {
      version: 5,
      clean: false,
      will,
      properties: { sessionExpiryInterval: 60 },
    });
    client.destroy();
    await w.expectNothing(400);
    await w.expectBytes(WILL_PUBLISH, 2500);
  });

  it('[MQTT-3.1.3-9] [MQTT-3.1.2-8] will delay interval: cancelled when the session resumes in time', async () => {
    const h = await broker();
    const w = await watcher(h);
    const will: WillMessage = { ...WILL, properties: { willDelayInterval: 1 } };
    const first = await h.connect('wc', {
      version: 5,
      clean: false,
      will,
      properties: { sessionExpiryInterval: 60 },
    });
    first.client.destroy();
    await waitFor(() => h.engine.sessions.get('wc')?.pendingWill !== undefined);
    const again = await h.connect('wc', {
      version: 5,
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    assert.equal(again.connack.sessionPresent, true);
    await w.expectNothing(1300);
  });

  it('[MQTT-3.1.2-8] will delay longer than the session expiry: published when the session ends', async () => {
    const h = await broker();
    const w = await watcher(h);
    const will: WillMessage = { ...WILL, properties: { willDelayInterval: 30 } };
    const { client } = await h.connect('wc', {
      version: 5,
      clean: false,
      will,
      properties: { sessionExpiryInterval: 1 },
    });
    client.destroy();
    await w.expectBytes(WILL_PUBLISH, 2500);
  });
});
