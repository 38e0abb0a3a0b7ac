/**
 * The sweep lets go of an idle connection's parser (footprint), and must never drop one in the middle of a
 * packet: a read that ended right after a PUBLISH's fixed header leaves no byte held, but a body to come.
 * Dropping that parser made the body parse as a new packet (0x81, "packet type 0 is reserved"): seen with
 * publishers whose reads were held while acknowledgements waited for commits.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SWEEP_INTERVAL_MS } from '../../src/broker/connection-sweep.js';
import { encode } from '../../src/packets/index.js';
import { type BrokerHarness, publishPacket, rawSubscriber, startBroker } from '../support/broker-harness.js';

const harnesses: BrokerHarness[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.stop();
});

describe('idle trim', () => {
  test('a PUBLISH whose body comes after several sweeps arrives whole', async () => {
    const h = await startBroker();
    harnesses.push(h);
    const sub = await rawSubscriber(h, 'watcher', 'trim/#', 1);
    const { client: pub } = await h.connect('slow-writer', { version: 4 });
    const bytes = encode(publishPacket('trim/one', 'x'.repeat(100), 1, 42), 4);
    // First byte and a one-byte Remaining Length, then nothing while the sweep runs three times.
    pub.write(bytes.subarray(0, 2));
    await sleep(SWEEP_INTERVAL_MS * 3 + 200);
    pub.write(bytes.subarray(2));
    assert.equal((await pub.expectPacket('puback')).packetId, 42);
    const got = await sub.expectPacket('publish');
    assert.equal(got.type === 'publish' && got.payload.toString(), 'x'.repeat(100));
    assert.equal(pub.isClosed, false);
  });
});
