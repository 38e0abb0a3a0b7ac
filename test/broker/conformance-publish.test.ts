/**
 * Conformance over raw TCP: PUBLISH and its QoS 0/1/2 flows in both directions (client to broker and
 * broker to client), exactly-once delivery of inbound QoS 2, the outbound inflight window bounded by the
 * client's Receive Maximum, and the QoS downgrade to the subscription's QoS.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { ProtocolVersionNumber, QoS } from '../../src/packets/types.js';
import { type BrokerHarness, type ConnectOptions, startBroker } from '../support/broker-harness.js';
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

/** A connected client `id` subscribed to "t" at `qos` (SUBSCRIBE bytes are not the point here). */
async function subscriber(
  h: BrokerHarness,
  id: string,
  qos: QoS,
  version: ProtocolVersionNumber = 4,
  options: ConnectOptions = {},
): Promise<RawClient> {
  const { client } = await h.connect(id, { ...options, version });
  client.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 't', qos }] });
  assert.deepEqual((await client.expectPacket('suback')).reasonCodes, [qos]);
  return client;
}

describe('PUBLISH QoS flows, MQTT 3.1.1', () => {
  it('[MQTT-4.3.1-1] QoS 0: forwarded as sent, no acknowledgement', async () => {
    const h = await broker();
    const sub = await subscriber(h, 'sub', 0);
    const { client: pub } = await h.connect('pub');
    pub.write('30 05 | 00 01 74 | 68 69'); // PUBLISH QoS 0 "t" "hi"
    await sub.expectBytes('30 05 | 00 01 74 | 68 69');
    await pub.expectNothing(50);
  });

  it('[MQTT-4.3.2-1] [MQTT-4.3.2-2] QoS 1: PUBACK to the publisher, PUBLISH with our own id to the subscriber', async () => {
    const h = await broker();
    const sub = await subscriber(h, 'sub', 1);
    const { client: pub } = await h.connect('pub');
    pub.write('32 07 | 00 01 74 | 00 05 | 68 69'); // QoS 1, packet id 5
    await pub.expectBytes('40 02 00 05'); // PUBACK 5
    await sub.expectBytes('32 07 | 00 01 74 | 00 01 | 68 69'); // the broker's packet id 1
    sub.write('40 02 00 01');
    await waitFor(() => h.engine.sessions.get('sub')?.inflight.size === 0);
  });

  it('[MQTT-4.3.3-1] [MQTT-4.3.3-2] QoS 2: PUBREC/PUBREL/PUBCOMP on both sides', async () => {
    const h = await broker();
    const sub = await subscriber(h, 'sub', 2);
    const { client: pub } = await h.connect('pub');
    pub.write('34 07 | 00 01 74 | 00 05 | 68 69'); // QoS 2, packet id 5
    await pub.expectBytes('50 02 00 05'); // PUBREC
    pub.write('62 02 00 05'); // PUBREL
    await pub.expectBytes('70 02 00 05'); // PUBCOMP
    await sub.expectBytes('34 07 | 00 01 74 | 00 01 | 68 69');
    sub.write('50 02 00 01'); // PUBREC from the subscriber
    await sub.expectBytes('62 02 00 01'); // PUBREL from the broker
    sub.write('70 02 00 01'); // PUBCOMP
    await waitFor(() => h.engine.sessions.get('sub')?.inflight.size === 0);
  });

  it('[MQTT-3.3.1-4] QoS 3 is malformed: the connection is closed', async () => {
    const h = await broker();
    const { client: pub } = await h.connect('pub');
    pub.write('36 07 | 00 01 74 | 00 05 | 68 69');
    await pub.expectClosed();
  });

  it('MQTT 3.1 QoS 1 flow uses the same bytes', async () => {
    const h = await broker();
    const sub = await subscriber(h, 'sub', 1, 3);
    const { client: pub } = await h.connect('pub', { version: 3 });
    pub.write('32 07 | 00 01 74 | 00 05 | 68 69');
    await pub.expectBytes('40 02 00 05');
    await sub.expectBytes('32 07 | 00 01 74 | 00 01 | 68 69');
  });
});

describe('PUBLISH QoS flows, MQTT 5', () => {
  it('[MQTT-4.3.1-1] QoS 0 with an empty property length', async () => {
    const h = await broker();
    const sub = await subscriber(h, 'sub', 0, 5);
    const { client: pub } = await h.connect('pub', { version: 5 });
    pub.write('30 06 | 00 01 74 | 00 | 68 69');
    await sub.expectBytes('30 06 | 00 01 74 | 00 | 68 69');
  });

  it('[MQTT-4.3.2-1] QoS 1: PUBACK (reason 0 omitted) and forwarded PUBLISH', async () => {
    const h = await broker();
    const sub = await subscriber(h, 'sub', 1, 5);
    const { client: pub } = await h.connect('pub', { version: 5 });
    pub.write('32 08 | 00 01 74 | 00 05 | 00 | 68 69');
    await pub.expectBytes('40 02 00 05');
    await sub.expectBytes('32 08 | 00 01 74 | 00 01 | 00 | 68 69');
  });

  it('[MQTT-4.3.3-1] QoS 2: full flow; PUBREL for an unknown id gets PUBCOMP 0x92', async () => {
    const h = await broker();
    const sub = await subscriber(h, 'sub', 2, 5);
    const { client: pub } = await h.connect('pub', { version: 5 });
    pub.write('34 08 | 00 01 74 | 00 05 | 00 | 68 69');
    await pub.expectBytes('50 02 00 05');
    pub.write('62 02 00 05');
    await pub.expectBytes('70 02 00 05');
    await sub.expectBytes('34 08 | 00 01 74 | 00 01 | 00 | 68 69');
    sub.write('50 02 00 01');
    await sub.expectBytes('62 02 00 01');
    sub.write('70 02 00 01');
    // PUBREL for an identifier never received: PUBCOMP 0x92 Packet Identifier not found.
    pub.write('62 02 00 09');
    await pub.expectBytes('70 03 00 09 92');
  });

  it('[MQTT-3.3.1-2] 3.1.1 PUBLISH QoS 0 with DUP set is malformed: closed', async () => {
    const h = await broker();
    const { client: pub } = await h.connect('pub');
    pub.write('38 05 | 00 01 74 | 68 69');
    await pub.expectClosed();
  });
});

describe('exactly once, inflight window and downgrade', () => {
  it('[MQTT-4.3.3-9] duplicate QoS 2 PUBLISH before PUBREL: PUBREC again, delivered once', async () => {
    const h = await broker();
    const sub = await subscriber(h, 'sub', 0);
    const { client: pub } = await h.connect('pub');
    pub.write('34 07 | 00 01 74 | 00 05 | 68 69');
    await pub.expectBytes('50 02 00 05');
    pub.write('3c 07 | 00 01 74 | 00 05 | 68 69'); // the same with DUP set
    await pub.expectBytes('50 02 00 05');
    pub.write('62 02 00 05');
    await pub.expectBytes('70 02 00 05');
    await sub.expectBytes('30 05 | 00 01 74 | 68 69');
    await sub.expectNothing();
    // After PUBCOMP the identifier is free: the same id is a new message.
    pub.write('34 07 | 00 01 74 | 00 05 | 68 69');
    await pub.expectBytes('50 02 00 05');
    await sub.expectBytes('30 05 | 00 01 74 | 68 69');
  });

  it('[MQTT-3.3.4-9] outbound QoS 1 bounded by the client Receive Maximum (2); the rest follow in order', async () => {
    const h = await broker();
    const sub = await subscriber(h, 'sub', 1, 5, { properties: { receiveMaximum: 2 } });
    const { client: pub } = await h.connect('pub');
    for (let i = 1; i <= 5; i++) {
      pub.write(`32 06 | 00 01 74 | 00 0${i} | 3${i}`); // payload "1".."5"
      await pub.expectBytes(`40 02 00 0${i}`);
    }
    await sub.expectBytes('32 07 | 00 01 74 | 00 01 | 00 | 31');
    await sub.expectBytes('32 07 | 00 01 74 | 00 02 | 00 | 32');
    await sub.expectNothing();
    sub.write('40 02 00 01');
    await sub.expectBytes('32 07 | 00 01 74 | 00 03 | 00 | 33');
    await sub.expectNothing(50);
    sub.write('40 02 00 02');
    sub.write('40 02 00 03');
    await sub.expectBytes('32 07 | 00 01 74 | 00 04 | 00 | 34');
    await sub.expectBytes('32 07 | 00 01 74 | 00 05 | 00 | 35');
    assert.equal(h.broker.stats.droppedTotal, 0);
  });

  it('[MQTT-3.8.4-8] QoS is downgraded to the subscription QoS (2 -> 1, 2 -> 0, 1 -> 0)', async () => {
    const h = await broker();
    const q0 = await subscriber(h, 'q0', 0);
    const q1 = await subscriber(h, 'q1', 1);
    const q2 = await subscriber(h, 'q2', 2);
    const { client: pub } = await h.connect('pub');
    pub.write('34 07 | 00 01 74 | 00 05 | 68 69'); // QoS 2
    await pub.expectBytes('50 02 00 05');
    await q0.expectBytes('30 05 | 00 01 74 | 68 69');
    await q1.expectBytes('32 07 | 00 01 74 | 00 01 | 68 69');
    await q2.expectBytes('34 07 | 00 01 74 | 00 01 | 68 69');
    pub.write('32 07 | 00 01 74 | 00 06 | 68 69'); // QoS 1
    await pub.expectBytes('40 02 00 06');
    await q0.expectBytes('30 05 | 00 01 74 | 68 69');
    await q1.expectBytes('32 07 | 00 01 74 | 00 02 | 68 69');
    // A QoS 1 message is never upgraded for the QoS 2 subscriber.
    await q2.expectBytes('32 07 | 00 01 74 | 00 02 | 68 69');
  });
});
