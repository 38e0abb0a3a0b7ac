/**
 * A second CONNECT whose protocol level the decoder refuses (0x84, a code DISCONNECT cannot carry) ends that
 * connection with DISCONNECT 0x82 Protocol Error [MQTT-3.1.0-2]; the broker goes on serving. (The fuzz found
 * the broker process dying on these bytes.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startBroker } from '../support/broker-harness.js';

test('[MQTT-3.1.0-2] a second CONNECT with an unsupported level: DISCONNECT 0x82, the broker lives on', async () => {
  const h = await startBroker();
  try {
    const client = await h.open(5);
    client.write(
      '10 0e 00 04 4d 51 54 54 05 02 00 00 00 00 01 61 10 0e 00 04 4d 51 54 54 06 02 00 00 00 00 01 62',
    );
    assert.equal((await client.expectPacket('connack')).reasonCode, 0);
    const disconnect = await client.expectPacket('disconnect');
    assert.equal(disconnect.reasonCode, 0x82);
    await client.expectClosed();
    const { connack } = await h.connect('after', { version: 5 });
    assert.equal(connack.reasonCode, 0, 'still serving');
  } finally {
    await h.stop();
  }
});
