/** The stream parser: size limit before buffering, views versus copies, Remaining Length edge values. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  decode,
  encode,
  encodeVarint,
  MqttError,
  type Packet,
  PacketParser,
  type PublishPacket,
  ReasonCode,
  varintLength,
} from '../../src/packets/index.js';
import { assertMqttError, parseChunks, randomChunks, seededRandom } from './helpers.js';

/** A v4 QoS 0 PUBLISH to topic "a" whose Remaining Length is exactly `remainingLength` (>= 3). */
function publishWithRemainingLength(remainingLength: number): PublishPacket {
  return {
    type: 'publish',
    topic: 'a',
    payload: Buffer.alloc(remainingLength - 3, 0x5a),
    qos: 0,
    retain: false,
    dup: false,
  };
}

function onlyPublish(packets: Packet[]): PublishPacket {
  assert.equal(packets.length, 1);
  const packet = packets[0]!;
  assert.equal(packet.type, 'publish');
  return packet as PublishPacket;
}

describe('maximum packet size', () => {
  test('a huge declared length throws 0x95 from the fixed header alone, before buffering', () => {
    const parser = new PacketParser({ protocolVersion: 5, maximumPacketSize: 1024 });
    // PUBLISH with Remaining Length 268435455 (0xff 0xff 0xff 0x7f): only the header is sent.
    const header = Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f]);
    assertMqttError(
      () => parser.push(header, () => assert.fail('no packet expected')),
      ReasonCode.PacketTooLarge,
    );
    assert.ok(parser.bufferedBytes <= 5, `buffered ${parser.bufferedBytes} bytes`);
  });

  test('the limit applies once the header completes across chunks', () => {
    const parser = new PacketParser({ maximumPacketSize: 100 });
    parser.push(Buffer.from([0x30, 0xff]), () => assert.fail('no packet expected'));
    assert.equal(parser.bufferedBytes, 2);
    assertMqttError(() => parser.push(Buffer.from([0x7f]), () => undefined), ReasonCode.PacketTooLarge);
  });

  test('the limit counts the fixed header: exactly at the limit passes, one byte over fails', () => {
    const bytes = encode(publishWithRemainingLength(100), 4); // 2 + 100 bytes
    assert.equal(bytes.length, 102);
    const { packets } = parseChunks([bytes], 4, 102);
    assert.equal(onlyPublish(packets).payload.length, 97);
    assertMqttError(() => parseChunks([bytes], 4, 101), ReasonCode.PacketTooLarge);
  });

  test('the default limit is the protocol maximum, and nothing is allocated for an undelivered body', () => {
    const parser = new PacketParser();
    assert.equal(parser.maximumPacketSize, 268_435_460);
    assert.equal(parser.protocolVersion, 4);
    parser.push(Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x01, 0x61]), () =>
      assert.fail('incomplete'),
    );
    assert.equal(parser.bufferedBytes, 3);
  });

  test('maximumPacketSize can be lowered between packets', () => {
    const parser = new PacketParser();
    const bytes = encode(publishWithRemainingLength(50), 4);
    let count = 0;
    parser.push(bytes, () => count++);
    parser.maximumPacketSize = 10;
    assertMqttError(() => parser.push(bytes, () => count++), ReasonCode.PacketTooLarge);
    assert.equal(count, 1);
  });
});

describe('views and copies', () => {
  test('a packet inside one chunk is decoded as a view of that chunk', () => {
    const before = encode({ type: 'pingreq' }, 4);
    const publish = encode(publishWithRemainingLength(40), 4);
    const chunk = Buffer.concat([before, publish, before]);
    const packets: Packet[] = [];
    new PacketParser().push(chunk, (packet) => packets.push(packet));
    assert.equal(packets.length, 3);
    const payload = (packets[1] as PublishPacket).payload;
    assert.equal(payload.buffer, chunk.buffer);
    assert.equal(payload.byteOffset, chunk.byteOffset + before.length + 5);
    assert.equal(payload.length, 37);
  });

  test('a packet split across chunks is copied once into its own buffer', () => {
    const publish = encode(publishWithRemainingLength(40), 4);
    // Buffer.alloc never hands out pool memory, so the chunks own their ArrayBuffers.
    const first = Buffer.alloc(10);
    const second = Buffer.alloc(publish.length - 10);
    publish.copy(first, 0, 0, 10);
    publish.copy(second, 0, 10);
    const { packets } = parseChunks([first, second], 4);
    const payload = onlyPublish(packets).payload;
    assert.notEqual(payload.buffer, first.buffer);
    assert.notEqual(payload.buffer, second.buffer);
    assert.deepEqual(payload, Buffer.alloc(37, 0x5a));
  });

  test('a chunk that ends right after a fixed header leaves the parser mid-packet, holding no byte', () => {
    const publish = encode(publishWithRemainingLength(40), 4);
    const parser = new PacketParser();
    const packets: Packet[] = [];
    assert.equal(parser.idle, true);
    // Fixed header: first byte and a one-byte Remaining Length.
    parser.push(publish.subarray(0, 2), (packet) => packets.push(packet));
    assert.equal(parser.bufferedBytes, 0);
    assert.equal(parser.idle, false, 'a body is still to come: a caller must not drop this parser');
    parser.push(publish.subarray(2), (packet) => packets.push(packet));
    assert.deepEqual(onlyPublish(packets).payload, Buffer.alloc(37, 0x5a));
    assert.equal(parser.idle, true);
  });

  test('decode() returns a view of its input', () => {
    const bytes = encode(publishWithRemainingLength(20), 4);
    const packet = decode(bytes, 4) as PublishPacket;
    assert.equal(packet.payload.buffer, bytes.buffer);
  });
});

describe('remaining length edge values', () => {
  const cases: readonly [value: number, bytes: readonly number[]][] = [
    [0, [0x00]],
    [127, [0x7f]],
    [128, [0x80, 0x01]],
    [16_383, [0xff, 0x7f]],
    [16_384, [0x80, 0x80, 0x01]],
    [2_097_151, [0xff, 0xff, 0x7f]],
    [2_097_152, [0x80, 0x80, 0x80, 0x01]],
    [268_435_455, [0xff, 0xff, 0xff, 0x7f]],
  ];

  for (const [value, expected] of cases) {
    test(`varint ${value}`, () => {
      assert.deepEqual([...encodeVarint(value)], expected);
      assert.equal(varintLength(value), expected.length);
    });
  }

  test('varint outside 0..268435455 is refused', () => {
    assertMqttError(() => encodeVarint(268_435_456), ReasonCode.MalformedPacket);
    assertMqttError(() => encodeVarint(-1), ReasonCode.MalformedPacket);
    assertMqttError(() => encodeVarint(1.5), ReasonCode.MalformedPacket);
    assertMqttError(() => varintLength(268_435_456), ReasonCode.MalformedPacket);
  });

  test('a PINGREQ carries Remaining Length 0', () => {
    const { packets } = parseChunks([Buffer.from([0xc0, 0x00])], 4);
    assert.deepEqual(packets, [{ type: 'pingreq' }]);
  });

  for (const [value, expected] of cases) {
    if (value < 3 || value > 2_097_152) continue;
    test(`PUBLISH with Remaining Length ${value} in one chunk and in random chunks`, () => {
      const bytes = encode(publishWithRemainingLength(value), 4);
      assert.deepEqual([...bytes.subarray(1, 1 + expected.length)], expected);
      assert.equal(bytes.length, 1 + expected.length + value);
      assert.equal(onlyPublish(parseChunks([bytes], 4).packets).payload.length, value - 3);
      const random = seededRandom(value);
      const chunks = randomChunks(bytes, random, Math.max(2, Math.ceil(value / 7)));
      const payload = onlyPublish(parseChunks(chunks, 4).packets).payload;
      assert.deepEqual(payload, Buffer.alloc(value - 3, 0x5a));
    });
  }

  test('Remaining Length 268435455 is accepted up to the header with the default limit', () => {
    const parser = new PacketParser();
    parser.push(Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f]), () => assert.fail('incomplete'));
    assert.equal(parser.bufferedBytes, 0);
    const limited = new PacketParser({ maximumPacketSize: 268_435_459 });
    assertMqttError(() => limited.push(Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f]), () => undefined), 0x95);
  });

  test('a 5-byte Remaining Length throws 0x81, in one chunk or split', () => {
    const bytes = Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80, 0x01]);
    assertMqttError(() => parseChunks([bytes], 4), ReasonCode.MalformedPacket);
    assertMqttError(
      () => parseChunks([bytes.subarray(0, 3), bytes.subarray(3)], 4),
      ReasonCode.MalformedPacket,
    );
    assertMqttError(() => decode(bytes, 4), ReasonCode.MalformedPacket);
  });
});

describe('protocol version tracking', () => {
  const v5Connect = encode(
    { type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: 'x' },
    5,
  );
  const v5Publish = encode(
    {
      type: 'publish',
      topic: 't',
      payload: Buffer.from('p'),
      qos: 0,
      retain: false,
      dup: false,
      properties: { contentType: 'c' },
    },
    5,
  );

  test('a CONNECT sets the version used for the packets after it, within the same chunk', () => {
    const parser = new PacketParser();
    const packets: Packet[] = [];
    parser.push(Buffer.concat([v5Connect, v5Publish]), (packet) => packets.push(packet));
    assert.equal(parser.protocolVersion, 5);
    assert.deepEqual((packets[1] as PublishPacket).properties, { contentType: 'c' });
  });

  test('the version can be set by the caller from onPacket, for the packets after it', () => {
    const parser = new PacketParser({ protocolVersion: 4 });
    const pingresp = encode({ type: 'pingresp' }, 4);
    const packets: Packet[] = [];
    parser.push(Buffer.concat([pingresp, v5Publish]), (packet) => {
      packets.push(packet);
      if (packet.type === 'pingresp') parser.protocolVersion = 5;
    });
    assert.equal(packets.length, 2);
    assert.deepEqual((packets[1] as PublishPacket).properties, { contentType: 'c' });
  });

  test('an unsupported CONNECT level is reported with the level seen', () => {
    const bytes = Buffer.from(v5Connect);
    bytes[8] = 7; // protocol level byte: after 0x10, length, 0x00 0x04 'MQTT'
    assert.throws(
      () => parseChunks([bytes], 4),
      (err: unknown) => err instanceof MqttError && err.reasonCode === 0x84 && err.protocolLevel === 7,
    );
  });
});

describe('decode() whole-buffer checks', () => {
  test('bytes after the packet are refused', () => {
    assertMqttError(() => decode(Buffer.from([0xc0, 0x00, 0x00]), 4), ReasonCode.MalformedPacket);
  });

  test('a truncated packet is refused', () => {
    assertMqttError(() => decode(Buffer.from([0x40, 0x02, 0x00]), 4), ReasonCode.MalformedPacket);
    assertMqttError(() => decode(Buffer.from([0x40]), 4), ReasonCode.MalformedPacket);
    assertMqttError(() => decode(Buffer.alloc(0), 4), ReasonCode.MalformedPacket);
  });
});

describe('topic name cache', () => {
  const publishTo = (topic: string): Buffer =>
    encode({ type: 'publish', topic, payload: Buffer.from('x'), qos: 0, retain: false, dup: false }, 4);

  test('names sharing a cache slot (only byte 1 differs) are told apart', () => {
    // The slot hashes length and bytes 0, length/2 and length-1, so these collide.
    for (const topic of ['abcd', 'aXcd', 'abcd', 'a/cd', 'aXcd']) {
      assert.equal((decode(publishTo(topic), 4) as PublishPacket).topic, topic);
    }
  });

  test('a name that differs from a cached one by a wildcard or U+0000 is still refused', () => {
    decode(publishTo('abcd'), 4);
    const wildcard = Buffer.from(publishTo('abcd'));
    wildcard[5] = 0x2b; // 'a+cd'
    assertMqttError(() => decode(wildcard, 4), ReasonCode.TopicNameInvalid);
    const nul = Buffer.from(publishTo('abcd'));
    nul[5] = 0x00;
    assertMqttError(() => decode(nul, 4), ReasonCode.MalformedPacket);
  });

  test('a cached name is returned for repeated packets and non-ASCII names decode correctly', () => {
    const first = decode(publishTo('sensors/1/temp'), 4) as PublishPacket;
    const second = decode(publishTo('sensors/1/temp'), 4) as PublishPacket;
    assert.equal(second.topic, first.topic);
    for (const topic of ['é/x', 'é/x', '€€', 'a€']) {
      assert.equal((decode(publishTo(topic), 4) as PublishPacket).topic, topic);
    }
  });
});
