/** Shared helpers of the codec tests. */
import assert from 'node:assert/strict';
import { MqttError, type Packet, PacketParser, type ProtocolVersionNumber } from '../../src/packets/index.js';

/** A small seeded PRNG (mulberry32) so random chunkings are reproducible. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Split `bytes` into chunks of 1..maxChunk bytes chosen by `random`. */
export function randomChunks(bytes: Buffer, random: () => number, maxChunk: number): Buffer[] {
  const chunks: Buffer[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const size = 1 + Math.floor(random() * maxChunk);
    chunks.push(bytes.subarray(pos, pos + size));
    pos += size;
  }
  return chunks;
}

/** Split `bytes` into one-byte chunks (copies, so no chunk shares memory with another). */
export function byteChunks(bytes: Buffer): Buffer[] {
  return [...bytes].map((byte) => Buffer.from([byte]));
}

/** Feed chunks to a new parser; returns the packets and the parser. */
export function parseChunks(
  chunks: readonly Buffer[],
  version: ProtocolVersionNumber,
  maximumPacketSize?: number,
): { packets: Packet[]; parser: PacketParser } {
  const parser = new PacketParser(
    maximumPacketSize === undefined
      ? { protocolVersion: version }
      : { protocolVersion: version, maximumPacketSize },
  );
  const packets: Packet[] = [];
  for (const chunk of chunks) parser.push(chunk, (packet) => packets.push(packet));
  return { packets, parser };
}

/** Assert that `fn` throws an MqttError with `reasonCode`. */
export function assertMqttError(fn: () => unknown, reasonCode: number, context = ''): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof MqttError, `${context}: expected MqttError, got ${String(err)}`);
    assert.equal(
      err.reasonCode,
      reasonCode,
      `${context}: expected reason code 0x${reasonCode.toString(16)}, got 0x${err.reasonCode.toString(16)} (${err.message})`,
    );
    return true;
  });
}
