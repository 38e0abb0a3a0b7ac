/**
 * Conformance over raw TCP, continued: v5 topic aliases, problem information and subscription identifiers;
 * subscription replacement, unsubscribe and expiry during QoS flows; DISCONNECT size, shared members and
 * sessions; MQTT 3.1.1 retained messages, authorization and wildcard support.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encode } from '../../src/packets/index.js';
import {
  brokerPerTest,
  type ConnectOptions,
  publishPacket,
  rawSubscriber,
} from '../support/broker-harness.js';
import { waitFor } from '../support/raw-client.js';

const broker = brokerPerTest();
const subscriber = rawSubscriber;
const publish = publishPacket;

describe('topic aliases, problem information and subscription identifiers (v5)', () => {
  it('[MQTT-3.1.2-27] no Topic Alias Maximum from the client: every PUBLISH carries the topic name, no alias', async () => {
    const h = await broker();
    const sub = await subscriber(h, 'sub', 't', 0, 5);
    const { client: pub } = await h.connect('pub', { version: 5 });
    pub.write('30 05 | 00 01 74 | 00 | 61');
    pub.write('30 05 | 00 01 74 | 00 | 62');
    // The same topic twice: a broker using aliases would send the second one as an alias only.
    await sub.expectBytes('30 05 | 00 01 74 | 00 | 61');
    await sub.expectBytes('30 05 | 00 01 74 | 00 | 62');
  });

  it('[MQTT-3.3.2-7] [MQTT-3.3.2-8] aliases start at 1, never 0, and do not survive the connection (either way)', async () => {
    const h = await broker();
    const persistent: ConnectOptions = {
      clean: false,
      properties: { sessionExpiryInterval: 60, topicAliasMaximum: 5 },
    };
    const sub = await subscriber(h, 'sub', 't', 0, 5, persistent);
    const { client: pub } = await h.connect('pub', { version: 5 });
    pub.write('30 05 | 00 01 74 | 00 | 61');
    await sub.expectBytes('30 08 | 00 01 74 | 03 23 00 01 | 61'); // alias 1, not 0
    sub.destroy();
    await waitFor(() => h.engine.sessions.get('sub')?.link === undefined);
    const { client: again } = await h.connect('sub', { version: 5, ...persistent });
    pub.write('30 05 | 00 01 74 | 00 | 62');
    // A new connection: the topic is set up again rather than sent as the old alias alone.
    await again.expectBytes('30 08 | 00 01 74 | 03 23 00 01 | 62');
    // Inbound: an alias the client set on its previous connection is unknown on this one.
    const { client: first } = await h.connect('alias', { version: 5 });
    first.write('30 08 | 00 01 74 | 03 23 00 01 | 63');
    first.destroy();
    const { client: second } = await h.connect('alias', { version: 5 });
    second.write('30 07 | 00 00 | 03 23 00 01 | 64');
    assert.equal((await second.expectPacket('disconnect')).reasonCode, 0x82);
    await second.expectClosed();
    // A client sending alias 0 breaks the same rule: Topic Alias invalid.
    const { client: zero } = await h.connect('zero', { version: 5 });
    zero.write('30 08 | 00 01 74 | 03 23 00 00 | 65');
    // The spec names no reason code for receiving alias 0: Protocol Error and Topic Alias invalid both fit.
    assert.ok([0x82, 0x94].includes((await zero.expectPacket('disconnect')).reasonCode ?? 0));
    await zero.expectClosed();
  });

  it('[MQTT-3.1.2-29] Request Problem Information 0: refused SUBSCRIBE, PUBLISH and UNSUBSCRIBE acks carry no properties', async () => {
    const h = await broker();
    await h.broker.addHook({ onAclCheck: (_client, topic) => !topic.startsWith('secret') });
    const { client } = await h.connect('c', { version: 5, properties: { requestProblemInformation: 0 } });
    client.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'secret', qos: 1 }] });
    const suback = await client.expectPacket('suback');
    assert.deepEqual(suback.reasonCodes, [0x87]);
    assert.equal(suback.properties, undefined);
    client.send(publish('secret', 'x', 1, 2));
    const puback = await client.expectPacket('puback');
    assert.equal(puback.reasonCode, 0x87);
    assert.equal(puback.properties, undefined);
    client.send({ type: 'unsubscribe', packetId: 3, topicFilters: ['none'] });
    const unsuback = await client.expectPacket('unsuback');
    assert.deepEqual(unsuback.reasonCodes, [0x11]);
    assert.equal(unsuback.properties, undefined);
  });

  it('[MQTT-3.3.4-5] a shared and a plain subscription of one client: two copies, each with its own identifier', async () => {
    const h = await broker();
    const { client } = await h.connect('c', { version: 5 });
    client.write('82 09 | 00 01 | 02 0b 01 | 00 01 74 | 00'); // "t", Subscription Identifier 1
    await client.expectBytes('90 04 00 01 00 00');
    client.write('82 12 | 00 02 | 02 0b 02 | 00 0a 24 73 68 61 72 65 2f 67 2f 74 | 00'); // "$share/g/t", id 2
    await client.expectBytes('90 04 00 02 00 00');
    const { client: pub } = await h.connect('pub', { version: 5 });
    pub.write('30 05 | 00 01 74 | 00 | 78');
    const ids: (number[] | undefined)[] = [];
    for (let i = 0; i < 2; i++) {
      const copy = await client.expectPacket('publish');
      assert.equal(copy.payload.toString(), 'x');
      ids.push(copy.properties?.subscriptionIdentifiers);
    }
    assert.deepEqual(ids.sort(), [[1], [2]]);
    await client.expectNothing();
  });
});

describe('subscription replacement, unsubscribe and expiry during QoS flows', () => {
  it('[MQTT-3.8.4-4] replacing a subscription with Retain Handling 0: retained sent again, nothing lost', async () => {
    const h = await broker();
    const { client: pub } = await h.connect('pub', { version: 5 });
    pub.write('31 05 | 00 01 74 | 00 | 72'); // retained "r"
    await waitFor(() => h.engine.index.retainedCount === 1);
    const { client } = await h.connect('c', { version: 5 });
    client.write('82 07 | 00 01 | 00 | 00 01 74 | 01'); // "t" QoS 1, Retain Handling 0
    await client.expectBytes('90 04 00 01 00 01');
    await client.expectBytes('31 05 | 00 01 74 | 00 | 72');
    pub.write('32 07 | 00 01 74 | 00 07 | 00 | 6d'); // QoS 1 "m", left unacknowledged by c
    await client.expectBytes('32 07 | 00 01 74 | 00 01 | 00 | 6d');
    client.write('82 07 | 00 02 | 00 | 00 01 74 | 01'); // the same filter again: a replacement
    await client.expectBytes('90 04 00 02 00 01');
    await client.expectBytes('31 05 | 00 01 74 | 00 | 72');
    // The message in flight before the replacement still completes; later ones arrive.
    client.write('40 02 00 01');
    pub.write('32 07 | 00 01 74 | 00 08 | 00 | 6e');
    await client.expectBytes('32 07 | 00 01 74 | 00 02 | 00 | 6e');
    await client.expectNothing();
  });

  it('[MQTT-3.10.4-3] (same id in 3.1.1) UNSUBSCRIBE does not cancel QoS 1 and 2 deliveries already started', async () => {
    const h = await broker();
    const s = await subscriber(h, 's', 't', 2, 4, { clean: false });
    const { client: pub } = await h.connect('pub');
    pub.send(publish('t', 'two', 2, 1));
    await pub.expectBytes('50 02 00 01');
    await s.expectBytes('34 08 | 00 01 74 | 00 01 | 74 77 6f');
    pub.send(publish('t', 'one', 1, 2));
    await s.expectBytes('32 08 | 00 01 74 | 00 02 | 6f 6e 65');
    s.write('a2 05 | 00 09 | 00 01 74');
    await s.expectBytes('b0 02 00 09');
    // QoS 2: PUBREC after the UNSUBACK still gets its PUBREL.
    s.write('50 02 00 01');
    await s.expectBytes('62 02 00 01');
    s.write('70 02 00 01');
    // QoS 1: still unacknowledged, so it is sent again when the session resumes.
    s.destroy();
    await waitFor(() => h.engine.sessions.get('s')?.link === undefined);
    const { client: again } = await h.connect('s', { clean: false });
    await again.expectBytes('3a 08 | 00 01 74 | 00 02 | 6f 6e 65');
    again.write('40 02 00 02');
    pub.send(publish('t', 'late', 1, 3));
    await again.expectNothing();
  });

  it('[MQTT-4.3.3-7] [MQTT-4.3.3-13] QoS 2 with a 1 s Message Expiry: both flows complete after it expired', async () => {
    const h = await broker();
    const persistent: ConnectOptions = { clean: false, properties: { sessionExpiryInterval: 60 } };
    await subscriber(h, 's', 't', 2, 5, persistent);
    const { client: pub } = await h.connect('pub', { version: 5 });
    pub.write('34 0c | 00 01 74 | 00 07 | 05 02 00 00 00 01 | 78'); // QoS 2, id 7, expiry 1 s
    await pub.expectBytes('50 02 00 07');
    const first = h.engine.sessions.get('s');
    await waitFor(() => first?.inflight.size === 1, 2000, 'QoS 2 PUBLISH sent to s');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    // Receiver side: the PUBREL after the expiry still completes the flow (no 0x92).
    pub.write('62 02 00 07');
    await pub.expectBytes('70 02 00 07');
    // Sender side: the PUBLISH was sent, so expiry no longer applies: it is resent on resume.
    const { client: again } = await h.connect('s', { version: 5, ...persistent });
    const resent = await again.expectPacket('publish');
    assert.equal(resent.dup, true);
    assert.equal(resent.qos, 2);
    assert.equal(resent.payload.toString(), 'x');
    again.write(Buffer.from([0x50, 0x02, 0x00, resent.packetId ?? 0]));
    assert.equal((await again.expectPacket('pubrel')).packetId, resent.packetId);
  });
});

describe('server DISCONNECT size, shared members and sessions', () => {
  it('[MQTT-3.14.2-3] [MQTT-3.14.2-4] a DISCONNECT over the client Maximum Packet Size goes without Reason String', async () => {
    const h = await broker();
    const { client: roomy } = await h.connect('roomy', { version: 5 });
    // A second CONNECT is a Protocol Error whose DISCONNECT normally explains itself in a Reason String.
    const second = {
      type: 'connect',
      protocolName: 'MQTT',
      protocolVersion: 5,
      clean: true,
      keepalive: 0,
    } as const;
    roomy.send({ ...second, clientId: 'roomy' });
    const explained = await roomy.expectPacket('disconnect');
    assert.ok((explained.properties?.reasonString?.length ?? 0) > 0);
    // One byte too small for that DISCONNECT: the broker must leave the Reason String out.
    const maximumPacketSize = encode(explained, 5).length - 1;
    const { client } = await h.connect('c', { version: 5, properties: { maximumPacketSize } });
    client.send({ ...second, clientId: 'c' });
    await client.expectBytes('e0 01 82'); // reason code only, no properties
    await client.expectClosed();
  });

  it('[MQTT-4.8.2-5] a shared member whose session ends with a message unacknowledged: no other member gets it', async () => {
    const h = await broker();
    const a = await subscriber(h, 'a', '$share/g/t', 1, 5);
    const { client: pub } = await h.connect('pub', { version: 5 });
    pub.send(publish('t', 'm1', 1, 1), 5);
    await pub.expectPacket('puback');
    assert.equal((await a.expectPacket('publish')).payload.toString(), 'm1');
    const b = await subscriber(h, 'b', '$share/g/t', 1, 5);
    a.destroy(); // Session Expiry 0: the session of "a" ends with its connection
    await waitFor(() => !h.engine.sessions.has('a'), 2000, 'session of a ended');
    await b.expectNothing();
    pub.send(publish('t', 'm2', 1, 2), 5);
    assert.equal((await b.expectPacket('publish')).payload.toString(), 'm2');
  });

  it('[MQTT-4.5.0-1] 3.1.1 [MQTT-4.1.0-2] a Clean Session 1 session lasts while connected; messages join its state', async () => {
    const h = await broker();
    const c = await subscriber(h, 'c', 't', 1);
    const { client: pub } = await h.connect('pub');
    pub.send(publish('t', 'a', 1, 1));
    await c.expectBytes('32 06 | 00 01 74 | 00 01 | 61');
    // Other sessions starting and ending leave this one alone.
    const { client: other } = await h.connect('other');
    other.write('e0 00');
    await other.expectClosed();
    pub.send(publish('t', 'b', 1, 2));
    // Packet id 2: the session still holds message 1 unacknowledged, so its state went on.
    await c.expectBytes('32 06 | 00 01 74 | 00 02 | 62');
  });
});

describe('MQTT 3.1.1 retained messages, authorization and wildcard support', () => {
  it('3.1.1 [MQTT-3.1.2-7] a retained message outlives the session of its publisher', async () => {
    const h = await broker();
    const { client: pub } = await h.connect('pub');
    pub.write('31 05 | 00 01 74 | 76 31');
    pub.write('e0 00');
    await pub.expectClosed();
    await waitFor(() => !h.engine.sessions.has('pub'), 2000, 'publisher session ended');
    const { client } = await h.connect('c');
    client.write('82 06 | 00 01 | 00 01 74 | 00');
    await client.expectBytes('90 03 00 01 00');
    await client.expectBytes('31 05 | 00 01 74 | 76 31');
  });

  it('3.1.1 [MQTT-3.3.1-7] a QoS 0 retained message replaces a retained QoS 1 one', async () => {
    const h = await broker();
    const { client: pub } = await h.connect('pub');
    pub.write('33 07 | 00 01 74 | 00 01 | 76 31'); // retained QoS 1 "v1"
    await pub.expectBytes('40 02 00 01');
    pub.write('31 05 | 00 01 74 | 76 32'); // retained QoS 0 "v2"
    pub.write('c0 00');
    await pub.expectBytes('d0 00');
    const { client } = await h.connect('c');
    client.write('82 06 | 00 01 | 00 01 74 | 01');
    await client.expectBytes('90 03 00 01 01');
    await client.expectBytes('31 05 | 00 01 74 | 76 32'); // QoS 0 now, "v2" only
    await client.expectNothing();
  });

  it('3.1.1 [MQTT-3.3.5-2] an unauthorized PUBLISH is acknowledged positively and not delivered', async () => {
    const h = await broker();
    await h.broker.addHook({
      onAclCheck: (_client, topic, access) => access === 'read' || !topic.startsWith('secret'),
    });
    const watch = await subscriber(h, 'watch', '#', 2);
    const { client } = await h.connect('c');
    client.write('32 0b | 00 06 73 65 63 72 65 74 | 00 01 | 78'); // "secret" QoS 1, id 1
    await client.expectBytes('40 02 00 01');
    client.write('34 0b | 00 06 73 65 63 72 65 74 | 00 02 | 79'); // QoS 2, id 2
    await client.expectBytes('50 02 00 02');
    client.write('62 02 00 02');
    await client.expectBytes('70 02 00 02');
    await watch.expectNothing();
  });

  it('3.1.1 [MQTT-3.8.3-2] without wildcard support wildcard filters are refused (0x80), plain ones granted', async () => {
    const h = await broker({ wildcardSubscriptionAvailable: false });
    const { client } = await h.connect('c');
    client.write('82 10 | 00 01 | 00 03 61 2f 2b 00 | 00 01 23 00 | 00 01 74 01');
    await client.expectBytes('90 05 00 01 80 80 01');
    const { client: v5 } = await h.connect('v5', { version: 5 });
    v5.write('82 09 | 00 01 | 00 | 00 03 61 2f 23 00');
    await v5.expectBytes('90 04 00 01 00 a2');
  });
});
