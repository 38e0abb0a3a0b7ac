/**
 * The fuzzer's seed corpus: valid packets of every type for MQTT 3.1 (`MQIsdp`/3), 3.1.1 and 5.0, from
 * the project's fast-check arbitraries (sampled once, from a seed) and the annotated byte fixtures (the
 * invalid fixtures too, sent as they are). Each frame is encoded and mapped into fields once, so the hot
 * loop only picks and mutates. CONNECTs are kept as packets: every session re-encodes one with its own
 * client id and keep alive.
 */
import fc from 'fast-check';
import { encode } from '../../src/packets/index.js';
import type { ConnectPacket, Packet, PacketTypeName } from '../../src/packets/types.js';
import { packetFixtures } from '../../test/fixtures/packets.js';
import { PACKET_TYPES_BY_VERSION, packetArbitrary } from '../../test/support/packet-arbitraries.js';
import { type Field, fieldMap } from './fuzz-grammar.js';

export type FuzzVersion = 3 | 4 | 5;
export const FUZZ_VERSIONS: readonly FuzzVersion[] = [3, 4, 5];

/** One ready-to-send frame. */
export interface CorpusFrame {
  readonly type: PacketTypeName | 'invalid';
  readonly bytes: Buffer;
  readonly fields: readonly Field[];
}

/** Everything the fuzzer needs for one protocol level. */
export interface VersionCorpus {
  readonly version: FuzzVersion;
  readonly connects: readonly ConnectPacket[];
  /** Valid frames by packet type (CONNECT included, for a second CONNECT on a session). */
  readonly byType: ReadonlyMap<PacketTypeName, readonly CorpusFrame[]>;
  /** Fixtures the decoder must refuse, as bytes. */
  readonly invalid: readonly CorpusFrame[];
}

export type Corpus = Readonly<Record<FuzzVersion, VersionCorpus>>;

/** Build the corpus: `perType` sampled packets per type and level, plus every fixture. Deterministic per seed. */
export function buildCorpus(seed: number, perType: number): Corpus {
  return {
    3: versionCorpus(3, seed, perType),
    4: versionCorpus(4, seed + 1, perType),
    5: versionCorpus(5, seed + 2, perType),
  };
}

function versionCorpus(version: FuzzVersion, seed: number, perType: number): VersionCorpus {
  // 3.1 shares 3.1.1's packet layouts; it differs in the CONNECT header (and the broker's rules).
  const arbitraryVersion = version === 5 ? 5 : 4;
  const byType = new Map<PacketTypeName, CorpusFrame[]>();
  const connects: ConnectPacket[] = [];
  const add = (packet: Packet): void => {
    const adapted = packet.type === 'connect' ? adaptConnect(packet, version) : packet;
    if (adapted.type === 'connect') connects.push(adapted);
    let bytes: Buffer;
    try {
      bytes = encode(adapted, version);
    } catch {
      return; // a generated packet this level cannot carry is simply left out
    }
    const list = byType.get(adapted.type) ?? [];
    list.push({ type: adapted.type, bytes, fields: fieldMap(bytes, version) });
    byType.set(adapted.type, list);
  };
  PACKET_TYPES_BY_VERSION[arbitraryVersion].forEach((type, i) => {
    const samples = fc.sample(packetArbitrary(type, arbitraryVersion), {
      numRuns: perType,
      seed: seed * 31 + i,
    });
    for (const packet of samples) add(packet);
  });
  const invalid: CorpusFrame[] = [];
  for (const fixture of packetFixtures) {
    if (fixture.version !== version) continue;
    if (fixture.packet !== undefined) {
      const list = byType.get(fixture.packet.type) ?? [];
      list.push({
        type: fixture.packet.type,
        bytes: fixture.bytes,
        fields: fieldMap(fixture.bytes, version),
      });
      byType.set(fixture.packet.type, list);
      if (fixture.packet.type === 'connect') connects.push(fixture.packet);
    } else {
      invalid.push({ type: 'invalid', bytes: fixture.bytes, fields: fieldMap(fixture.bytes, version) });
    }
  }
  return { version, connects, byType, invalid };
}

/** A 3.1.1 CONNECT turned into a 3.1 one (`MQIsdp`, level 3); others unchanged. */
function adaptConnect(packet: ConnectPacket, version: FuzzVersion): ConnectPacket {
  if (version !== 3) return packet;
  return { ...packet, protocolName: 'MQIsdp', protocolVersion: 3 };
}

/** Frames per type, for reporting what the corpus holds. */
export function corpusSummary(corpus: Corpus): string {
  return FUZZ_VERSIONS.map((v) => {
    const c = corpus[v];
    let frames = 0;
    for (const list of c.byType.values()) frames += list.length;
    return `v${v}: ${frames} valid frames over ${c.byType.size} types, ${c.invalid.length} invalid fixtures, ${c.connects.length} CONNECTs`;
  }).join('; ');
}
