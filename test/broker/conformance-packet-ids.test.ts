/**
 * Conformance over raw TCP for the rule that every acknowledgement echoes the Packet Identifier of the
 * packet it answers ([MQTT-2.2.1-5], [MQTT-2.2.1-6]; 3.1.1 [MQTT-2.3.1-6], [MQTT-2.3.1-7]). Several
 * exchanges are kept in flight at once and answered out of order, so a broker that answered with the
 * latest id, or a counter of its own, fails.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { ProtocolVersionNumber } from '../../src/packets/types.js';
import { type BrokerHarness, startBroker } from '../support/broker-harness.js';

let harness: BrokerHarness | undefined;
afterEach(async () => {
  await harness?.stop();
  harness = undefined;
});

/** Both wire versions whose acknowledgement formats differ (MQTT 3.1 shares the 3.1.1 format). */
const versions: readonly ProtocolVersionNumber[] = [4, 5];

describe('acknowledgements carry the Packet Identifier they answer', () => {
  for (const version of versions) {
    const label = version === 5 ? 'MQTT 5.0' : 'protocol level 4';

    it(`[MQTT-2.2.1-5] ${label}: PUBACK, PUBREC and PUBCOMP to a publisher echo its ids, answered out of order`, async () => {
      harness = await startBroker();
      const { client } = await harness.connect('pub', { version });
      // v5 PUBLISH carries a property length (0) after the packet identifier.
      const props = version === 5 ? '00' : '';
      const rl = version === 5 ? '07' : '06';
      client.write(`34 ${rl} | 00 01 74 | ab cd | ${props} | 61`); // QoS 2, id 0xABCD
      await client.expectBytes('50 02 ab cd');
      client.write(`34 ${rl} | 00 01 74 | 00 02 | ${props} | 62`); // QoS 2, id 2
      await client.expectBytes('50 02 00 02');
      client.write(`32 ${rl} | 00 01 74 | 12 34 | ${props} | 63`); // QoS 1, id 0x1234
      await client.expectBytes('40 02 12 34');
      // Release the older exchange first: its PUBCOMP must name 0xABCD, not the most recent id.
      client.write('62 02 ab cd');
      await client.expectBytes('70 02 ab cd');
      client.write('62 02 00 02');
      await client.expectBytes('70 02 00 02');
      await client.expectNothing();
    });

    it(`[MQTT-2.2.1-5] ${label}: the PUBREL to a QoS 2 subscriber names the id of the PUBLISH it sent`, async () => {
      harness = await startBroker();
      const { client: sub } = await harness.connect('sub', { version });
      sub.send({ type: 'subscribe', packetId: 9, subscriptions: [{ topicFilter: 't', qos: 2 }] });
      assert.equal((await sub.expectPacket('suback')).packetId, 9);
      const { client: pub } = await harness.connect('pub', { version });
      const payloads = ['a', 'b'];
      const ids: number[] = [];
      // Two QoS 2 messages in flight to the subscriber, then acknowledged in reverse order.
      for (const payload of payloads) {
        pub.send({
          type: 'publish',
          topic: 't',
          payload: Buffer.from(payload),
          qos: 2,
          retain: false,
          dup: false,
          packetId: payload === 'a' ? 1 : 2,
        });
        await pub.expectPacket('pubrec');
      }
      for (const payload of payloads) {
        const p = await sub.expectPacket('publish');
        assert.equal(p.payload.toString(), payload);
        assert.ok(p.packetId !== undefined && p.packetId > 0);
        ids.push(p.packetId);
      }
      assert.equal(ids.length, 2);
      assert.notEqual(ids[0], ids[1]);
      for (const id of [...ids].reverse()) {
        sub.send({ type: 'pubrec', packetId: id });
        assert.equal((await sub.expectPacket('pubrel')).packetId, id);
      }
    });

    it(`[MQTT-2.2.1-6] ${label}: SUBACK and UNSUBACK echo the SUBSCRIBE and UNSUBSCRIBE ids`, async () => {
      harness = await startBroker();
      const { client } = await harness.connect('c', { version });
      for (const packetId of [0xfffe, 1, 0x0100]) {
        client.send({ type: 'subscribe', packetId, subscriptions: [{ topicFilter: 'a', qos: 1 }] });
        const suback = await client.expectPacket('suback');
        assert.equal(suback.packetId, packetId);
        assert.deepEqual(suback.reasonCodes, [1]);
      }
      for (const packetId of [0x8000, 0xffff]) {
        client.send({ type: 'unsubscribe', packetId, topicFilters: ['a'] });
        assert.equal((await client.expectPacket('unsuback')).packetId, packetId);
      }
    });
  }
});
