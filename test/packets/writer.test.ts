/**
 * writePacket: a PUBLISH with a large payload as header + payload by reference under cork(); small
 * PUBLISH payloads and other packets as one write.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import {
  type CorkableWritable,
  encode,
  type Packet,
  type PublishPacket,
  ReasonCode,
  writePacket,
} from '../../src/packets/index.js';
import { COPY_PAYLOAD_MAX_BYTES } from '../../src/packets/writer.js';
import { assertMqttError, parseChunks } from './helpers.js';

type Call = { op: 'cork' } | { op: 'uncork' } | { op: 'write'; chunk: Buffer };

/** A stream that records every call; write() answers `writeResult`. */
class RecordingStream implements CorkableWritable {
  readonly calls: Call[] = [];
  writeResult = true;
  write(chunk: Buffer): boolean {
    this.calls.push({ op: 'write', chunk });
    return this.writeResult;
  }
  cork(): void {
    this.calls.push({ op: 'cork' });
  }
  uncork(): void {
    this.calls.push({ op: 'uncork' });
  }
}

const publish: PublishPacket = {
  type: 'publish',
  topic: 'a/b',
  payload: Buffer.alloc(COPY_PAYLOAD_MAX_BYTES + 1, 0x70),
  qos: 1,
  retain: false,
  dup: false,
  packetId: 9,
};

describe('writePacket', () => {
  test('a PUBLISH is written as header then the payload object itself, corked', () => {
    const stream = new RecordingStream();
    assert.equal(writePacket(stream, publish, 4), true);
    assert.deepEqual(
      stream.calls.map((c) => c.op),
      ['cork', 'write', 'write', 'uncork'],
    );
    const [, header, payload] = stream.calls as [Call, { chunk: Buffer }, { chunk: Buffer }, Call];
    assert.equal(payload.chunk, publish.payload, 'payload passed by reference');
    assert.deepEqual(Buffer.concat([header.chunk, payload.chunk]), encode(publish, 4));
  });

  test('returns the result of the last write (backpressure)', () => {
    const stream = new RecordingStream();
    stream.writeResult = false;
    assert.equal(writePacket(stream, publish, 5), false);
    assert.equal(writePacket(stream, { type: 'pingreq' }, 5), false);
  });

  test('a PUBLISH with a small or empty payload is one write of the whole packet, no cork', () => {
    for (const size of [0, 1, COPY_PAYLOAD_MAX_BYTES]) {
      const stream = new RecordingStream();
      const small: PublishPacket = { ...publish, payload: Buffer.alloc(size, 0x61) };
      writePacket(stream, small, 5);
      assert.deepEqual(stream.calls, [{ op: 'write', chunk: encode(small, 5) }]);
    }
  });

  test('other packets are one write of the encoded packet', () => {
    const packets: Packet[] = [
      { type: 'puback', packetId: 9, reasonCode: 0x10 },
      { type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'a/#', qos: 1 }] },
      { type: 'disconnect' },
    ];
    for (const packet of packets) {
      const stream = new RecordingStream();
      writePacket(stream, packet, 5);
      assert.deepEqual(stream.calls, [{ op: 'write', chunk: encode(packet, 5) }]);
    }
  });

  test('an invalid packet throws before anything is written', () => {
    const stream = new RecordingStream();
    const { packetId: _, ...withoutId } = publish;
    assertMqttError(() => writePacket(stream, withoutId, 4), ReasonCode.MalformedPacket);
    assertMqttError(() => writePacket(stream, { type: 'auth', reasonCode: 0 }, 4), ReasonCode.ProtocolError);
    assert.deepEqual(stream.calls, []);
  });

  test('packets written to a real Writable parse back in order', async () => {
    const stream = new PassThrough();
    const packets: Packet[] = [
      publish,
      { ...publish, packetId: 11, payload: Buffer.from('small') },
      { type: 'pingreq' },
      { ...publish, packetId: 10, payload: Buffer.alloc(70_000, 1) },
      { type: 'puback', packetId: 3 },
    ];
    for (const packet of packets) writePacket(stream, packet, 4);
    stream.end();
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    assert.deepEqual(parseChunks(chunks, 4).packets, packets);
  });
});
