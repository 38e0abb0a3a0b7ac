/**
 * Conformance over raw TCP for server statements the other conformance files do not name: PINGREQ,
 * UNSUBSCRIBE, SUBSCRIBE bookkeeping, refused CONNECTs, packet identifiers and the QoS 1/2 state machines in
 * both directions, ordering (4.6), topic rules (4.7), shared subscriptions (4.8), flow control (4.9),
 * session expiry (4.1) and enhanced authentication through a hook (4.12).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Hook } from '../../src/index.js';
import { encode } from '../../src/packets/index.js';
import type { QoS } from '../../src/packets/types.js';
import { brokerPerTest, publishPacket, rawSubscriber } from '../support/broker-harness.js';
import { type RawClient, waitFor } from '../support/raw-client.js';

const broker = brokerPerTest();
const subscriber = rawSubscriber;
const publish = publishPacket;

describe('PINGREQ, SUBSCRIBE and UNSUBSCRIBE bookkeeping', () => {
  it('[MQTT-3.12.4-1] PINGREQ is answered with PINGRESP in 3.1.1 and 5.0', async () => {
    const h = await broker();
    const { client: v3 } = await h.connect('v3');
    v3.write('c0 00');
    await v3.expectBytes('d0 00');
    const { client: v5 } = await h.connect('v5', { version: 5 });
    v5.write('c0 00');
    await v5.expectBytes('d0 00');
  });

  it('[MQTT-3.10.4-1] [MQTT-3.10.4-2] [MQTT-3.10.4-4] 3.1.1: UNSUBACK with the id; only the identical filter is deleted', async () => {
    const h = await broker();
    const { client } = await h.connect('c');
    client.write('82 0e | 00 01 | 00 03 61 2f 2b 00 | 00 03 61 2f 23 00'); // SUBSCRIBE a/+ and a/#, QoS 0
    await client.expectBytes('90 04 00 01 00 00');
    // "a/x" is matched by a/+ but is not a/+ character by character: nothing is deleted.
    client.write('a2 07 | 00 09 | 00 03 61 2f 78');
    await client.expectBytes('b0 02 00 09');
    client.write('a2 07 | 00 0a | 00 03 61 2f 2b'); // UNSUBSCRIBE a/+
    await client.expectBytes('b0 02 00 0a');
    const { client: pub } = await h.connect('pub');
    pub.write('30 06 | 00 03 61 2f 62 | 31'); // "a/b" "1"
    // One copy only, through a/#: the deleted a/+ adds nothing.
    await client.expectBytes('30 06 | 00 03 61 2f 62 | 31');
    await client.expectNothing();
  });

  it('[MQTT-3.10.4-5] [MQTT-3.10.4-6] [MQTT-3.11.3-1] v5: one UNSUBACK, a reason code per filter in order', async () => {
    const h = await broker();
    const { client } = await h.connect('c', { version: 5 });
    client.write('82 08 | 00 01 | 00 | 00 02 61 62 | 00'); // SUBSCRIBE "ab"
    await client.expectBytes('90 04 00 01 00 00');
    client.write('a2 0b | 00 05 | 00 | 00 02 7a 7a | 00 02 61 62'); // UNSUBSCRIBE "zz", "ab"
    await client.expectBytes('b0 05 00 05 00 11 00'); // 0x11 No subscription existed, then 0x00
  });

  it('[MQTT-3.8.4-2] [MQTT-3.8.4-5] [MQTT-3.8.4-7] [MQTT-3.9.3-1] one SUBACK with the id, the granted QoS per filter in order', async () => {
    const h = await broker();
    const { client } = await h.connect('c');
    client.write('82 0e | 12 34 | 00 01 61 02 | 00 01 62 00 | 00 01 63 01'); // a QoS 2, b QoS 0, c QoS 1
    await client.expectBytes('90 05 12 34 02 00 01');
  });

  it('[MQTT-3.2.2-10] with Maximum QoS 1 a QoS 2 SUBSCRIBE is accepted and granted QoS 1', async () => {
    const h = await broker({ maximumQoS: 1 });
    const { client } = await h.connect('c', { version: 5 });
    client.write('82 07 | 00 01 | 00 | 00 01 74 | 02');
    await client.expectBytes('90 04 00 01 00 01');
  });

  it('[MQTT-4.7.3-1] (same id in 3.1.1) an empty topic filter is refused in the SUBACK', async () => {
    const h = await broker();
    const { client } = await h.connect('c');
    client.write('82 05 | 00 01 | 00 00 | 00');
    await client.expectBytes('90 03 00 01 80');
  });
});

describe('refused CONNECT', () => {
  it('[MQTT-3.2.2-12] [MQTT-3.2.2-6] [MQTT-3.2.2-7] [MQTT-4.13.2-1] Will QoS above Maximum QoS: CONNACK 0x9B, Session Present 0, closed', async () => {
    const h = await broker({ maximumQoS: 1 });
    const c = await h.open(5);
    c.send({
      type: 'connect',
      protocolName: 'MQTT',
      protocolVersion: 5,
      clean: false,
      keepalive: 0,
      clientId: 'w',
      will: { topic: 'w', payload: Buffer.from('x'), qos: 2, retain: false },
    });
    const connack = await c.expectPacket('connack');
    assert.equal(connack.reasonCode, 0x9b);
    assert.equal(connack.sessionPresent, false);
    await c.expectClosed();
  });

  it('[MQTT-3.2.2-13] [MQTT-3.14.0-1] Will Retain without retain support: CONNACK 0x9A, no DISCONNECT, closed', async () => {
    const h = await broker({ retainAvailable: false });
    const c = await h.open(5);
    c.send({
      type: 'connect',
      protocolName: 'MQTT',
      protocolVersion: 5,
      clean: true,
      keepalive: 0,
      clientId: 'w',
      will: { topic: 'w', payload: Buffer.from('x'), qos: 0, retain: true },
    });
    assert.equal((await c.expectPacket('connack')).reasonCode, 0x9a);
    // expectClosed fails on any byte after the CONNACK, a DISCONNECT included.
    await c.expectClosed();
  });

  it('[MQTT-3.1.4-6] (3.1.1: [MQTT-3.1.4-5]) a PUBLISH behind a refused CONNECT is not processed', async () => {
    const h = await broker({ maximumQoS: 1 });
    const sub = await subscriber(h, 'sub', 't', 0);
    const c = await h.open(5);
    const connect = {
      type: 'connect',
      protocolName: 'MQTT',
      protocolVersion: 5,
      clean: true,
      keepalive: 0,
      clientId: 'bad',
      will: { topic: 'w', payload: Buffer.from('x'), qos: 2, retain: false },
    } as const;
    // Both packets in one write: the broker has the PUBLISH in hand when it refuses the CONNECT.
    c.write(Buffer.concat([encode(connect, 5), encode(publish('t', 'leak'), 5)]));
    assert.equal((await c.expectPacket('connack')).reasonCode, 0x9b);
    await c.expectClosed();
    await sub.expectNothing();
  });
});

describe('session state', () => {
  it('[MQTT-3.1.2-6] [MQTT-3.1.3-2] [MQTT-4.1.0-1] Clean Start 0 without a session creates one, found again by client id', async () => {
    const h = await broker();
    const properties = { sessionExpiryInterval: 60 };
    const first = await h.connect('keep', { version: 5, clean: false, properties });
    assert.equal(first.connack.sessionPresent, false);
    first.client.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 't', qos: 1 }] });
    await first.client.expectPacket('suback');
    first.client.send({ type: 'disconnect', reasonCode: 0 });
    await first.client.expectClosed();
    const second = await h.connect('keep', { version: 5, clean: false, properties });
    assert.equal(second.connack.sessionPresent, true);
    const { client: pub } = await h.connect('pub', { version: 5 });
    pub.send(publish('t', 'kept'));
    const got = await second.client.expectPacket('publish');
    assert.equal(got.payload.toString(), 'kept');
  });

  it('3.1.1 [MQTT-3.1.2-6] Clean Session 1: the session ends with the connection', async () => {
    const h = await broker();
    const { client: v3 } = await h.connect('v3', { clean: true });
    assert.ok(h.engine.sessions.has('v3'));
    v3.destroy();
    await waitFor(() => !h.engine.sessions.has('v3'), 2000, 'v3 session removed');
  });

  it('[MQTT-4.1.0-2] the session is discarded once the Session Expiry Interval after close has passed', async () => {
    const h = await broker();
    const { client } = await h.connect('v5', {
      version: 5,
      clean: false,
      properties: { sessionExpiryInterval: 1 },
    });
    client.destroy();
    await waitFor(() => h.engine.sessions.get('v5')?.link === undefined, 2000, 'v5 session offline');
    assert.ok(h.engine.sessions.has('v5'), 'kept while the interval runs');
    await waitFor(() => !h.engine.sessions.has('v5'), 4000, 'v5 session expired');
    const again = await h.connect('v5', {
      version: 5,
      clean: false,
      properties: { sessionExpiryInterval: 1 },
    });
    assert.equal(again.connack.sessionPresent, false);
  });

  it('[MQTT-3.2.2-16] [MQTT-3.1.3-5] assigned client identifiers are unique; a 23-character id is accepted', async () => {
    const h = await broker();
    const a = await h.connect('', { version: 5 });
    const b = await h.connect('', { version: 5 });
    const idA = a.connack.properties?.assignedClientIdentifier;
    const idB = b.connack.properties?.assignedClientIdentifier;
    assert.ok(idA !== undefined && idA.length > 0);
    assert.notEqual(idA, idB);
    const { connack } = await h.connect('0123456789abcdefghijKLM');
    assert.equal(connack.reasonCode, 0);
  });
});

describe('server DISCONNECT', () => {
  it('[MQTT-3.14.4-1] [MQTT-3.14.4-2] [MQTT-4.13.1-1] after its DISCONNECT the server sends nothing more and closes', async () => {
    const h = await broker();
    const sub = await subscriber(h, 'c', 't', 0, 5);
    const { client: pub } = await h.connect('pub', { version: 5 });
    // A PINGRESP from a client is a Protocol Error; the PUBLISH that follows must not reach the client.
    sub.write('d0 00');
    pub.send(publish('t', 'after'));
    assert.equal((await sub.expectPacket('disconnect')).reasonCode, 0x82);
    await sub.expectClosed();
  });
});

describe('packet identifiers and QoS flows', () => {
  it('[MQTT-2.2.1-4] [MQTT-2.2.1-2] (3.1.1: [MQTT-2.3.1-4] [MQTT-2.3.1-5]) distinct non-zero ids for QoS 1, none for QoS 0', async () => {
    const h = await broker();
    const q1 = await subscriber(h, 'q1', 't', 1);
    const q0 = await subscriber(h, 'q0', 't', 0);
    const { client: pub } = await h.connect('pub');
    for (let i = 1; i <= 3; i++) {
      pub.send(publish('t', `m${i}`, 1, i));
      await pub.expectPacket('puback');
    }
    const ids = new Set<number>();
    for (let i = 1; i <= 3; i++) {
      const p = await q1.expectPacket('publish');
      assert.ok(p.packetId !== undefined && p.packetId > 0);
      ids.add(p.packetId);
    }
    assert.equal(ids.size, 3);
    // QoS 0 copy: header 0x30, topic, payload; no packet identifier.
    for (let i = 1; i <= 3; i++) await q0.expectBytes(`30 05 | 00 01 74 | 6d 3${i}`);
  });

  it('[MQTT-3.3.4-1] [MQTT-4.3.2-4] [MQTT-4.3.2-5] (3.1.1: [MQTT-4.3.2-2]) PUBACK with the id; the same id again is a new message', async () => {
    const h = await broker();
    const sub = await subscriber(h, 'sub', 't', 0);
    const { client: pub } = await h.connect('pub');
    pub.write('32 06 | 00 01 74 | 00 07 | 61');
    await pub.expectBytes('40 02 00 07');
    pub.write('32 06 | 00 01 74 | 00 07 | 62');
    await pub.expectBytes('40 02 00 07');
    await sub.expectBytes('30 04 00 01 74 61');
    await sub.expectBytes('30 04 00 01 74 62');
  });

  it('[MQTT-4.3.3-8] [MQTT-4.3.3-10] [MQTT-4.3.3-11] [MQTT-4.3.3-12] (3.1.1: [MQTT-4.3.3-2]) QoS 2 receiver: exactly once per id use', async () => {
    const h = await broker();
    const sub = await subscriber(h, 'sub', 't', 0);
    const { client: pub } = await h.connect('pub');
    pub.write('34 06 | 00 01 74 | 00 09 | 61');
    await pub.expectBytes('50 02 00 09'); // PUBREC 9
    pub.write('3c 06 | 00 01 74 | 00 09 | 61'); // DUP re-send before PUBREL
    await pub.expectBytes('50 02 00 09');
    pub.write('62 02 00 09'); // PUBREL
    await pub.expectBytes('70 02 00 09'); // PUBCOMP 9
    await sub.expectBytes('30 04 00 01 74 61');
    await sub.expectNothing(100);
    pub.write('34 06 | 00 01 74 | 00 09 | 62'); // after PUBCOMP, id 9 is a new message
    await pub.expectBytes('50 02 00 09');
    pub.write('62 02 00 09');
    await pub.expectBytes('70 02 00 09');
    await sub.expectBytes('30 04 00 01 74 62');
  });

  it('[MQTT-4.3.2-3] [MQTT-3.3.1-3] (3.1.1: [MQTT-4.3.2-1]) QoS 1 sender: unacknowledged until PUBACK, re-sent with DUP on resume', async () => {
    const h = await broker();
    const sub = await subscriber(h, 'sub', 't', 1, 4, { clean: false });
    const { client: pub } = await h.connect('pub');
    pub.send(publish('t', 'a', 1, 1));
    await sub.expectBytes('32 06 | 00 01 74 | 00 01 | 61');
    sub.destroy();
    const { client: again } = await h.connect('sub', { clean: false });
    await again.expectBytes('3a 06 | 00 01 74 | 00 01 | 61');
    again.write('40 02 00 01');
    await waitFor(() => h.engine.sessions.get('sub')?.inflight.size === 0);
  });

  it('[MQTT-4.3.3-3] [MQTT-4.3.3-4] [MQTT-4.3.3-5] [MQTT-4.3.3-6] (3.1.1: [MQTT-4.3.3-1]) QoS 2 sender: PUBLISH until PUBREC, then PUBREL until PUBCOMP', async () => {
    const h = await broker();
    const sub = await subscriber(h, 'sub', 't', 2, 4, { clean: false });
    const { client: pub } = await h.connect('pub');
    pub.write('34 06 | 00 01 74 | 00 01 | 61');
    await pub.expectBytes('50 02 00 01');
    pub.write('62 02 00 01');
    await pub.expectBytes('70 02 00 01');
    await sub.expectBytes('34 06 | 00 01 74 | 00 01 | 61');
    sub.destroy();
    const { client: second } = await h.connect('sub', { clean: false });
    await second.expectBytes('3c 06 | 00 01 74 | 00 01 | 61'); // no PUBREC yet: PUBLISH again, DUP 1
    second.write('50 02 00 01'); // PUBREC
    await second.expectBytes('62 02 00 01'); // PUBREL, same id
    second.destroy();
    const { client: third } = await h.connect('sub', { clean: false });
    await third.expectBytes('62 02 00 01'); // PUBREL again, never the PUBLISH
    third.write('70 02 00 01'); // PUBCOMP
    await waitFor(() => h.engine.sessions.get('sub')?.inflight.size === 0);
    await third.expectNothing(100);
  });

  it('[MQTT-4.4.0-2] PUBREC or PUBACK with a reason code >= 0x80 acknowledges: no PUBREL, no re-send', async () => {
    const h = await broker();
    const properties = { sessionExpiryInterval: 60 };
    const sub2 = await subscriber(h, 'q2', 't', 2, 5, { clean: false, properties });
    const sub1 = await subscriber(h, 'q1', 't', 1, 5, { clean: false, properties });
    const { client: pub } = await h.connect('pub', { version: 5 });
    pub.send(publish('t', 'a', 2, 1));
    await pub.expectPacket('pubrec');
    const m2 = await sub2.expectPacket('publish');
    const m1 = await sub1.expectPacket('publish');
    sub2.send({ type: 'pubrec', packetId: m2.packetId ?? 0, reasonCode: 0x80 });
    sub1.send({ type: 'puback', packetId: m1.packetId ?? 0, reasonCode: 0x80 });
    await sub2.expectNothing(100);
    await waitFor(() => h.engine.sessions.get('q2')?.inflight.size === 0, 2000, 'q2 inflight empty');
    await waitFor(() => h.engine.sessions.get('q1')?.inflight.size === 0, 2000, 'q1 inflight empty');
    sub2.destroy();
    sub1.destroy();
    for (const id of ['q2', 'q1']) {
      const { client, connack } = await h.connect(id, { version: 5, clean: false, properties });
      assert.equal(connack.sessionPresent, true);
      await client.expectNothing(100);
    }
  });
});

describe('ordering and topics', () => {
  it('[MQTT-4.6.0-5] [MQTT-4.6.0-6] (same ids in 3.1.1) messages of one publisher arrive in order, QoS mixed', async () => {
    const h = await broker();
    const sub = await subscriber(h, 'sub', 'o/#', 1);
    const { client: pub } = await h.connect('pub');
    const count = 30;
    for (let i = 0; i < count; i++) {
      const qos = (i % 3) as QoS;
      pub.send(publish(`o/${i % 2}`, String(i), qos, qos === 0 ? undefined : i + 1));
    }
    const seen: string[] = [];
    for (let i = 0; i < count; i++) {
      const p = await sub.expectPacket('publish');
      seen.push(p.payload.toString());
      if (p.qos === 1) sub.send({ type: 'puback', packetId: p.packetId ?? 0 });
    }
    assert.deepEqual(
      seen,
      Array.from({ length: count }, (_, i) => String(i)),
    );
  });

  it('[MQTT-4.7.3-4] [MQTT-3.3.2-3] (same ids in 3.1.1) no normalisation; the topic name is sent, not the filter', async () => {
    const h = await broker();
    const exact = await subscriber(h, 'exact', 'a/b', 0);
    const wild = await subscriber(h, 'wild', 'a/+', 0);
    const { client: pub } = await h.connect('pub');
    for (const topic of ['A/b', 'a//b', 'a/b/', ' a/b']) pub.send(publish(topic, 'x'));
    pub.send(publish('a/c', 'y'));
    // a/+ matches only "a/c": "a//b" and "a/b/" have three levels, "A/b" and " a/b" differ in a character.
    await wild.expectBytes('30 06 | 00 03 61 2f 63 | 79');
    await exact.expectNothing();
    await wild.expectNothing(50);
  });
});

describe('shared subscriptions', () => {
  it('[MQTT-4.8.2-3] a member gets the message at most at its granted QoS', async () => {
    const h = await broker();
    const member = await subscriber(h, 'm', '$share/g/t', 0, 5);
    const { client: pub } = await h.connect('pub', { version: 5 });
    pub.send(publish('t', 'q1', 1, 3));
    await pub.expectPacket('puback');
    const got = await member.expectPacket('publish');
    assert.equal(got.qos, 0);
    assert.equal(got.payload.toString(), 'q1');
  });

  it('[MQTT-4.8.2-6] a member answering PUBACK >= 0x80: the message is not sent to another member', async () => {
    const h = await broker();
    const a = await subscriber(h, 'a', '$share/g/t', 1, 5);
    const b = await subscriber(h, 'b', '$share/g/t', 1, 5);
    const { client: pub } = await h.connect('pub', { version: 5 });
    pub.send(publish('t', 'once', 1, 1));
    await pub.expectPacket('puback');
    // Exactly one member is chosen; it refuses the message.
    const first = await Promise.any([
      a.expectPacket('publish', 1000).then((p) => ({ who: a, other: b, p })),
      b.expectPacket('publish', 1000).then((p) => ({ who: b, other: a, p })),
    ]);
    first.who.send({ type: 'puback', packetId: first.p.packetId ?? 0, reasonCode: 0x80 });
    await first.other.expectNothing();
    await first.who.expectNothing(50);
  });

  it('(spec 4.8.2, no statement id) retained messages are not sent on subscribing to a shared subscription', async () => {
    const h = await broker();
    const { client: pub } = await h.connect('pub', { version: 5 });
    pub.write('31 05 | 00 01 74 | 00 | 72'); // retained "r"
    await waitFor(() => h.engine.index.retainedCount === 1);
    const member = await subscriber(h, 'm', '$share/g/t', 0, 5);
    await member.expectNothing();
    const plain = await subscriber(h, 'p', 't', 0, 5);
    assert.equal((await plain.expectPacket('publish')).retain, true);
  });
});

describe('flow control (v5 Receive Maximum)', () => {
  it('[MQTT-4.9.0-1] [MQTT-4.9.0-2] [MQTT-4.9.0-3] [MQTT-3.3.4-10] quota 0: no more QoS 1 sends, other packets still flow', async () => {
    const h = await broker();
    const sub = await subscriber(h, 'sub', 't', 1, 5, { properties: { receiveMaximum: 1 } });
    const { client: pub } = await h.connect('pub', { version: 5 });
    pub.send(publish('t', 'one', 1, 1));
    pub.send(publish('t', 'two', 1, 2));
    const first = await sub.expectPacket('publish');
    assert.equal(first.payload.toString(), 'one');
    // Quota is 0: no second PUBLISH, but PINGREQ and SUBSCRIBE are answered at once.
    sub.write('c0 00');
    await sub.expectBytes('d0 00');
    sub.send({ type: 'subscribe', packetId: 2, subscriptions: [{ topicFilter: 'u', qos: 0 }] });
    assert.deepEqual((await sub.expectPacket('suback')).reasonCodes, [0]);
    await sub.expectNothing();
    sub.send({ type: 'puback', packetId: first.packetId ?? 0 });
    const second = await sub.expectPacket('publish');
    assert.equal(second.payload.toString(), 'two');
  });
});

describe('enhanced authentication (hook driven)', () => {
  const METHOD = 'TOKEN';
  /** Connect data "hello" gets a challenge; AUTH data "good" passes, anything else fails with 0x87. */
  const tokenHook: Hook = {
    onAuthPacket(_client, method, data, reauth) {
      if (method !== METHOD) return undefined;
      const text = data?.toString() ?? '';
      if (text === 'hello' && !reauth) return { action: 'continue', data: Buffer.from('challenge') };
      if (text === 'good') return { action: 'success', data: Buffer.from('welcome') };
      return { action: 'fail', reasonCode: 0x87 };
    },
  };

  function connectWith(c: RawClient, method: string, data: string): void {
    c.send({
      type: 'connect',
      protocolName: 'MQTT',
      protocolVersion: 5,
      clean: true,
      keepalive: 0,
      clientId: 'auth',
      properties: { authenticationMethod: method, authenticationData: Buffer.from(data) },
    });
  }

  it('[MQTT-4.12.0-2] [MQTT-4.12.0-5] challenge with AUTH 0x18; CONNACK carries the same method', async () => {
    const h = await broker();
    await h.broker.addHook(tokenHook);
    const c = await h.open(5);
    connectWith(c, METHOD, 'hello');
    const challenge = await c.expectPacket('auth');
    assert.equal(challenge.reasonCode, 0x18);
    assert.equal(challenge.properties?.authenticationMethod, METHOD);
    assert.equal(challenge.properties?.authenticationData?.toString(), 'challenge');
    c.send({
      type: 'auth',
      reasonCode: 0x18,
      properties: { authenticationMethod: METHOD, authenticationData: Buffer.from('good') },
    });
    const connack = await c.expectPacket('connack');
    assert.equal(connack.reasonCode, 0);
    assert.equal(connack.properties?.authenticationMethod, METHOD);
    assert.equal(connack.properties?.authenticationData?.toString(), 'welcome');
  });

  it('[MQTT-4.12.0-4] [MQTT-3.1.4-2] a wrong answer: CONNACK 0x87, then closed', async () => {
    const h = await broker();
    await h.broker.addHook(tokenHook);
    const c = await h.open(5);
    connectWith(c, METHOD, 'hello');
    await c.expectPacket('auth');
    c.send({
      type: 'auth',
      reasonCode: 0x18,
      properties: { authenticationMethod: METHOD, authenticationData: Buffer.from('bad') },
    });
    assert.equal((await c.expectPacket('connack')).reasonCode, 0x87);
    await c.expectClosed();
  });

  it('[MQTT-4.12.0-1] a method no hook supports: CONNACK 0x8C, then closed', async () => {
    const h = await broker();
    await h.broker.addHook(tokenHook);
    const c = await h.open(5);
    connectWith(c, 'SCRAM-UNKNOWN', 'x');
    assert.equal((await c.expectPacket('connack')).reasonCode, 0x8c);
    await c.expectClosed();
  });

  it('[MQTT-4.12.0-6] no Authentication Method in CONNECT: no AUTH, none in CONNACK', async () => {
    const h = await broker();
    await h.broker.addHook(tokenHook);
    const { client, connack } = await h.connect('plain', { version: 5 });
    assert.equal(connack.properties?.authenticationMethod, undefined);
    await client.expectNothing(50);
  });

  it('[MQTT-4.12.1-2] failed re-authentication: DISCONNECT with the reason code, then closed', async () => {
    const h = await broker();
    await h.broker.addHook(tokenHook);
    const c = await h.open(5);
    connectWith(c, METHOD, 'good');
    assert.equal((await c.expectPacket('connack')).reasonCode, 0);
    c.send({
      type: 'auth',
      reasonCode: 0x19,
      properties: { authenticationMethod: METHOD, authenticationData: Buffer.from('bad') },
    });
    assert.equal((await c.expectPacket('disconnect')).reasonCode, 0x87);
    await c.expectClosed();
  });
});
