/**
 * Property-based tests (fast-check), each bounded to about 3 seconds: arbitrary and mutated bytes fed
 * to the parser in arbitrary chunks give packets or an MqttError and nothing else; whatever decodes
 * survives re-encoding; generated packets round-trip.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  decode,
  encode,
  MqttError,
  type Packet,
  PacketParser,
  type Properties,
  type ProtocolVersionNumber,
  type PublishPacket,
  type SubscribePacket,
} from '../../src/packets/index.js';
import { packetFixtures } from '../fixtures/packets.js';

/** Each property runs until this many milliseconds have passed (or numRuns is reached). */
const TIME_LIMIT_MS = 3000;
const runOptions = {
  numRuns: 1_000_000,
  interruptAfterTimeLimit: TIME_LIMIT_MS,
  markInterruptAsFailure: false,
};

const versionArb = fc.constantFrom<ProtocolVersionNumber>(3, 4, 5);

/** Every reason code an MqttError from the decoder may carry. */
const DECODER_CODES = new Set([0x81, 0x82, 0x84, 0x90, 0x95]);

/**
 * Feed `bytes` cut at `cuts` (chunk sizes, cycled) to a parser. Returns the packets decoded before the
 * end or before an MqttError; any other exception fails the property.
 */
function feed(bytes: Uint8Array, cuts: readonly number[], version: ProtocolVersionNumber): Packet[] {
  const buf = Buffer.from(bytes);
  const parser = new PacketParser({ protocolVersion: version, maximumPacketSize: 1 << 16 });
  const packets: Packet[] = [];
  let pos = 0;
  let cut = 0;
  try {
    // Bounded: every iteration consumes at least one byte.
    while (pos < buf.length) {
      const size = Math.max(1, cuts.length === 0 ? buf.length : cuts[cut++ % cuts.length]!);
      parser.push(buf.subarray(pos, pos + size), (packet) => packets.push(packet));
      pos += size;
    }
  } catch (err) {
    if (!(err instanceof MqttError)) throw err;
    assert.ok(DECODER_CODES.has(err.reasonCode), `unexpected reason code 0x${err.reasonCode.toString(16)}`);
    return packets;
  }
  assert.ok(parser.bufferedBytes <= buf.length);
  return packets;
}

/** A decoded packet must encode again and decode to the same value (for its own version). */
function assertReencodes(packet: Packet, version: ProtocolVersionNumber): void {
  const v = packet.type === 'connect' ? packet.protocolVersion : version;
  assert.deepEqual(decode(encode(packet, v), v), packet);
}

/** Decode with the version a stream would have after any CONNECT, re-encoding everything decoded. */
function feedAndReencode(bytes: Uint8Array, cuts: readonly number[], version: ProtocolVersionNumber): void {
  let current = version;
  for (const packet of feed(bytes, cuts, version)) {
    if (packet.type === 'connect') current = packet.protocolVersion;
    assertReencodes(packet, current);
  }
}

const cutsArb = fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 8 });

test('arbitrary bytes in arbitrary chunks: packets or MqttError, nothing else', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 512 }), cutsArb, versionArb, (bytes, cuts, version) => {
      feedAndReencode(bytes, cuts, version);
    }),
    runOptions,
  );
});

/** First bytes with valid type and flags, so the body decoders do the refusing. */
const FIRST_BYTES = [
  0x10, 0x20, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x3a, 0x3b, 0x3c, 0x3d, 0x40, 0x50, 0x62, 0x70, 0x82, 0x90,
  0xa2, 0xb0, 0xc0, 0xd0, 0xe0, 0xf0,
];

test('valid-looking fixed header with an arbitrary body: packets or MqttError', () => {
  const packetArb = fc
    .tuple(fc.constantFrom(...FIRST_BYTES), fc.uint8Array({ maxLength: 300 }))
    .map(([first, body]) => {
      const header = [first];
      let length = body.length;
      do {
        header.push((length & 0x7f) | (length >= 128 ? 0x80 : 0));
        length >>>= 7;
      } while (length > 0);
      return Buffer.concat([Buffer.from(header), body]);
    });
  fc.assert(
    fc.property(
      fc.array(packetArb, { minLength: 1, maxLength: 4 }),
      cutsArb,
      versionArb,
      (packets, cuts, version) => {
        feedAndReencode(Buffer.concat(packets), cuts, version);
      },
    ),
    runOptions,
  );
});

test('mutated fixture bytes: packets or MqttError', () => {
  const fixtureArb = fc.constantFrom(...packetFixtures);
  const mutationArb = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
    minLength: 1,
    maxLength: 4,
  });
  fc.assert(
    fc.property(fixtureArb, mutationArb, fc.nat(), cutsArb, (fixture, mutations, truncate, cuts) => {
      const bytes = Buffer.from(fixture.bytes);
      for (const [index, value] of mutations) bytes[index % bytes.length] = value;
      feedAndReencode(bytes, cuts, fixture.version);
      // A shortened copy followed by the original exercises resynchronisation on lengths that lie.
      const shortened = bytes.subarray(0, truncate % (bytes.length + 1));
      feedAndReencode(Buffer.concat([shortened, fixture.bytes]), cuts, fixture.version);
    }),
    runOptions,
  );
});

// ---------------------------------------------------------------- generated packets round-trip

/** Well-formed strings without U+0000 (grapheme units never contain lone surrogates). */
const textArb = (maxLength: number) =>
  fc.string({ unit: 'grapheme', maxLength }).filter((s) => !s.includes('\u0000'));
const topicArb = textArb(20).filter((s) => s.length > 0 && !s.includes('+') && !s.includes('#'));
const bufferArb = (maxLength: number) => fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));
const uint32Arb = fc.integer({ min: 0, max: 0xffff_ffff });
const userPropertiesArb = fc.array(
  fc.tuple(textArb(8), textArb(8)).map(([k, v]): [string, string] => [k, v]),
  { minLength: 1, maxLength: 3 },
);

const publishPropertiesArb: fc.Arbitrary<Properties> = fc.record(
  {
    payloadFormatIndicator: fc.constantFrom(0, 1),
    messageExpiryInterval: uint32Arb,
    contentType: textArb(10),
    responseTopic: topicArb,
    correlationData: bufferArb(10),
    subscriptionIdentifiers: fc.array(fc.integer({ min: 1, max: 268_435_455 }), {
      minLength: 1,
      maxLength: 3,
    }),
    topicAlias: fc.integer({ min: 1, max: 0xffff }),
    userProperties: userPropertiesArb,
  },
  { requiredKeys: [] },
);

const publishArb = (version: ProtocolVersionNumber): fc.Arbitrary<PublishPacket> =>
  fc
    .record({
      topic: topicArb,
      payload: bufferArb(200),
      qos: fc.constantFrom<0 | 1 | 2>(0, 1, 2),
      retain: fc.boolean(),
      dup: fc.boolean(),
      packetId: fc.integer({ min: 1, max: 0xffff }),
      properties: publishPropertiesArb,
    })
    .map(({ topic, payload, qos, retain, dup, packetId, properties }) => {
      const packet: PublishPacket = { type: 'publish', topic, payload, qos, retain, dup: qos > 0 && dup };
      if (qos > 0) packet.packetId = packetId;
      // fc.record builds null-prototype objects; the decoder builds plain ones.
      if (version === 5 && Object.keys(properties).length > 0) packet.properties = { ...properties };
      return packet;
    });

const subscribeArb = (version: ProtocolVersionNumber): fc.Arbitrary<SubscribePacket> =>
  fc
    .record({
      packetId: fc.integer({ min: 1, max: 0xffff }),
      subscriptions: fc.array(
        fc.record({
          topicFilter: textArb(20),
          qos: fc.constantFrom<0 | 1 | 2>(0, 1, 2),
          noLocal: fc.boolean(),
          retainAsPublished: fc.boolean(),
          retainHandling: fc.constantFrom<0 | 1 | 2>(0, 1, 2),
        }),
        { minLength: 1, maxLength: 4 },
      ),
      subscriptionId: fc.option(fc.integer({ min: 1, max: 268_435_455 }), { nil: undefined }),
    })
    .map(({ packetId, subscriptions, subscriptionId }) => {
      const packet: SubscribePacket = {
        type: 'subscribe',
        packetId,
        subscriptions: subscriptions.map((s) =>
          version === 5
            ? { ...s, noLocal: s.noLocal && !s.topicFilter.startsWith('$share/') }
            : { topicFilter: s.topicFilter, qos: s.qos },
        ),
      };
      if (version === 5 && subscriptionId !== undefined)
        packet.properties = { subscriptionIdentifiers: [subscriptionId] };
      return packet;
    });

test('generated PUBLISH and SUBSCRIBE packets round-trip through encode, decode and the parser', () => {
  const caseArb = versionArb.chain((version) =>
    fc.tuple(
      fc.constant(version),
      fc.array(fc.oneof(publishArb(version), subscribeArb(version)), { minLength: 1, maxLength: 5 }),
      cutsArb,
    ),
  );
  fc.assert(
    fc.property(caseArb, ([version, packets, cuts]) => {
      for (const packet of packets) assert.deepEqual(decode(encode(packet, version), version), packet);
      const stream = Buffer.concat(packets.map((p) => encode(p, version)));
      assert.deepEqual(feed(stream, cuts, version), packets);
    }),
    runOptions,
  );
});
