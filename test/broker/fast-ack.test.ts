/**
 * The write path: what a chunk gives a connection for the first time in a turn is written while the chunk is
 * handled (the PUBACK of a lone QoS 1 publish, a subscriber's copy), not at the end of the turn; what a
 * connection gets later in the same turn is coalesced into one write at its end. The streams here are
 * in-memory Duplexes, so what was written can be read back synchronously.
 */
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { test } from 'node:test';
import { Broker } from '../../src/index.js';
import { encode, type Packet } from '../../src/packets/index.js';
import { engineOf } from '../../src/server/broker.js';

/** A client end: what the test pushes is what the broker reads; what the broker writes lands in `written`. */
function pipe(): { stream: Duplex; written: Buffer[]; send(packet: Packet): void } {
  const written: Buffer[] = [];
  const stream = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      written.push(chunk);
      callback();
    },
  });
  return { stream, written, send: (packet) => stream.push(encode(packet, 4)) };
}

const connect = (clientId: string): Packet => ({
  type: 'connect',
  protocolName: 'MQTT',
  protocolVersion: 4,
  clean: true,
  keepalive: 0,
  clientId,
});
const publish = (packetId: number): Packet => ({
  type: 'publish',
  topic: 't',
  payload: Buffer.from('x'),
  qos: 1,
  retain: false,
  dup: false,
  packetId,
});
const PUBACK_7 = Buffer.from([0x40, 2, 0, 7]);

test('a lone QoS 1 publish is acknowledged within the handling of its chunk', async () => {
  const broker = new Broker({ sysInterval: 0 });
  const engine = engineOf(broker);
  try {
    const client = pipe();
    engine.accept(client.stream, { listener: 'test' });
    client.send(connect('lone'));
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    client.written.length = 0;
    client.send(publish(7));
    // No await: the PUBACK is already written.
    assert.deepEqual(Buffer.concat(client.written), PUBACK_7);
  } finally {
    await broker.close();
  }
});

test('a connection that gets more within the same turn gets the rest in one write at its end', async () => {
  const broker = new Broker({ sysInterval: 0 });
  const engine = engineOf(broker);
  try {
    const subscriber = pipe();
    engine.accept(subscriber.stream, { listener: 'test' });
    subscriber.send(connect('fan-in'));
    subscriber.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 't', qos: 0 }] });
    const publishers = [pipe(), pipe()];
    publishers.forEach((publisher, i) => {
      engine.accept(publisher.stream, { listener: 'test' });
      publisher.send(connect(`pub-${i}`));
    });
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    subscriber.written.length = 0;
    const message = (payload: string): Packet => ({
      type: 'publish',
      topic: 't',
      payload: Buffer.from(payload),
      qos: 0,
      retain: false,
      dup: false,
    });
    publishers[0]?.send(message('a'));
    assert.equal(subscriber.written.length, 1, 'the first message of the turn is written at once');
    publishers[1]?.send(message('b'));
    assert.equal(subscriber.written.length, 1, 'the second waits for the end of the turn');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(subscriber.written.length, 2, 'and goes out then');
    assert.deepEqual(
      Buffer.concat(subscriber.written),
      Buffer.concat([encode(message('a'), 4), encode(message('b'), 4)]),
    );
  } finally {
    await broker.close();
  }
});
