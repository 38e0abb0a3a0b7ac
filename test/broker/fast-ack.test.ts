/**
 * The acknowledgement path: on a quiet turn, the PUBACK of a lone QoS 1 publish is written while its chunk is
 * handled, not at the end of the turn; on a busy turn (many chunks read) replies are coalesced and written
 * once at the end of the turn. The stream here is an in-memory Duplex, so what was written can be read back
 * synchronously, before any later callback of the event loop has run.
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

test('on a busy turn the replies wait for the end of the turn and go out together', async () => {
  const broker = new Broker({ sysInterval: 0 });
  const engine = engineOf(broker);
  try {
    const clients = Array.from({ length: 6 }, () => pipe());
    clients.forEach((client, i) => {
      engine.accept(client.stream, { listener: 'test' });
      client.send(connect(`busy-${i}`));
    });
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    for (const client of clients) client.written.length = 0;
    // Six chunks in one turn: past the quiet threshold, the last ones wait for the turn's end.
    for (const client of clients) client.send(publish(7));
    const last = clients.at(-1);
    assert.ok(last !== undefined);
    assert.equal(last.written.length, 0, 'not written while the turn is busy');
    await new Promise((resolve) => setImmediate(resolve));
    for (const client of clients) assert.deepEqual(Buffer.concat(client.written), PUBACK_7);
  } finally {
    await broker.close();
  }
});
