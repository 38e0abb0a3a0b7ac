/**
 * Differential tests of the codec against mqtt-packet (the MQTT.js codec), for 3.1.1 and 5.0.
 *
 * For generated valid packets of every type: what we encode, mqtt-packet parses to the same packet;
 * what mqtt-packet generates, we decode to the same packet. Packets are compared in the normal form
 * of `normalizePacket`, not as bytes, because 5.0 lets encoders differ (property order, short-form
 * acknowledgements). For 3.1.1 the encoding is fully determined, so the bytes must match too.
 *
 * User properties are generated grouped by name (`groupedUserProperties`): mqtt-packet keeps them in
 * an object, so pairs with different names lose their interleaving order there. mqtt-packet's own
 * deviations from the spec are listed in `MQTT_PACKET_LIMITS` and skipped, each with its reason.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { generate, parser } from 'mqtt-packet';
import { decode, encode, encodePublish, PacketParser } from '../../src/packets/index.js';
import type { ConnectPacket, Packet, Properties, PublishPacket } from '../../src/packets/types.js';
import {
  fromMqttPacketObject,
  type MqttPacketObject,
  normalizePacket,
  toMqttPacketObject,
} from '../support/mqtt-packet-convert.js';
import {
  type ArbitraryVersion,
  anyPacketArbitrary,
  PACKET_TYPES_BY_VERSION,
  packetArbitrary,
} from '../support/packet-arbitraries.js';

const VERSIONS: readonly ArbitraryVersion[] = [4, 5];
const ARBITRARY_OPTIONS = { groupedUserProperties: true } as const;
/**
 * Property run limits: `numRuns` runs or `limitMs`, whichever comes first, and never past the file's
 * time budget, so that a loaded machine shortens the runs instead of stretching the suite.
 */
const FILE_BUDGET_MS = 20_000;
const fileStarted = Date.now();
function runParameters(numRuns = 300, limitMs = 2000): fc.Parameters<unknown> {
  const budgetLeft = Math.max(250, FILE_BUDGET_MS - (Date.now() - fileStarted));
  return { numRuns, plugins: [fc.interruptAfterTimeLimit(Math.min(limitMs, budgetLeft))] };
}

/** Every properties object of a packet, will properties included. */
function allProperties(packet: Packet): Properties[] {
  const list: Properties[] = [];
  if ('properties' in packet && packet.properties !== undefined) list.push(packet.properties);
  if (packet.type === 'connect' && packet.will?.properties !== undefined) list.push(packet.will.properties);
  return list;
}

/**
 * Packets mqtt-packet 9.0.2 handles against the spec, so they cannot take part in one direction of
 * the comparison. Each predicate names what mqtt-packet does and where the spec says otherwise.
 */
const MQTT_PACKET_LIMITS = {
  /**
   * Its parser merges a repeated user property name into an array only when the first value is
   * truthy (`if (result[name][currentUserProperty.name])` in parser.js): a first value `''` is
   * overwritten by the second. 5.0 section 3.3.2.3.7 allows any UTF-8 string pair, repeated names
   * included, so the bytes are fine and mqtt-packet loses data when parsing them.
   */
  parserDropsEmptyRepeatedUserProperty(packet: Packet): boolean {
    return allProperties(packet).some((props) => {
      const seen = new Map<string, string>();
      for (const [name, value] of props.userProperties ?? []) {
        const first = seen.get(name);
        if (first === '') return true;
        if (first === undefined) seen.set(name, value);
      }
      return false;
    });
  },
  /**
   * Its `generate` refuses a 5.0 CONNECT that has a password without a user name ("Username is
   * required to use password"); 5.0 section 3.1.2.9 allows it (only 3.1.1 forbids it, [MQTT-3.1.2-22]).
   */
  generateRefusesPasswordWithoutUsername(packet: Packet): boolean {
    return packet.type === 'connect' && packet.password !== undefined && packet.username === undefined;
  },
  /**
   * Its `generate` refuses an empty ClientId with Clean Start 0 at every level; only 3.1.1 requires
   * Clean Session 1 then ([MQTT-3.1.3-7] of 3.1.1); 5.0 section 3.1.3.1 lets the server assign one.
   */
  generateRefusesEmptyClientIdWithoutClean(packet: Packet): boolean {
    return packet.type === 'connect' && packet.clientId === '' && !packet.clean;
  },
} as const;

function canMqttPacketParse(packet: Packet): boolean {
  return !MQTT_PACKET_LIMITS.parserDropsEmptyRepeatedUserProperty(packet);
}

function canMqttPacketGenerate(packet: Packet): boolean {
  return (
    !MQTT_PACKET_LIMITS.generateRefusesPasswordWithoutUsername(packet) &&
    !MQTT_PACKET_LIMITS.generateRefusesEmptyClientIdWithoutClean(packet)
  );
}

/** All packets mqtt-packet's parser emits for `chunks` at `version`; throws on its 'error' event. */
function parseWithMqttPacket(chunks: readonly Buffer[], version: ArbitraryVersion): MqttPacketObject[] {
  const mqttParser = parser({ protocolVersion: version });
  const packets: MqttPacketObject[] = [];
  let failure: unknown;
  mqttParser.on('packet', (p: MqttPacketObject) => packets.push(p));
  mqttParser.on('error', (err: unknown) => {
    failure ??= err;
  });
  let left = 0;
  for (const chunk of chunks) left = mqttParser.parse(chunk);
  if (failure !== undefined) throw failure;
  assert.equal(left, 0, 'mqtt-packet left bytes unparsed');
  return packets;
}

/** All packets our PacketParser emits for `chunks` at `version`. */
function parseWithOurParser(chunks: readonly Buffer[], version: ArbitraryVersion): Packet[] {
  const ourParser = new PacketParser({ protocolVersion: version });
  const packets: Packet[] = [];
  for (const chunk of chunks) ourParser.push(chunk, (p) => packets.push(p));
  assert.equal(ourParser.bufferedBytes, 0, 'PacketParser kept bytes after whole packets');
  return packets;
}

/** Ours → theirs: our encoding parses, in mqtt-packet, to the packet we encoded. */
function checkOurEncodingParsesInMqttPacket(packet: Packet, version: ArbitraryVersion): Buffer {
  const bytes = encode(packet, version);
  const parsed = parseWithMqttPacket([bytes], version);
  assert.equal(parsed.length, 1, 'mqtt-packet should parse exactly one packet');
  const theirs = fromMqttPacketObject(parsed[0]!, version);
  assert.deepEqual(normalizePacket(theirs, version), normalizePacket(packet, version));
  return bytes;
}

/** Theirs → ours: mqtt-packet's encoding decodes, with decode and PacketParser, to the packet. */
function checkMqttPacketEncodingDecodes(packet: Packet, version: ArbitraryVersion): Buffer {
  const bytes = generate(toMqttPacketObject(packet, version), { protocolVersion: version });
  const expected = normalizePacket(packet, version);
  assert.deepEqual(normalizePacket(decode(bytes, version), version), expected);
  const streamed = parseWithOurParser([bytes], version);
  assert.equal(streamed.length, 1, 'PacketParser should emit exactly one packet');
  assert.deepEqual(normalizePacket(streamed[0]!, version), expected);
  return bytes;
}

function checkBothDirections(packet: Packet, version: ArbitraryVersion): void {
  const ours = canMqttPacketParse(packet) ? checkOurEncodingParsesInMqttPacket(packet, version) : undefined;
  const theirs = canMqttPacketGenerate(packet) ? checkMqttPacketEncodingDecodes(packet, version) : undefined;
  // 3.1.1 has one encoding per packet (no properties, no optional fields), so the bytes must agree.
  if (version === 4 && ours !== undefined && theirs !== undefined) {
    assert.deepEqual(ours.toString('hex'), theirs.toString('hex'), 'the 3.1.1 encodings differ');
  }
}

for (const version of VERSIONS) {
  describe(`differential vs mqtt-packet, MQTT ${version === 5 ? '5.0' : '3.1.1'}`, () => {
    for (const type of PACKET_TYPES_BY_VERSION[version]) {
      test(`${type} round-trips between the two codecs`, () => {
        fc.assert(
          fc.property(packetArbitrary(type, version, ARBITRARY_OPTIONS), (packet) => {
            checkBothDirections(packet, version);
          }),
          runParameters(),
        );
      });
    }

    test('encodePublish gives the bytes of encode, the payload by reference', () => {
      fc.assert(
        fc.property(packetArbitrary('publish', version, ARBITRARY_OPTIONS), (packet) => {
          const { header, payload } = encodePublish(packet, version);
          assert.equal(payload, packet.payload, 'the payload must be the caller’s Buffer, not a copy');
          assert.deepEqual(Buffer.concat([header, payload]), encode(packet, version));
        }),
        runParameters(),
      );
    });

    test('a stream of packets cut at random points parses the same in both parsers', () => {
      const streamablePacket = anyPacketArbitrary(version, ARBITRARY_OPTIONS).filter(
        // mqtt-packet's parser reads a 5.0 DISCONNECT's reason code when *its buffer* is non-empty
        // (`this._list.length > 0`), not when the packet has one: a Remaining Length 0 DISCONNECT
        // (allowed, 3.14.2.1) followed by another packet takes that packet's first byte.
        (p) => canMqttPacketParse(p) && !(version === 5 && p.type === 'disconnect'),
      );
      fc.assert(
        fc.property(
          fc.array(streamablePacket, { minLength: 1, maxLength: 8 }),
          fc.array(fc.nat(), { maxLength: 8 }),
          (packets, cutSeeds) => {
            const stream = Buffer.concat(packets.map((p) => encode(p, version)));
            const cuts = [...new Set(cutSeeds.map((seed) => seed % (stream.length + 1)))].sort(
              (a, b) => a - b,
            );
            const chunks: Buffer[] = [];
            let start = 0;
            for (const cut of [...cuts, stream.length]) {
              chunks.push(stream.subarray(start, cut));
              start = cut;
            }
            const expected = packets.map((p) => normalizePacket(p, version));
            // Compared after the last chunk: packets already emitted must not change with later pushes.
            const ours = parseWithOurParser(chunks, version);
            assert.deepEqual(
              ours.map((p) => normalizePacket(p, version)),
              expected,
            );
            const theirs = parseWithMqttPacket(chunks, version);
            assert.deepEqual(
              theirs.map((p) => normalizePacket(fromMqttPacketObject(p, version), version)),
              expected,
            );
          },
        ),
        runParameters(200, 3000),
      );
    });
  });
}

describe('differential at the encoding limits', () => {
  /** A QoS 0 PUBLISH on topic `t` whose Remaining Length is exactly `remainingLength`. */
  function publishWithRemainingLength(remainingLength: number, version: ArbitraryVersion): PublishPacket {
    const overhead = 2 + 1 + (version === 5 ? 1 : 0); // topic length prefix, topic, empty property list
    const payload = Buffer.alloc(remainingLength - overhead, 0x5a);
    return { type: 'publish', topic: 't', payload, qos: 0, retain: false, dup: false };
  }

  for (const version of VERSIONS) {
    test(`Remaining Length at each varint boundary, MQTT ${version}`, () => {
      // 1.5.5: the Remaining Length takes 1 byte up to 127, 2 up to 16,383, 3 up to 2,097,151, then 4.
      const boundaries: [remainingLength: number, lengthBytes: number][] = [
        [127, 1],
        [128, 2],
        [16_383, 2],
        [16_384, 3],
        [2_097_151, 3],
        [2_097_152, 4],
      ];
      for (const [remainingLength, lengthBytes] of boundaries) {
        const packet = publishWithRemainingLength(remainingLength, version);
        const bytes = encode(packet, version);
        assert.equal(
          bytes.length,
          1 + lengthBytes + remainingLength,
          `size with Remaining Length ${remainingLength}`,
        );
        checkBothDirections(packet, version);
      }
    });

    test(`the longest topic name (65,535 bytes), MQTT ${version}`, () => {
      // [MQTT-4.7.3-3]: topic names encode to at most 65,535 bytes; 'é' takes two, so one ASCII byte ends it.
      const topic = `${'é'.repeat(32_767)}a`;
      assert.equal(Buffer.byteLength(topic), 0xffff);
      const packet: PublishPacket = {
        type: 'publish',
        topic,
        payload: Buffer.from('x'),
        qos: 1,
        packetId: 0xffff,
        retain: true,
        dup: true,
      };
      checkBothDirections(packet, version);
    });
  }
});

describe('differential checks guard themselves', () => {
  test('the comparison notices a changed field', () => {
    const connect: ConnectPacket = {
      type: 'connect',
      protocolName: 'MQTT',
      protocolVersion: 5,
      clean: true,
      keepalive: 60,
      clientId: 'a',
      properties: { userProperties: [['k', 'v']] },
    };
    const bytes = generate(toMqttPacketObject(connect, 5), { protocolVersion: 5 });
    const decoded = normalizePacket(decode(bytes, 5), 5);
    assert.deepEqual(decoded, normalizePacket(connect, 5));
    assert.notDeepEqual(decoded, normalizePacket({ ...connect, keepalive: 61 }, 5));
    assert.notDeepEqual(
      decoded,
      normalizePacket({ ...connect, properties: { userProperties: [['k', 'w']] } }, 5),
    );
  });

  test('the skipped mqtt-packet limits are real and detected only where they apply', () => {
    const anonymous: ConnectPacket = {
      type: 'connect',
      protocolName: 'MQTT',
      protocolVersion: 5,
      clean: false,
      keepalive: 0,
      clientId: '',
    };
    assert.equal(canMqttPacketGenerate(anonymous), false);
    assert.throws(() => generate(toMqttPacketObject(anonymous, 5), { protocolVersion: 5 }));
    const passwordOnly: ConnectPacket = { ...anonymous, clientId: 'c', password: Buffer.from('p') };
    assert.equal(canMqttPacketGenerate(passwordOnly), false);
    assert.throws(() => generate(toMqttPacketObject(passwordOnly, 5), { protocolVersion: 5 }));
    assert.equal(canMqttPacketGenerate({ ...anonymous, clientId: 'c' }), true);

    const puback = (pairs: [string, string][]): Packet => ({
      type: 'puback',
      packetId: 1,
      reasonCode: 0x10,
      properties: { userProperties: pairs },
    });
    const lossy = puback([
      ['a', ''],
      ['a', 'x'],
    ]);
    assert.equal(canMqttPacketParse(lossy), false);
    const [parsed] = parseWithMqttPacket([encode(lossy, 5)], 5);
    assert.notDeepEqual(normalizePacket(fromMqttPacketObject(parsed!, 5), 5), normalizePacket(lossy, 5));
    assert.equal(
      canMqttPacketParse(
        puback([
          ['a', 'x'],
          ['a', ''],
        ]),
      ),
      true,
    );
    assert.equal(
      canMqttPacketParse(
        puback([
          ['a', ''],
          ['b', ''],
        ]),
      ),
      true,
    );
  });
});
