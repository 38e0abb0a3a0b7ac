/**
 * Conformance over raw TCP: session state across connections (Clean Session / Clean Start, Session
 * Expiry, Session Present), the offline queue and its limits, and resending unacknowledged messages
 * with DUP when a session resumes.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { type BrokerHarness, startBroker } from '../support/broker-harness.js';
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

// 3.1.1 CONNECT for client id "s1", keep alive 0: Clean Session 0 (flags 00) and 1 (flags 02).
const CONNECT_S1_PERSISTENT = '10 0e | 00 04 4d 51 54 54 | 04 | 00 | 00 00 | 00 02 73 31';
const CONNECT_S1_CLEAN = '10 0e | 00 04 4d 51 54 54 | 04 | 02 | 00 00 | 00 02 73 31';
// v5 CONNECT for "s1", Clean Start 0, Session Expiry Interval property (11 + 4 bytes).
const connectV5Expiry = (expiryHex: string): string =>
  `10 14 | 00 04 4d 51 54 54 | 05 | 00 | 00 00 | 05 11 ${expiryHex} | 00 02 73 31`;
// SUBSCRIBE packet id 1, filter "t", QoS 1 / QoS 2, and the SUBACKs granting them.
const SUBSCRIBE_T_QOS1 = '82 06 | 00 01 | 00 01 74 | 01';
const SUBACK_QOS1 = '90 03 | 00 01 | 01';
const SUBSCRIBE_T_QOS2 = '82 06 | 00 01 | 00 01 74 | 02';
const SUBACK_QOS2 = '90 03 | 00 01 | 02';
const DISCONNECT = 'e0 00';

/** A publisher connected with 3.1.1 as "pub". */
async function publisher(h: BrokerHarness) {
  return (await h.connect('pub')).client;
}

describe('Clean Session / Clean Start and Session Present', () => {
  it('[MQTT-3.1.2-4] [MQTT-3.2.2-3] (3.1.1: [MQTT-3.2.2-2]) 3.1.1 Clean Session 0: session kept, Session Present 1', async () => {
    const h = await broker();
    const s = await h.open(4);
    s.write(CONNECT_S1_PERSISTENT);
    await s.expectBytes('20 02 00 00'); // no session yet: Session Present 0
    s.write(SUBSCRIBE_T_QOS1);
    await s.expectBytes(SUBACK_QOS1);
    s.write(DISCONNECT);
    await s.expectClosed();
    const again = await h.open(4);
    again.write(CONNECT_S1_PERSISTENT);
    await again.expectBytes('20 02 01 00'); // Session Present 1
    // The subscription survived: a message to "t" arrives.
    const pub = await publisher(h);
    pub.write('30 05 | 00 01 74 | 68 69');
    await again.expectBytes('30 05 | 00 01 74 | 68 69');
  });

  it('[MQTT-3.1.2-4] (3.1.1: [MQTT-3.1.2-6]) Clean Session 1 discards the stored session: Session Present 0', async () => {
    const h = await broker();
    const s = await h.open(4);
    s.write(CONNECT_S1_PERSISTENT);
    await s.expectBytes('20 02 00 00');
    s.write(SUBSCRIBE_T_QOS1);
    await s.expectBytes(SUBACK_QOS1);
    s.write(DISCONNECT);
    await s.expectClosed();
    const again = await h.open(4);
    again.write(CONNECT_S1_CLEAN);
    await again.expectBytes('20 02 00 00');
    const pub = await publisher(h);
    pub.write('30 05 | 00 01 74 | 68 69');
    await again.expectNothing();
  });

  it('[MQTT-3.1.2-23] v5 Session Expiry 0: the session ends at disconnect (Session Present 0 next time)', async () => {
    const h = await broker();
    const s = await h.open(5);
    s.write(connectV5Expiry('00 00 00 00'));
    const first = await s.expectPacket('connack');
    assert.equal(first.sessionPresent, false);
    s.write(DISCONNECT);
    await s.expectClosed();
    await waitFor(() => !h.engine.sessions.has('s1'));
    const again = await h.open(5);
    again.write(connectV5Expiry('00 00 00 00'));
    assert.equal((await again.expectPacket('connack')).sessionPresent, false);
  });

  it('[MQTT-3.1.2-23] [MQTT-3.2.2-3] v5 Session Expiry > 0: the session is kept (Session Present 1)', async () => {
    const h = await broker();
    const s = await h.open(5);
    s.write(connectV5Expiry('00 00 00 3c')); // 60 s
    assert.equal((await s.expectPacket('connack')).sessionPresent, false);
    s.write(DISCONNECT);
    await s.expectClosed();
    const again = await h.open(5);
    again.write(connectV5Expiry('00 00 00 3c'));
    assert.equal((await again.expectPacket('connack')).sessionPresent, true);
  });

  it('[MQTT-3.1.2-23] v5 Session Expiry 1 s: the session is gone once the interval has passed', async () => {
    const h = await broker();
    const s = await h.open(5);
    s.write(connectV5Expiry('00 00 00 01'));
    await s.expectPacket('connack');
    s.destroy();
    await waitFor(() => !h.engine.sessions.has('s1'), 3000, 'session expiry');
    const again = await h.open(5);
    again.write(connectV5Expiry('00 00 00 01'));
    assert.equal((await again.expectPacket('connack')).sessionPresent, false);
  });

  it('[MQTT-3.1.4-4] [MQTT-3.2.2-2] v5 Clean Start 1 with a stored session: Session Present 0', async () => {
    const h = await broker();
    const s = await h.open(5);
    s.write(connectV5Expiry('00 00 00 3c'));
    await s.expectPacket('connack');
    s.write(DISCONNECT);
    await s.expectClosed();
    const again = await h.open(5);
    // Same CONNECT with Clean Start (flags 02).
    again.write('10 14 | 00 04 4d 51 54 54 | 05 | 02 | 00 00 | 05 11 00 00 00 3c | 00 02 73 31');
    assert.equal((await again.expectPacket('connack')).sessionPresent, false);
  });
});

describe('offline queue', () => {
  /** "s1" subscribes to "t" with `sub` (persistent), then goes offline with a normal DISCONNECT. */
  async function offlineSubscriber(h: BrokerHarness, sub: string, suback: string): Promise<void> {
    const s = await h.open(4);
    s.write(CONNECT_S1_PERSISTENT);
    await s.expectBytes('20 02 00 00');
    s.write(sub);
    await s.expectBytes(suback);
    s.write(DISCONNECT);
    await s.expectClosed();
    await waitFor(() => h.engine.sessions.get('s1')?.link === undefined);
  }

  it('[MQTT-4.5.0-1] [MQTT-3.1.2-5] (3.1.1) QoS 1 and 2 messages are queued for an offline session; QoS 0 is not', async () => {
    const h = await broker();
    await offlineSubscriber(h, SUBSCRIBE_T_QOS2, SUBACK_QOS2);
    const pub = await publisher(h);
    pub.write('30 05 | 00 01 74 | 71 30'); // QoS 0 "q0"
    pub.write('32 07 | 00 01 74 | 00 0a | 71 31'); // QoS 1 "q1", id 10
    await pub.expectBytes('40 02 00 0a');
    pub.write('34 07 | 00 01 74 | 00 0b | 71 32'); // QoS 2 "q2", id 11
    await pub.expectBytes('50 02 00 0b');
    pub.write('62 02 00 0b');
    await pub.expectBytes('70 02 00 0b');
    const s = await h.open(4);
    s.write(CONNECT_S1_PERSISTENT);
    await s.expectBytes('20 02 01 00');
    await s.expectBytes('32 07 | 00 01 74 | 00 01 | 71 31'); // QoS 1, our packet id 1
    await s.expectBytes('34 07 | 00 01 74 | 00 02 | 71 32'); // QoS 2, packet id 2
    await s.expectNothing();
  });

  it('QoS 0 is queued for an offline session with the queueQos0 option', async () => {
    const h = await broker({ queueQos0: true });
    await offlineSubscriber(h, SUBSCRIBE_T_QOS1, SUBACK_QOS1);
    const pub = await publisher(h);
    pub.write('30 05 | 00 01 74 | 71 30');
    await waitFor(() => h.engine.sessions.get('s1')?.queuedCount === 1);
    const s = await h.open(4);
    s.write(CONNECT_S1_PERSISTENT);
    await s.expectBytes('20 02 01 00');
    await s.expectBytes('30 05 | 00 01 74 | 71 30');
  });

  it('maxQueuedMessages bounds the queue; drops are counted as queue-full', async () => {
    const h = await broker({ maxQueuedMessages: 2 });
    await offlineSubscriber(h, SUBSCRIBE_T_QOS1, SUBACK_QOS1);
    const pub = await publisher(h);
    for (let i = 1; i <= 4; i++) {
      pub.write(`32 06 | 00 01 74 | 00 0${i} | 3${i}`); // payload "1".."4"
      await pub.expectBytes(`40 02 00 0${i}`);
    }
    assert.equal(h.broker.stats.dropped['queue-full'], 2);
    const s = await h.open(4);
    s.write(CONNECT_S1_PERSISTENT);
    await s.expectBytes('20 02 01 00');
    await s.expectBytes('32 06 | 00 01 74 | 00 01 | 31');
    await s.expectBytes('32 06 | 00 01 74 | 00 02 | 32');
    await s.expectNothing();
  });

  it('maxQueuedBytes bounds the queue by size; drops are counted as queue-full', async () => {
    // Each message holds topic "t" + 4 payload bytes = 5 bytes: two fit in 12.
    const h = await broker({ maxQueuedBytes: 12 });
    await offlineSubscriber(h, SUBSCRIBE_T_QOS1, SUBACK_QOS1);
    const pub = await publisher(h);
    for (let i = 1; i <= 3; i++) {
      pub.write(`32 09 | 00 01 74 | 00 0${i} | 61 61 61 3${i}`); // "aaa1".."aaa3"
      await pub.expectBytes(`40 02 00 0${i}`);
    }
    assert.equal(h.broker.stats.dropped['queue-full'], 1);
    const s = await h.open(4);
    s.write(CONNECT_S1_PERSISTENT);
    await s.expectBytes('20 02 01 00');
    await s.expectBytes('32 09 | 00 01 74 | 00 01 | 61 61 61 31');
    await s.expectBytes('32 09 | 00 01 74 | 00 02 | 61 61 61 32');
    await s.expectNothing();
  });
});

describe('resend on session resume', () => {
  it('[MQTT-4.4.0-1] [MQTT-3.3.1-1] unacknowledged QoS 1 PUBLISH are resent with DUP, same ids, in order', async () => {
    const h = await broker();
    const s = await h.open(4);
    s.write(CONNECT_S1_PERSISTENT);
    await s.expectBytes('20 02 00 00');
    s.write(SUBSCRIBE_T_QOS1);
    await s.expectBytes(SUBACK_QOS1);
    const pub = await publisher(h);
    pub.write('32 06 | 00 01 74 | 00 01 | 61'); // "a"
    pub.write('32 06 | 00 01 74 | 00 02 | 62'); // "b"
    await s.expectBytes('32 06 | 00 01 74 | 00 01 | 61');
    await s.expectBytes('32 06 | 00 01 74 | 00 02 | 62');
    // No PUBACK; the network drops.
    s.destroy();
    await waitFor(() => h.engine.sessions.get('s1')?.link === undefined);
    const again = await h.open(4);
    again.write(CONNECT_S1_PERSISTENT);
    await again.expectBytes('20 02 01 00');
    // DUP set (0x3a = PUBLISH, DUP, QoS 1), the same packet identifiers, the original order.
    await again.expectBytes('3a 06 | 00 01 74 | 00 01 | 61');
    await again.expectBytes('3a 06 | 00 01 74 | 00 02 | 62');
    again.write('40 02 00 01');
    again.write('40 02 00 02');
    await waitFor(() => h.engine.sessions.get('s1')?.inflight.size === 0);
  });

  it('[MQTT-4.4.0-1] QoS 2 past PUBREC: PUBREL is resent (not the PUBLISH) on resume', async () => {
    const h = await broker();
    const s = await h.open(4);
    s.write(CONNECT_S1_PERSISTENT);
    await s.expectBytes('20 02 00 00');
    s.write(SUBSCRIBE_T_QOS2);
    await s.expectBytes(SUBACK_QOS2);
    const pub = await publisher(h);
    pub.write('34 06 | 00 01 74 | 00 01 | 61');
    await s.expectBytes('34 06 | 00 01 74 | 00 01 | 61');
    s.write('50 02 00 01'); // PUBREC
    await s.expectBytes('62 02 00 01'); // PUBREL
    s.destroy();
    await waitFor(() => h.engine.sessions.get('s1')?.link === undefined);
    const again = await h.open(4);
    again.write(CONNECT_S1_PERSISTENT);
    await again.expectBytes('20 02 01 00');
    await again.expectBytes('62 02 00 01');
    again.write('70 02 00 01'); // PUBCOMP ends the flow
    await waitFor(() => h.engine.sessions.get('s1')?.inflight.size === 0);
    await again.expectNothing();
  });
});
