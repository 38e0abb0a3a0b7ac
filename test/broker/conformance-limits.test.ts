/**
 * Conformance over raw TCP: limits and bad input: inbound Receive Maximum, Maximum Packet Size in both
 * directions, malformed packets, random garbage, and a client that stops reading.
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

describe('limits', () => {
  it('[MQTT-3.3.4-7] v5 inbound Receive Maximum exceeded (QoS 2 without PUBREL): DISCONNECT 0x93', async () => {
    const h = await broker({ receiveMaximum: 2 });
    const { client } = await h.connect('c', { version: 5 });
    client.write('34 06 | 00 01 74 | 00 01 | 00');
    await client.expectBytes('50 02 00 01');
    client.write('34 06 | 00 01 74 | 00 02 | 00');
    await client.expectBytes('50 02 00 02');
    client.write('34 06 | 00 01 74 | 00 03 | 00');
    assert.equal((await client.expectPacket('disconnect')).reasonCode, 0x93);
    await client.expectClosed();
  });

  it('[MQTT-4.13.1-1] (spec 3.2.2.3.6, no statement id) packet bigger than the server Maximum Packet Size: v5 DISCONNECT 0x95, v3 closed', async () => {
    const h = await broker({ maximumPacketSize: 64 });
    const big = Buffer.concat([
      Buffer.from('30 44 00 01 74 00'.replace(/ /g, ''), 'hex'),
      Buffer.alloc(64, 0x61),
    ]);
    const { client: v5 } = await h.connect('v5', { version: 5 });
    v5.write(big);
    assert.equal((await v5.expectPacket('disconnect')).reasonCode, 0x95);
    await v5.expectClosed();
    const { client: v3 } = await h.connect('v3');
    v3.write(big);
    await v3.expectClosed();
  });

  it('[MQTT-3.1.2-24] [MQTT-3.1.2-25] a message bigger than the client Maximum Packet Size is not sent to it', async () => {
    const h = await broker();
    const { client: small } = await h.connect('small', { version: 5, properties: { maximumPacketSize: 20 } });
    const { client: large } = await h.connect('large', { version: 5 });
    for (const c of [small, large]) {
      c.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 't', qos: 1 }] });
      await c.expectPacket('suback');
    }
    const { client: pub } = await h.connect('pub', { version: 5 });
    const payload = Buffer.alloc(30, 0x62);
    pub.send({ type: 'publish', topic: 't', payload, qos: 0, retain: false, dup: false });
    pub.write('30 05 | 00 01 74 | 00 | 73'); // small enough for both
    await large.expectBytes(Buffer.concat([Buffer.from([0x30, 0x22, 0x00, 0x01, 0x74, 0x00]), payload]));
    await large.expectBytes('30 05 | 00 01 74 | 00 | 73');
    await small.expectBytes('30 05 | 00 01 74 | 00 | 73');
    assert.equal(h.broker.stats.dropped['packet-too-large'], 1);
  });
});

describe('bad input', () => {
  it('[MQTT-4.13.1-1] malformed packet closes only that connection (v5: DISCONNECT 0x81)', async () => {
    const h = await broker();
    const { client: bystander } = await h.connect('ok', { version: 5 });
    const { client: bad } = await h.connect('bad', { version: 5 });
    bad.write('32 01 00'); // QoS 1 PUBLISH far too short for a topic and packet id
    assert.equal((await bad.expectPacket('disconnect')).reasonCode, 0x81);
    await bad.expectClosed();
    const { client: bad3 } = await h.connect('bad3');
    bad3.write('32 01 00');
    await bad3.expectClosed();
    bystander.write('c0 00');
    await bystander.expectBytes('d0 00');
  });

  it('random garbage never crashes the broker; a good client is served afterwards', async () => {
    const h = await broker();
    // A deterministic pseudo-random source (xorshift) so a failure can be replayed.
    let seed = 0x2545f491;
    const next = (): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return seed >>> 0;
    };
    const clients = [];
    for (let i = 0; i < 40; i++) {
      const c = await h.open(4);
      const garbage = Buffer.alloc(1 + (next() % 200));
      for (let j = 0; j < garbage.length; j++) garbage[j] = next() & 0xff;
      // Half of them get past CONNECT first so the garbage hits the connected-state dispatcher.
      if (i % 2 === 0) {
        c.write('10 0e | 00 04 4d 51 54 54 | 04 | 02 | 00 00 | 00 02 67 30');
      }
      c.write(garbage);
      clients.push(c);
    }
    for (const c of clients) c.destroy();
    const { client } = await h.connect('good');
    client.write('c0 00');
    await client.expectBytes('d0 00');
    await waitFor(() => h.engine.connections.size === 1, 3000, 'garbage connections closed');
  });

  it('slow client: QoS 0 to it dropped and counted, others get everything, it is disconnected', async () => {
    const h = await broker({ maxWriteBuffer: 256 * 1024, slowClientTimeoutMs: 300 });
    const { client: slow } = await h.connect('slow');
    const { client: fast } = await h.connect('fast');
    for (const c of [slow, fast]) {
      c.write('82 06 | 00 01 | 00 01 74 | 00');
      await c.expectBytes('90 03 00 01 00');
    }
    slow.pauseReading();
    // CONNACK and SUBACK bytes already counted; only the PUBLISH bytes that follow are compared.
    const before = fast.receivedTotal;
    const { client: pub } = await h.connect('pub');
    // 2000 QoS 0 messages of 4 KiB: far more than the loopback socket buffers of the paused reader hold.
    const payload = Buffer.alloc(4096, 0x7a);
    const one = Buffer.concat([Buffer.from([0x30, 0x83, 0x20, 0x00, 0x01, 0x74]), payload]); // remaining length 4099
    const count = 2000;
    // The publisher is paced by the fast reader (it shares this process's event loop), so only the paused
    // reader falls behind: its kernel buffers fill, then its write backlog passes maxWriteBuffer.
    for (let batch = 1; batch <= count / 100; batch++) {
      pub.write(Buffer.concat(new Array(100).fill(one)));
      await waitFor(
        () => {
          fast.discardPending();
          return fast.receivedTotal - before >= batch * 100 * one.length;
        },
        15_000,
        `fast subscriber got batch ${batch} (slow-client drops ${h.broker.stats.dropped['slow-client']})`,
      );
    }
    assert.equal(fast.receivedTotal - before, count * one.length);
    assert.ok(h.broker.stats.dropped['slow-client'] > 0, 'drops counted');
    await waitFor(() => !h.engine.sessions.has('slow'), 3000, 'slow client disconnected');
  });
});
