/**
 * Conformance over raw TCP: CONNECT / CONNACK. Each test writes the bytes a client would send and
 * compares the exact bytes the broker answers with, for MQTT 3.1 (level 3), 3.1.1 (level 4) and 5.0.
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

// CONNECT packets for client id "c1", keep alive 0, Clean Session / Clean Start 1.
const CONNECT_V31 = '10 10 | 00 06 4d 51 49 73 64 70 | 03 | 02 | 00 00 | 00 02 63 31'; // "MQIsdp" level 3
const CONNECT_V311 = '10 0e | 00 04 4d 51 54 54 | 04 | 02 | 00 00 | 00 02 63 31'; // "MQTT" level 4
const CONNECT_V5 = '10 0f | 00 04 4d 51 54 54 | 05 | 02 | 00 00 | 00 | 00 02 63 31'; // level 5, no properties
// v3 CONNACK: session present 0, return code 0.
const CONNACK_V3_OK = '20 02 00 00';
// v5 CONNACK with the default server properties.
const CONNACK_V5_OK = '20 11 | 00 00 | 0e | 21 04 00 | 22 ff ff | 25 01 | 28 01 | 29 01 | 2a 01'; // receive max 1024, alias max 65535, retain/wildcard/sub-id/shared available

describe('CONNECT and CONNACK', () => {
  it('[MQTT-3.2.0-1] MQTT 3.1 (MQIsdp, level 3) is accepted with CONNACK 0x00', async () => {
    const h = await broker();
    const c = await h.open(3);
    c.write(CONNECT_V31);
    await c.expectBytes(CONNACK_V3_OK);
  });

  it('[MQTT-3.2.0-1] MQTT 3.1.1 (level 4) is accepted with CONNACK 0x00', async () => {
    const h = await broker();
    const c = await h.open(4);
    c.write(CONNECT_V311);
    await c.expectBytes(CONNACK_V3_OK);
    // The connection works: PINGREQ gets PINGRESP.
    c.write('c0 00');
    await c.expectBytes('d0 00');
  });

  it('[MQTT-3.2.0-1] [MQTT-3.2.2-2] MQTT 5.0 is accepted: CONNACK 0x00 with the server capabilities', async () => {
    const h = await broker();
    const c = await h.open(5);
    c.write(CONNECT_V5);
    await c.expectBytes(CONNACK_V5_OK);
  });

  it('[MQTT-3.1.2-2] unsupported level 2 in v3 format: CONNACK return code 0x01, then close', async () => {
    const h = await broker();
    const c = await h.open(4);
    c.write('10 0e | 00 04 4d 51 54 54 | 02 | 02 | 00 00 | 00 02 63 31');
    await c.expectBytes('20 02 00 01');
    await c.expectClosed();
  });

  it('[MQTT-3.1.2-2] unsupported level 6 in v5 format: CONNACK 0x84, then close', async () => {
    const h = await broker();
    const c = await h.open(5);
    c.write('10 0f | 00 04 4d 51 54 54 | 06 | 02 | 00 00 | 00 | 00 02 63 31');
    await c.expectBytes('20 03 00 84 00');
    await c.expectClosed();
  });

  it('[MQTT-3.1.2-1] protocol name MQIsdp with level 4 is refused (CONNACK 0x01) and closed', async () => {
    const h = await broker();
    const c = await h.open(4);
    c.write('10 10 | 00 06 4d 51 49 73 64 70 | 04 | 02 | 00 00 | 00 02 63 31');
    await c.expectBytes('20 02 00 01');
    await c.expectClosed();
  });

  it('[MQTT-3.1.3-6] 3.1.1 empty client id with Clean Session 1 is accepted', async () => {
    const h = await broker();
    const c = await h.open(4);
    c.write('10 0c | 00 04 4d 51 54 54 | 04 | 02 | 00 00 | 00 00');
    await c.expectBytes(CONNACK_V3_OK);
    await waitFor(() => h.engine.sessions.size === 1);
    const [id] = h.engine.sessions.keys();
    assert.ok(id?.startsWith('starling-'), `assigned id ${id}`);
  });

  it('[MQTT-3.1.3-6] [MQTT-3.1.3-7] v5 empty client id: CONNACK carries the Assigned Client Identifier', async () => {
    const h = await broker();
    const c = await h.open(5);
    c.write('10 0d | 00 04 4d 51 54 54 | 05 | 02 | 00 00 | 00 | 00 00');
    const connack = await c.expectPacket('connack');
    assert.equal(connack.reasonCode, 0);
    assert.equal(connack.sessionPresent, false);
    const assigned = connack.properties?.assignedClientIdentifier;
    assert.ok(assigned !== undefined && assigned.length > 0);
    assert.ok(h.engine.sessions.has(assigned), 'the session is known under the assigned id');
  });

  it('(3.1.1: [MQTT-3.1.3-8]) empty client id with Clean Session 0: CONNACK 0x02, then close', async () => {
    const h = await broker();
    const c = await h.open(4);
    c.write('10 0c | 00 04 4d 51 54 54 | 04 | 00 | 00 00 | 00 00');
    await c.expectBytes('20 02 00 02');
    await c.expectClosed();
  });

  it('[MQTT-3.1.3-8] (3.1.1: [MQTT-3.1.3-9]) a rejected client id (MQTT 3.1, empty; 3.1 requires 1-23 characters): CONNACK 0x02, then close', async () => {
    const h = await broker();
    const c = await h.open(3);
    c.write('10 0e | 00 06 4d 51 49 73 64 70 | 03 | 02 | 00 00 | 00 00');
    await c.expectBytes('20 02 00 02');
    await c.expectClosed();
  });

  it('MQTT 3.1 client id longer than 23 characters: CONNACK 0x02', async () => {
    const h = await broker();
    const c = await h.open(3);
    const id = Buffer.from('x'.repeat(24));
    c.write(
      Buffer.concat([
        Buffer.from('10 26 00 06 4d 51 49 73 64 70 03 02 00 00 00 18'.replace(/ /g, ''), 'hex'),
        id,
      ]),
    );
    await c.expectBytes('20 02 00 02');
    await c.expectClosed();
  });

  it('[MQTT-3.1.4-3] (3.1.1: [MQTT-3.1.4-2]) takeover: the older 3.1.1 connection of the same id is closed', async () => {
    const h = await broker();
    const first = await h.open(4);
    first.write(CONNECT_V311);
    await first.expectBytes(CONNACK_V3_OK);
    const second = await h.open(4);
    second.write(CONNECT_V311);
    await second.expectBytes(CONNACK_V3_OK);
    await first.expectClosed();
    second.write('c0 00');
    await second.expectBytes('d0 00');
  });

  it('[MQTT-3.1.4-3] takeover in v5: the older connection gets DISCONNECT 0x8E, then is closed', async () => {
    const h = await broker();
    const first = await h.open(5);
    first.write(CONNECT_V5);
    await first.expectBytes(CONNACK_V5_OK);
    const second = await h.open(5);
    second.write(CONNECT_V5);
    await second.expectBytes(CONNACK_V5_OK);
    await first.expectBytes('e0 01 8e');
    await first.expectClosed();
  });

  it('[MQTT-3.1.0-1] first packet not CONNECT (PINGREQ): closed without a reply', async () => {
    const h = await broker();
    const c = await h.open(4);
    c.write('c0 00');
    await c.expectClosed();
  });

  it('[MQTT-3.1.0-1] first packet not CONNECT (SUBSCRIBE): closed without a reply', async () => {
    const h = await broker();
    const c = await h.open(4);
    c.write('82 06 00 01 00 01 61 00');
    await c.expectClosed();
    assert.equal(h.engine.sessions.size, 0);
  });

  it('[MQTT-3.1.0-2] second CONNECT on 3.1.1 is a protocol violation: closed', async () => {
    const h = await broker();
    const c = await h.open(4);
    c.write(CONNECT_V311);
    await c.expectBytes(CONNACK_V3_OK);
    c.write(CONNECT_V311);
    await c.expectClosed();
  });

  it('[MQTT-3.1.0-2] [MQTT-3.2.0-2] second CONNECT is a protocol error (v5: DISCONNECT 0x82), no second CONNACK', async () => {
    const h = await broker();
    const c = await h.open(5);
    c.write(CONNECT_V5);
    await c.expectBytes(CONNACK_V5_OK);
    c.write(CONNECT_V5);
    const disconnect = await c.expectPacket('disconnect');
    assert.equal(disconnect.reasonCode, 0x82);
    await c.expectClosed();
  });

  it('[MQTT-3.1.2-3] reserved CONNECT flag set: closed without CONNACK', async () => {
    const h = await broker();
    const c = await h.open(4);
    c.write('10 0e | 00 04 4d 51 54 54 | 04 | 03 | 00 00 | 00 02 63 31');
    await c.expectClosed();
  });
});

describe('CONNACK properties (v5)', () => {
  it('[MQTT-3.2.2-9] [MQTT-3.2.2-21] configured limits are announced: receive max, alias max, QoS, sizes, keep alive', async () => {
    const h = await broker({
      receiveMaximum: 10,
      topicAliasMaximum: 5,
      retainAvailable: false,
      wildcardSubscriptionAvailable: false,
      subscriptionIdentifiersAvailable: false,
      sharedSubscriptionAvailable: false,
      maximumPacketSize: 1000,
      maximumQoS: 1,
      serverKeepAlive: 30,
    });
    const c = await h.open(5);
    c.write(CONNECT_V5);
    const connack = await c.expectPacket('connack');
    assert.deepEqual(connack, {
      type: 'connack',
      sessionPresent: false,
      reasonCode: 0,
      properties: {
        receiveMaximum: 10,
        topicAliasMaximum: 5,
        retainAvailable: 0,
        wildcardSubscriptionAvailable: 0,
        subscriptionIdentifiersAvailable: 0,
        sharedSubscriptionAvailable: 0,
        maximumQoS: 1,
        maximumPacketSize: 1000,
        serverKeepAlive: 30,
      },
    });
  });

  it('[MQTT-3.2.2-9] Maximum QoS 0 is announced', async () => {
    const h = await broker({ maximumQoS: 0 });
    const c = await h.open(5);
    c.write(CONNECT_V5);
    const connack = await c.expectPacket('connack');
    assert.equal(connack.properties?.maximumQoS, 0);
    assert.equal(connack.properties?.maximumPacketSize, undefined, 'not sent when not configured');
  });

  it('[MQTT-3.2.2-21] server keep alive overrides the client: keep alive 60 becomes 1 s and is enforced', async () => {
    const h = await broker({ serverKeepAlive: 1 });
    const c = await h.open(5);
    // Keep alive 60 (00 3c) asked by the client.
    c.write('10 0f | 00 04 4d 51 54 54 | 05 | 02 | 00 3c | 00 | 00 02 63 31');
    // CONNACK properties now include Server Keep Alive = 1 (13 00 01), written in property id order.
    await c.expectBytes(
      '20 14 | 00 00 | 11 | 13 00 01 | 21 04 00 | 22 ff ff | 25 01 | 28 01 | 29 01 | 2a 01',
    );
    // DISCONNECT 0x8D Keep Alive timeout (with a reason string, as the client did not refuse problem information).
    const disconnect = await c.expectPacket('disconnect', 3500);
    assert.equal(disconnect.reasonCode, 0x8d);
    await c.expectClosed();
  });
});

describe('keep alive', () => {
  it('[MQTT-3.1.2-22] (3.1.1: [MQTT-3.1.2-24]) no packet within 1.5 x keep alive (1 s): 3.1.1 connection closed', async () => {
    const h = await broker();
    const c = await h.open(4);
    const started = Date.now();
    c.write('10 0e | 00 04 4d 51 54 54 | 04 | 02 | 00 01 | 00 02 63 31');
    await c.expectBytes(CONNACK_V3_OK);
    await c.expectClosed(3500);
    // Not closed before 1.5 x keep alive: the rule is "more than 1.5 times", not "about once".
    assert.ok(Date.now() - started >= 1400, `closed after ${Date.now() - started} ms`);
  });

  it("[MQTT-3.1.2-22] [MQTT-3.2.2-22] keep alive timeout in v5, no Server Keep Alive so the client's 1 s applies: DISCONNECT 0x8D", async () => {
    const h = await broker();
    const c = await h.open(5);
    c.write('10 0f | 00 04 4d 51 54 54 | 05 | 02 | 00 01 | 00 | 00 02 63 31');
    await c.expectBytes(CONNACK_V5_OK);
    const disconnect = await c.expectPacket('disconnect', 3500);
    assert.equal(disconnect.reasonCode, 0x8d);
    await c.expectClosed();
  });

  it('[MQTT-3.1.2-22] PINGREQ within the keep alive keeps the connection open', async () => {
    const h = await broker();
    const c = await h.open(4);
    c.write('10 0e | 00 04 4d 51 54 54 | 04 | 02 | 00 01 | 00 02 63 31');
    await c.expectBytes(CONNACK_V3_OK);
    // Five pings 0.6 s apart: 3 s in all, twice the point where an idle client would have been dropped.
    for (let i = 0; i < 5; i++) {
      await new Promise((resolve) => setTimeout(resolve, 600));
      c.write('c0 00');
      await c.expectBytes('d0 00');
    }
    assert.equal(c.isClosed, false);
  });
});

describe('CONNECT framing', () => {
  it('[MQTT-3.1.4-5] (3.1.1: [MQTT-3.1.4-4]) a CONNECT arriving one byte per TCP segment is accepted', async () => {
    const h = await broker();
    const c = await h.open(4);
    const connect = Buffer.from(CONNECT_V311.replace(/[\s|]/g, ''), 'hex');
    // A short pause between bytes keeps the kernel from coalescing them: the parser really sees 1-byte chunks.
    for (const byte of connect) {
      c.write([byte]);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await c.expectBytes(CONNACK_V3_OK);
    c.write('c0 00');
    await c.expectBytes('d0 00');
  });

  it('[MQTT-3.1.0-1] a stream whose first byte is not 0x10 is closed at once, long before the connect timeout', async () => {
    const h = await broker({ connectTimeoutMs: 10_000 });
    const c = await h.open(4);
    // 0x82 is a SUBSCRIBE header; only its first byte arrives, so nothing but the type can be judged.
    c.write('82');
    await c.expectClosed(2000);
  });
});
