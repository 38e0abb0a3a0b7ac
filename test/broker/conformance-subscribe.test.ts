/**
 * Conformance over raw TCP: SUBSCRIBE / UNSUBSCRIBE and their acknowledgements, topic matching end to
 * end, shared subscriptions, overlapping subscriptions, v5 subscription options and retained messages.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { ProtocolVersionNumber, Subscription } from '../../src/packets/types.js';
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

/** A connected client subscribed to `subscriptions` (all must be granted as requested). */
async function subscribed(
  h: BrokerHarness,
  id: string,
  subscriptions: Subscription[],
  version: ProtocolVersionNumber = 4,
  subscriptionId?: number,
): Promise<RawClient> {
  const { client } = await h.connect(id, { version });
  client.send(
    subscriptionId === undefined
      ? { type: 'subscribe', packetId: 1, subscriptions }
      : {
          type: 'subscribe',
          packetId: 1,
          subscriptions,
          properties: { subscriptionIdentifiers: [subscriptionId] },
        },
  );
  const suback = await client.expectPacket('suback');
  assert.deepEqual(
    suback.reasonCodes,
    subscriptions.map((s) => s.qos),
  );
  return client;
}

/** QoS 0 3.1.1 PUBLISH bytes for a short topic and payload. */
function publish0(topic: string, payload: string): Buffer {
  const t = Buffer.from(topic);
  const p = Buffer.from(payload);
  return Buffer.concat([Buffer.from([0x30, 2 + t.length + p.length, 0, t.length]), t, p]);
}

describe('SUBACK and UNSUBACK', () => {
  it('[MQTT-3.8.4-1] [MQTT-3.9.3-1] 3.1.1 SUBACK: one granted QoS per filter, in order', async () => {
    const h = await broker();
    const { client } = await h.connect('c');
    // packet id 7; "a" QoS 0, "b/+" QoS 1, "c/#" QoS 2
    client.write('82 12 | 00 07 | 00 01 61 00 | 00 03 62 2f 2b 01 | 00 03 63 2f 23 02');
    await client.expectBytes('90 05 | 00 07 | 00 01 02');
  });

  it('[MQTT-4.7.1-1] [MQTT-3.8.4-6] invalid filter refused with 0x80 (3.1.1) without dropping the valid ones', async () => {
    const h = await broker();
    const { client } = await h.connect('c');
    // "a" QoS 1, "a#" (invalid: # not alone in its level) QoS 1, "b" QoS 0
    client.write('82 0f | 00 07 | 00 01 61 01 | 00 02 61 23 01 | 00 01 62 00');
    await client.expectBytes('90 05 | 00 07 | 01 80 00');
    const { client: pub } = await h.connect('pub');
    pub.write(publish0('b', 'x'));
    await client.expectBytes(publish0('b', 'x'));
  });

  it('[MQTT-4.7.1-1] v5: invalid filters refused with 0x8F per filter, the valid ones granted', async () => {
    const h = await broker();
    const { client } = await h.connect('c', { version: 5 });
    // no properties; "a/+b" invalid, "a" QoS 2, "#/a" invalid
    client.write('82 14 | 00 07 | 00 | 00 04 61 2f 2b 62 00 | 00 01 61 02 | 00 03 23 2f 61 00');
    await client.expectBytes('90 06 | 00 07 | 00 | 8f 02 8f');
  });

  it('[MQTT-3.10.4-5] 3.1.1 UNSUBACK even when nothing matched', async () => {
    const h = await broker();
    const { client } = await h.connect('c');
    client.write('a2 05 | 00 09 | 00 01 7a'); // UNSUBSCRIBE id 9 "z"
    await client.expectBytes('b0 02 00 09');
  });

  it('[MQTT-3.11.3-1] v5 UNSUBACK: 0x00 per removed filter, 0x11 for one that did not exist', async () => {
    const h = await broker();
    const client = await subscribed(h, 'c', [{ topicFilter: 'a', qos: 0 }], 5);
    client.write('a2 09 | 00 09 | 00 | 00 01 61 | 00 01 7a'); // "a", "z"
    await client.expectBytes('b0 05 | 00 09 | 00 | 00 11');
    const { client: pub } = await h.connect('pub');
    pub.write(publish0('a', 'x'));
    await client.expectNothing();
  });

  it('[MQTT-3.8.4-3] a second SUBSCRIBE to the same filter replaces the QoS', async () => {
    const h = await broker();
    const client = await subscribed(h, 'c', [{ topicFilter: 't', qos: 2 }]);
    client.write('82 06 | 00 02 | 00 01 74 | 00'); // "t" again at QoS 0
    await client.expectBytes('90 03 00 02 00');
    const { client: pub } = await h.connect('pub');
    pub.write('32 07 | 00 01 74 | 00 05 | 68 69');
    await client.expectBytes('30 05 | 00 01 74 | 68 69');
  });
});

describe('topic matching end to end', () => {
  it('[MQTT-4.7.1-2] [MQTT-4.7.1-3] + matches one level, # the rest, a/# matches a', async () => {
    const h = await broker();
    const plus = await subscribed(h, 'plus', [{ topicFilter: 'a/+/c', qos: 0 }]);
    const hash = await subscribed(h, 'hash', [{ topicFilter: 'a/#', qos: 0 }]);
    const { client: pub } = await h.connect('pub');
    pub.write(publish0('a', '1'));
    pub.write(publish0('a/b/c', '2'));
    pub.write(publish0('a/b/c/d', '3'));
    pub.write(publish0('b/b/c', '4'));
    await hash.expectBytes(publish0('a', '1'));
    await hash.expectBytes(publish0('a/b/c', '2'));
    await hash.expectBytes(publish0('a/b/c/d', '3'));
    await plus.expectBytes(publish0('a/b/c', '2'));
    await plus.expectNothing(50);
    await hash.expectNothing(0);
  });

  it('[MQTT-4.7.2-1] $ topics are not matched by a leading wildcard, only by a literal $ level', async () => {
    const h = await broker();
    const all = await subscribed(h, 'all', [{ topicFilter: '#', qos: 0 }]);
    const plus = await subscribed(h, 'plus', [{ topicFilter: '+/x', qos: 0 }]);
    const dollar = await subscribed(h, 'sys', [{ topicFilter: '$app/#', qos: 0 }]);
    const { client: pub } = await h.connect('pub');
    pub.write(publish0('$app/x', 's'));
    pub.write(publish0('n/x', 'n'));
    await dollar.expectBytes(publish0('$app/x', 's'));
    await all.expectBytes(publish0('n/x', 'n'));
    await plus.expectBytes(publish0('n/x', 'n'));
    await all.expectNothing(50);
    await plus.expectNothing(0);
  });

  it('[MQTT-3.3.4-2] (3.1.1: one delivery per client) overlapping subscriptions: one message at the highest QoS', async () => {
    const h = await broker();
    const client = await subscribed(h, 'c', [
      { topicFilter: 'a/#', qos: 0 },
      { topicFilter: 'a/+', qos: 1 },
      { topicFilter: 'a/b', qos: 0 },
    ]);
    const { client: pub } = await h.connect('pub');
    pub.write('34 08 | 00 03 61 2f 62 | 00 05 | 78'); // QoS 2 "a/b" "x"
    await client.expectBytes('32 08 | 00 03 61 2f 62 | 00 01 | 78');
    await client.expectNothing();
  });

  it('[MQTT-3.3.4-3] v5 overlapping subscriptions: one message carrying every subscription identifier', async () => {
    const h = await broker();
    const { client } = await h.connect('c', { version: 5 });
    client.send({
      type: 'subscribe',
      packetId: 1,
      subscriptions: [{ topicFilter: 'a/#', qos: 1 }],
      properties: { subscriptionIdentifiers: [3] },
    });
    await client.expectPacket('suback');
    client.send({
      type: 'subscribe',
      packetId: 2,
      subscriptions: [{ topicFilter: 'a/+', qos: 0 }],
      properties: { subscriptionIdentifiers: [300] },
    });
    await client.expectPacket('suback');
    const { client: pub } = await h.connect('pub');
    pub.write(publish0('a/b', 'x'));
    const got = await client.expectPacket('publish');
    assert.equal(got.qos, 0);
    assert.deepEqual(
      [...(got.properties?.subscriptionIdentifiers ?? [])].sort((x, y) => x - y),
      [3, 300],
    );
    await client.expectNothing();
  });

  it('[MQTT-4.8.2-4] shared subscription: round-robin among connected members, one copy per message', async () => {
    const h = await broker();
    const m1 = await subscribed(h, 'm1', [{ topicFilter: '$share/g/t', qos: 0 }], 5);
    const m2 = await subscribed(h, 'm2', [{ topicFilter: '$share/g/t', qos: 0 }], 5);
    const { client: pub } = await h.connect('pub');
    for (let i = 0; i < 4; i++) pub.write(publish0('t', String(i)));
    // Each v5 delivery is 7 bytes (30 05 00 01 74 00 <digit>): wait for all 28, then read them.
    await waitFor(() => m1.pending.length + m2.pending.length >= 28);
    const received: string[][] = [];
    for (const m of [m1, m2]) {
      const payloads: string[] = [];
      for (let n = m.pending.length / 7; n > 0; n--)
        payloads.push((await m.expectPacket('publish')).payload.toString());
      received.push(payloads);
    }
    assert.equal(received[0]?.length, 2);
    assert.equal(received[1]?.length, 2);
    assert.deepEqual([...(received[0] ?? []), ...(received[1] ?? [])].sort(), ['0', '1', '2', '3']);
  });

  it('[MQTT-4.8.2-4] shared subscription: an offline member gets messages only when no member is connected', async () => {
    const h = await broker();
    // "off" is a persistent member that goes offline; "on" stays connected.
    const off = (await h.connect('off', { clean: false })).client;
    off.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: '$share/g/t', qos: 1 }] });
    await off.expectPacket('suback');
    const on = await subscribed(h, 'on', [{ topicFilter: '$share/g/t', qos: 1 }]);
    off.write('e0 00');
    await off.expectClosed();
    await waitFor(() => h.engine.sessions.get('off')?.link === undefined);
    const { client: pub } = await h.connect('pub');
    for (let i = 1; i <= 3; i++) {
      pub.write(`32 06 | 00 01 74 | 00 0${i} | 3${i}`);
      await pub.expectBytes(`40 02 00 0${i}`);
    }
    await on.expectBytes('32 06 | 00 01 74 | 00 01 | 31');
    await on.expectBytes('32 06 | 00 01 74 | 00 02 | 32');
    await on.expectBytes('32 06 | 00 01 74 | 00 03 | 33');
    assert.equal(h.engine.sessions.get('off')?.queuedCount, 0);
    on.destroy();
    await waitFor(() => !h.engine.sessions.has('on'));
    pub.write('32 06 | 00 01 74 | 00 04 | 34');
    await pub.expectBytes('40 02 00 04');
    assert.equal(h.engine.sessions.get('off')?.queuedCount, 1);
  });
});

describe('v5 subscription options', () => {
  it('[MQTT-3.8.3-3] No Local: own messages are not sent back', async () => {
    const h = await broker();
    const { client } = await h.connect('c', { version: 5 });
    // "t" with options 0x04 (No Local, QoS 0)
    client.write('82 07 | 00 01 | 00 | 00 01 74 | 04');
    await client.expectBytes('90 04 00 01 00 00');
    client.write('30 05 | 00 01 74 | 00 | 6d'); // own message
    await client.expectNothing();
    const { client: other } = await h.connect('other', { version: 5 });
    other.write('30 05 | 00 01 74 | 00 | 6f');
    await client.expectBytes('30 05 | 00 01 74 | 00 | 6f');
  });

  it('[MQTT-3.3.1-12] [MQTT-3.3.1-13] Retain As Published keeps RETAIN on forwarded messages; otherwise cleared', async () => {
    const h = await broker();
    const { client: rap } = await h.connect('rap', { version: 5 });
    rap.write('82 07 | 00 01 | 00 | 00 01 74 | 08'); // Retain As Published
    await rap.expectBytes('90 04 00 01 00 00');
    const { client: plain } = await h.connect('plain', { version: 5 });
    plain.write('82 07 | 00 01 | 00 | 00 01 74 | 00');
    await plain.expectBytes('90 04 00 01 00 00');
    const { client: pub } = await h.connect('pub', { version: 5 });
    pub.write('31 05 | 00 01 74 | 00 | 72'); // RETAIN 1
    await rap.expectBytes('31 05 | 00 01 74 | 00 | 72');
    await plain.expectBytes('30 05 | 00 01 74 | 00 | 72');
  });

  it('[MQTT-3.3.1-9] [MQTT-3.3.1-10] [MQTT-3.3.1-11] Retain Handling 0 always, 1 only when new, 2 never', async () => {
    const h = await broker();
    const { client: pub } = await h.connect('pub', { version: 5 });
    pub.write('31 05 | 00 01 74 | 00 | 72');
    await waitFor(() => h.engine.index.retainedCount === 1);
    const { client } = await h.connect('c', { version: 5 });
    const subscribeWith = async (packetId: number, options: number): Promise<void> => {
      client.write(Buffer.from([0x82, 0x07, 0x00, packetId, 0x00, 0x00, 0x01, 0x74, options]));
      await client.expectBytes(Buffer.from([0x90, 0x04, 0x00, packetId, 0x00, 0x00]));
    };
    await subscribeWith(1, 0x00); // Retain Handling 0
    await client.expectBytes('31 05 | 00 01 74 | 00 | 72');
    await subscribeWith(2, 0x00); // again, 0: sent again
    await client.expectBytes('31 05 | 00 01 74 | 00 | 72');
    await subscribeWith(3, 0x10); // 1 and the subscription exists: not sent
    await client.expectNothing();
    const { client: fresh } = await h.connect('fresh', { version: 5 });
    fresh.write('82 07 | 00 01 | 00 | 00 01 74 | 10'); // 1 and new: sent
    await fresh.expectBytes('90 04 00 01 00 00');
    await fresh.expectBytes('31 05 | 00 01 74 | 00 | 72');
    const { client: never } = await h.connect('never', { version: 5 });
    never.write('82 07 | 00 01 | 00 | 00 01 74 | 20'); // 2: never
    await never.expectBytes('90 04 00 01 00 00');
    await never.expectNothing();
  });

  it('[MQTT-3.3.4-4] subscription identifier is sent with matching messages', async () => {
    const h = await broker();
    const client = await subscribed(h, 'c', [{ topicFilter: 't', qos: 0 }], 5, 5);
    const { client: pub } = await h.connect('pub', { version: 5 });
    pub.write('30 05 | 00 01 74 | 00 | 78');
    // Properties: Subscription Identifier (0b) = 5.
    await client.expectBytes('30 07 | 00 01 74 | 02 0b 05 | 78');
  });

  it('[MQTT-3.8.3-4] No Local on a shared subscription is a protocol error (DISCONNECT 0x82)', async () => {
    const h = await broker();
    const { client } = await h.connect('c', { version: 5 });
    client.send({
      type: 'subscribe',
      packetId: 1,
      subscriptions: [{ topicFilter: '$share/g/t', qos: 0, noLocal: true }],
    });
    assert.equal((await client.expectPacket('disconnect')).reasonCode, 0x82);
    await client.expectClosed();
  });
});

describe('retained messages', () => {
  it('[MQTT-3.3.1-5] [MQTT-3.3.1-8] stored and sent on subscribe with RETAIN 1', async () => {
    const h = await broker();
    const { client: pub } = await h.connect('pub');
    pub.write('31 05 | 00 01 74 | 76 31'); // retained "v1"
    await waitFor(() => h.engine.index.retainedCount === 1);
    const { client } = await h.connect('c');
    client.write('82 06 | 00 01 | 00 01 74 | 00');
    await client.expectBytes('90 03 00 01 00');
    await client.expectBytes('31 05 | 00 01 74 | 76 31');
  });

  it('[MQTT-3.3.1-5] a new retained message replaces the old one', async () => {
    const h = await broker();
    const { client: pub } = await h.connect('pub');
    pub.write('31 05 | 00 01 74 | 76 31');
    pub.write('33 07 | 00 01 74 | 00 01 | 76 32'); // retained "v2", QoS 1
    await pub.expectBytes('40 02 00 01');
    const { client } = await h.connect('c');
    client.write('82 06 | 00 01 | 00 01 74 | 01');
    await client.expectBytes('90 03 00 01 01');
    await client.expectBytes('33 07 | 00 01 74 | 00 01 | 76 32');
    await client.expectNothing();
  });

  it('[MQTT-3.3.1-6] [MQTT-3.3.1-7] an empty retained payload deletes it (and is forwarded to current subscribers)', async () => {
    const h = await broker();
    const { client: pub } = await h.connect('pub');
    pub.write('31 05 | 00 01 74 | 76 31');
    await waitFor(() => h.engine.index.retainedCount === 1);
    const current = await subscribed(h, 'cur', [{ topicFilter: 't', qos: 0 }]);
    await current.expectBytes('31 05 | 00 01 74 | 76 31');
    pub.write('31 03 | 00 01 74'); // empty payload, RETAIN 1
    await current.expectBytes('30 03 | 00 01 74');
    await waitFor(() => h.engine.index.retainedCount === 0);
    const { client } = await h.connect('c');
    client.write('82 06 | 00 01 | 00 01 74 | 00');
    await client.expectBytes('90 03 00 01 00');
    await client.expectNothing();
  });

  it('[MQTT-3.3.2-5] an expired retained message is not delivered', async () => {
    const h = await broker();
    const { client: pub } = await h.connect('pub', { version: 5 });
    pub.write('31 0a | 00 01 74 | 05 02 00 00 00 01 | 76'); // Message Expiry Interval 1 s
    await waitFor(() => h.engine.index.retainedCount === 1);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const { client } = await h.connect('c', { version: 5 });
    client.write('82 07 | 00 01 | 00 | 00 01 74 | 00');
    await client.expectBytes('90 04 00 01 00 00');
    await client.expectNothing();
  });
});
