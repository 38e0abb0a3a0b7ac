/**
 * Every fixture of test/fixtures/packets.ts through every path: decode, encode, mirror
 * (decode of encode) and the stream parser fed one byte at a time, in random chunks and concatenated.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decode, encode, type Packet } from '../../src/packets/index.js';
import { type PacketFixture, packetFixtures } from '../fixtures/packets.js';
import { assertMqttError, byteChunks, parseChunks, randomChunks, seededRandom } from './helpers.js';

const validFixtures = packetFixtures.filter(
  (f): f is PacketFixture & { packet: Packet } => f.packet !== undefined,
);
const invalidFixtures = packetFixtures.filter((f) => f.error !== undefined);

test('fixture table is consistent', () => {
  const names = new Set<string>();
  for (const fixture of packetFixtures) {
    assert.ok(!names.has(fixture.name), `duplicate fixture name ${fixture.name}`);
    names.add(fixture.name);
    assert.ok(
      fixture.name.startsWith(`v${fixture.version} `),
      `${fixture.name}: name starts with its version`,
    );
    assert.ok(
      (fixture.packet === undefined) !== (fixture.error === undefined),
      `${fixture.name}: exactly one of packet / error`,
    );
  }
  // The Remaining Length of every fixture matches its bytes, so a refusal is never just a length mismatch.
  for (const fixture of packetFixtures) {
    let remaining = 0;
    let multiplier = 1;
    let pos = 1;
    for (; pos < 5 && pos < fixture.bytes.length; pos++) {
      const byte = fixture.bytes[pos]!;
      remaining += (byte & 0x7f) * multiplier;
      multiplier *= 128;
      if ((byte & 0x80) === 0) break;
    }
    if (pos >= 5 || (pos > 1 && fixture.bytes[pos] === 0)) continue; // malformed length fixtures
    assert.equal(remaining, fixture.bytes.length - pos - 1, `${fixture.name}: remaining length`);
  }
  // Every packet type appears in every version where it exists.
  for (const version of [3, 4, 5] as const) {
    const types = new Set(validFixtures.filter((f) => f.version === version).map((f) => f.packet.type));
    const expected = version === 5 ? 15 : 14;
    assert.equal(types.size, expected, `v${version} covers ${[...types].join(', ')}`);
  }
});

describe('decode', () => {
  for (const fixture of validFixtures) {
    test(`decode: ${fixture.name}`, () => {
      assert.deepEqual(decode(fixture.bytes, fixture.version), fixture.packet);
    });
  }
  for (const fixture of invalidFixtures) {
    test(`decode refuses: ${fixture.name}`, () => {
      assertMqttError(() => decode(fixture.bytes, fixture.version), fixture.error!, fixture.name);
    });
  }
});

describe('encode', () => {
  for (const fixture of validFixtures) {
    if (fixture.decodeOnly) continue;
    test(`encode: ${fixture.name}`, () => {
      assert.equal(encode(fixture.packet, fixture.version).toString('hex'), fixture.bytes.toString('hex'));
    });
  }
});

describe('mirror', () => {
  for (const fixture of validFixtures) {
    test(`mirror: ${fixture.name}`, () => {
      const encoded = encode(fixture.packet, fixture.version);
      assert.deepEqual(decode(encoded, fixture.version), fixture.packet);
    });
  }
});

describe('stream', () => {
  for (const fixture of validFixtures) {
    test(`stream one byte at a time: ${fixture.name}`, () => {
      const { packets, parser } = parseChunks(byteChunks(fixture.bytes), fixture.version);
      assert.deepEqual(packets, [fixture.packet]);
      assert.equal(parser.bufferedBytes, 0);
    });
    test(`stream random chunks: ${fixture.name}`, () => {
      const random = seededRandom(fixture.bytes.length * 7919 + fixture.name.length);
      for (let round = 0; round < 5; round++) {
        const { packets, parser } = parseChunks(randomChunks(fixture.bytes, random, 8), fixture.version);
        assert.deepEqual(packets, [fixture.packet], `round ${round}`);
        assert.equal(parser.bufferedBytes, 0);
      }
    });
    test(`stream three copies in one chunk: ${fixture.name}`, () => {
      const chunk = Buffer.concat([fixture.bytes, fixture.bytes, fixture.bytes]);
      const { packets } = parseChunks([chunk], fixture.version);
      assert.deepEqual(packets, [fixture.packet, fixture.packet, fixture.packet]);
    });
  }
  for (const fixture of invalidFixtures) {
    test(`stream refuses one byte at a time: ${fixture.name}`, () => {
      assertMqttError(
        () => parseChunks(byteChunks(fixture.bytes), fixture.version),
        fixture.error!,
        fixture.name,
      );
    });
    test(`stream refuses in one chunk: ${fixture.name}`, () => {
      assertMqttError(() => parseChunks([fixture.bytes], fixture.version), fixture.error!, fixture.name);
    });
  }
  for (const version of [3, 4, 5] as const) {
    test(`stream every v${version} fixture back to back in random chunks`, () => {
      const fixtures = validFixtures.filter((f) => f.version === version);
      const all = Buffer.concat(fixtures.map((f) => f.bytes));
      const random = seededRandom(version);
      for (const maxChunk of [1, 3, 17, 64, 1024]) {
        const { packets, parser } = parseChunks(randomChunks(all, random, maxChunk), version);
        assert.deepEqual(
          packets,
          fixtures.map((f) => f.packet),
          `max chunk ${maxChunk}`,
        );
        assert.equal(parser.bufferedBytes, 0);
      }
    });
  }
});
