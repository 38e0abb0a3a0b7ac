/**
 * Conformance over raw TCP: the last server statements — v5 PUBLISH properties a client must not send,
 * CONNECT validation, 3.1.1 refusals without an applicable return code, and a transient processing error.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Hook } from '../../src/broker/hooks.js';
import { brokerPerTest } from '../support/broker-harness.js';
import { waitFor } from '../support/raw-client.js';

const broker = brokerPerTest();

describe('PUBLISH properties a client must not send', () => {
  it('[MQTT-3.3.2-14] a Response Topic with wildcards is a Protocol Error: DISCONNECT 0x82', async () => {
    const h = await broker();
    const { client } = await h.connect('rt', { version: 5 });
    client.send(
      {
        type: 'publish',
        topic: 'req',
        payload: Buffer.from('x'),
        qos: 0,
        retain: false,
        dup: false,
        properties: { responseTopic: 'resp/+' },
      },
      5,
    );
    assert.equal((await client.expectPacket('disconnect')).reasonCode, 0x82);
    await client.expectClosed();
  });

  it('[MQTT-3.3.4-6] a Subscription Identifier in a client PUBLISH is a Protocol Error: DISCONNECT 0x82', async () => {
    const h = await broker();
    const { client } = await h.connect('sid', { version: 5 });
    client.send(
      {
        type: 'publish',
        topic: 't',
        payload: Buffer.from('x'),
        qos: 0,
        retain: false,
        dup: false,
        properties: { subscriptionIdentifiers: [3] },
      },
      5,
    );
    assert.equal((await client.expectPacket('disconnect')).reasonCode, 0x82);
    await client.expectClosed();
  });
});

describe('CONNECT validation', () => {
  for (const version of [4, 5] as const) {
    it(`[MQTT-3.1.4-1] (3.1.1: [MQTT-3.1.4-1]) v${version} CONNECT with the reserved flag set: closed without CONNACK`, async () => {
      const h = await broker();
      const client = await h.open(version);
      // CONNECT, protocol MQTT, level 4 or 5, flags 0x03 (clean + reserved bit 0), keep alive 60, client id "c1".
      client.write(
        version === 4
          ? '10 0e | 00 04 4d 51 54 54 | 04 | 03 | 00 3c | 00 02 63 31'
          : '10 0f | 00 04 4d 51 54 54 | 05 | 03 | 00 3c | 00 | 00 02 63 31',
      );
      await client.expectClosed();
      assert.equal(client.pending.length, 0, 'nothing was sent before the close');
    });
  }

  it('(3.1.1: [MQTT-3.2.2-6]) a refusal with no 3.1.1 return code (will QoS above Maximum QoS) closes without CONNACK', async () => {
    const h = await broker({ maximumQoS: 1 });
    const client = await h.open(4);
    // CONNECT v4, flags 0x16: will flag, will QoS 2, clean session; client id "c1", will topic "w", payload "x".
    client.write('10 14 | 00 04 4d 51 54 54 | 04 | 16 | 00 3c | 00 02 63 31 | 00 01 77 | 00 01 78');
    await client.expectClosed();
    assert.equal(client.pending.length, 0, 'no CONNACK: 3.1.1 has no return code for QoS not supported');
  });
});

describe('will', () => {
  it('(3.1.1: [MQTT-3.1.2-12]) a connection without a will publishes nothing when it drops', async () => {
    const h = await broker();
    const { client: watcher } = await h.connect('watcher', { version: 4 });
    watcher.write('82 06 | 00 01 | 00 01 23 | 00'); // SUBSCRIBE id 1, filter "#", QoS 0
    await watcher.expectBytes('90 03 00 01 00');
    const { client: quiet } = await h.connect('no-will', { version: 4 });
    quiet.destroy();
    await waitFor(() => !h.engine.sessions.has('no-will'), 2000, 'the dropped session ended');
    await watcher.expectNothing(300);
  });
});

describe('errors while processing', () => {
  it('(3.1.1: [MQTT-4.8.0-2]) a transient error while handling a packet closes that connection; others go on', async () => {
    const failing: Hook = {
      onPublish: (client, packet) => {
        if (packet.topic === 'boom') throw new Error(`storage unavailable for ${client.clientId}`);
        return { action: 'continue' };
      },
    };
    const h = await broker();
    await h.broker.addHook(failing);
    const { client: victim } = await h.connect('victim', { version: 4 });
    const { client: other } = await h.connect('other', { version: 4 });
    victim.write('30 07 | 00 04 62 6f 6f 6d | 78'); // PUBLISH QoS 0 "boom" payload "x"
    await victim.expectClosed();
    other.write('c0 00'); // PINGREQ
    await other.expectBytes('d0 00'); // PINGRESP: the broker is still serving
  });
});

describe('a throwing hook while a connection closes', () => {
  it('is logged, and the broker goes on serving', async () => {
    const h = await broker();
    await h.broker.addHook({
      onDisconnect: () => {
        throw new Error('hook bug');
      },
    });
    const { client: leaving } = await h.connect('leaving', { version: 4 });
    leaving.destroy();
    await waitFor(() => !h.engine.sessions.has('leaving'), 2000, 'the closed session ended');
    const { client: next } = await h.connect('next', { version: 4 });
    next.write('c0 00'); // PINGREQ
    await next.expectBytes('d0 00');
  });
});
