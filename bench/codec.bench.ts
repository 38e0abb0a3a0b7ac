/**
 * Codec benchmark: our encoder/decoder against mqtt-packet's, same packets, same run.
 *
 * Method: every operation first runs briefly (JIT warm-up); then for each compared pair, each side
 * warms up again and calibrates a call count for a round of about ROUND_MS, and ROUNDS rounds of
 * that fixed count run alternately for ours and theirs; the median round's packets/s is reported.
 * Stream decoding feeds a ~64 KiB chunk holding many whole packets, as a socket delivers them.
 *
 * Run: `npm run bench:codec` (built) or `node --import tsx bench/codec.bench.ts`.
 */
import { generate, parser, writeToStream } from 'mqtt-packet';
import {
  type CorkableWritable,
  decode,
  encode,
  encodePublish,
  type Packet,
  PacketParser,
  type PublishPacket,
  writePacket,
} from '../src/packets/index.js';
import {
  type MqttPacketObject,
  normalizePacket,
  toMqttPacketObject,
} from '../test/support/mqtt-packet-convert.js';

type Version = 4 | 5;

const WARMUP_MS = 50;
const ROUND_MS = 40;
const ROUNDS = 5;
const STREAM_CHUNK_BYTES = 64 * 1024;

/** Consumed results, so the work under measurement cannot be optimised away. */
let sink = 0;

/** A null writable: counts bytes, never applies backpressure. No cork(): see nullMqttStream. */
const nullStream: CorkableWritable = {
  write(chunk: Buffer): boolean {
    sink += chunk.length;
    return true;
  },
  cork(): void {},
  uncork(): void {},
};

/**
 * mqtt-packet's writeToStream corks a stream that has cork() and uncorks on process.nextTick, which
 * a synchronous loop would pile up; its cork is optional, so its null stream has none.
 */
const nullMqttStream = {
  write(chunk: Buffer | string): boolean {
    sink += chunk.length;
    return true;
  },
} as unknown as NodeJS.WritableStream;

/** An operation under measurement: one call processes `packets` packets. */
interface Operation {
  run: () => void;
  packets: number;
}

/** Warms `op` up for WARMUP_MS and returns how many calls make a round of about ROUND_MS. */
function calibrate(op: Operation): number {
  let calls = 0;
  const start = performance.now();
  while (performance.now() - start < WARMUP_MS) {
    for (let i = 0; i < 16; i++) op.run();
    calls += 16;
  }
  return Math.max(1, Math.round((ROUND_MS * calls) / (performance.now() - start)));
}

/** Packets/s of one round of `calls` calls. */
function round(op: Operation, calls: number): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) op.run();
  return (calls * op.packets) / (Number(process.hrtime.bigint() - start) / 1e9);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/**
 * Median packets/s of ours and theirs. Rounds alternate between the two so that load from other
 * processes falls on both alike; each side runs a fixed call count calibrated after its warm-up.
 */
function measurePair(ours: Operation, theirs: Operation): { ours: number; theirs: number } {
  const oursCalls = calibrate(ours);
  const theirsCalls = calibrate(theirs);
  const oursRates: number[] = [];
  const theirsRates: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    oursRates.push(round(ours, oursCalls));
    theirsRates.push(round(theirs, theirsCalls));
  }
  return { ours: median(oursRates), theirs: median(theirsRates) };
}

/** One table row: an operation, our rate and mqtt-packet's. */
interface Row {
  packet: string;
  operation: string;
  ours: number;
  theirs: number;
}

/** A packet to benchmark, with its mqtt-packet form and encodings prepared outside the timing. */
interface Case {
  label: string;
  packet: Packet;
  version: Version;
  object: MqttPacketObject;
  bytes: Buffer;
}

function prepare(label: string, packet: Packet, version: Version): Case {
  const object = toMqttPacketObject(packet, version);
  const bytes = encode(packet, version);
  // Both codecs must agree on the packet, or the comparison would measure different work.
  const theirs = generate(object, { protocolVersion: version });
  const expected = JSON.stringify(normalizePacket(packet, version));
  if (JSON.stringify(normalizePacket(decode(theirs, version), version)) !== expected) {
    throw new Error(`${label}: mqtt-packet's encoding does not decode to the benchmark packet`);
  }
  return { label, packet, version, object, bytes };
}

/** A chunk of whole copies of `bytes`, about STREAM_CHUNK_BYTES long, and how many it holds. */
function streamChunk(bytes: Buffer): { chunk: Buffer; packets: number } {
  const packets = Math.max(1, Math.floor(STREAM_CHUNK_BYTES / bytes.length));
  return { chunk: Buffer.concat(Array.from({ length: packets }, () => bytes)), packets };
}

/** The operations compared for one packet: label and the two sides. */
function operations(c: Case): { operation: string; ours: Operation; theirs: Operation }[] {
  const { packet, version, object, bytes } = c;
  const options = { protocolVersion: version };
  const theirGenerate: Operation = {
    run: () => {
      sink += generate(object, options).length;
    },
    packets: 1,
  };
  const list: { operation: string; ours: Operation; theirs: Operation }[] = [];
  if (packet.type === 'publish') {
    const publish: PublishPacket = packet;
    list.push({
      operation: 'encode: encodePublish | generate',
      ours: {
        run: () => {
          const { header, payload } = encodePublish(publish, version);
          sink += header.length + payload.length;
        },
        packets: 1,
      },
      theirs: theirGenerate,
    });
  }
  list.push(
    {
      operation: 'encode: encode | generate',
      ours: {
        run: () => {
          sink += encode(packet, version).length;
        },
        packets: 1,
      },
      theirs: theirGenerate,
    },
    {
      operation: 'write: writePacket | writeToStream',
      ours: { run: () => writePacket(nullStream, packet, version), packets: 1 },
      theirs: { run: () => writeToStream(object, nullMqttStream, options), packets: 1 },
    },
  );

  const { chunk, packets } = streamChunk(bytes);
  let emitted = 0;
  const count = (): void => {
    emitted++;
  };
  const ourParser = new PacketParser({ protocolVersion: version, maximumPacketSize: STREAM_CHUNK_BYTES * 2 });
  const theirParser = parser({ protocolVersion: version });
  theirParser.on('packet', count);
  theirParser.on('error', (err: unknown) => {
    throw err;
  });
  // A parser that drops or invents packets would make the rates meaningless.
  ourParser.push(chunk, count);
  theirParser.parse(chunk);
  if (emitted !== 2 * packets)
    throw new Error(`${c.label}: expected ${packets} packets per chunk from each parser`);
  list.push(
    {
      operation: `decode: PacketParser.push | parser.parse (${packets}/chunk)`,
      ours: { run: () => ourParser.push(chunk, count), packets },
      theirs: { run: () => theirParser.parse(chunk), packets },
    },
    {
      operation: 'decode: decode | parser.parse (1 packet)',
      ours: {
        run: () => {
          sink += decode(bytes, version).type.length;
        },
        packets: 1,
      },
      theirs: { run: () => theirParser.parse(bytes), packets: 1 },
    },
  );
  return list;
}

/** Runs every operation of every case briefly, so the first measured cells are not cold. */
function warmUpEverything(cases: readonly Case[]): void {
  for (const c of cases) {
    for (const { ours, theirs } of operations(c)) {
      for (const op of [ours, theirs]) {
        const end = performance.now() + 10;
        while (performance.now() < end) op.run();
      }
    }
  }
}

function publishPacket(version: Version, qos: 0 | 1, payloadBytes: number): PublishPacket {
  const packet: PublishPacket = {
    type: 'publish',
    topic: 'sensors/building-7/floor-3/temperature',
    payload: Buffer.alloc(payloadBytes, 0x61),
    qos,
    retain: false,
    dup: false,
  };
  if (qos > 0) packet.packetId = 4242;
  if (version === 5) {
    packet.properties = {
      messageExpiryInterval: 3600,
      contentType: 'application/json',
      userProperties: [
        ['trace-id', '7f3a9c2e'],
        ['region', 'eu-west-1'],
      ],
    };
  }
  return packet;
}

function connectPacket(version: Version): Packet {
  const packet: Packet = {
    type: 'connect',
    protocolName: 'MQTT',
    protocolVersion: version,
    clean: true,
    keepalive: 60,
    clientId: 'bench-client-000123',
    username: 'device-user',
    password: Buffer.from('s3cr3t-password'),
  };
  if (version === 5) packet.properties = { sessionExpiryInterval: 3600, receiveMaximum: 100 };
  return packet;
}

function subscribePacket(version: Version): Packet {
  const v5 = version === 5;
  const options = v5 ? { noLocal: false, retainAsPublished: true, retainHandling: 0 as const } : {};
  const packet: Packet = {
    type: 'subscribe',
    packetId: 17,
    subscriptions: [
      { topicFilter: 'sensors/+/temperature', qos: 1, ...options },
      { topicFilter: 'alerts/#', qos: 2, ...options },
      { topicFilter: 'devices/42/status', qos: 0, ...options },
    ],
  };
  if (v5) packet.properties = { subscriptionIdentifiers: [7] };
  return packet;
}

function versionName(version: Version): string {
  return version === 5 ? '5.0' : '3.1.1';
}

function sizeName(bytes: number): string {
  return bytes >= 1024 ? `${bytes / 1024} KiB` : `${bytes} B`;
}

function buildCases(): Case[] {
  const cases: Case[] = [];
  for (const version of [4, 5] as const) {
    for (const qos of [0, 1] as const) {
      for (const size of [16, 100, 1024]) {
        const label = `PUBLISH ${versionName(version)} QoS ${qos} ${sizeName(size)}`;
        cases.push(prepare(label, publishPacket(version, qos, size), version));
      }
    }
  }
  for (const version of [4, 5] as const) {
    cases.push(prepare(`CONNECT ${versionName(version)}`, connectPacket(version), version));
    cases.push(prepare(`SUBSCRIBE ${versionName(version)} (3 filters)`, subscribePacket(version), version));
  }
  return cases;
}

function formatRate(rate: number): string {
  return Math.round(rate).toLocaleString('en-US');
}

function printTable(rows: readonly Row[]): void {
  const header = [
    'packet',
    'operation (ours | mqtt-packet)',
    'ours pkt/s',
    'mqtt-packet pkt/s',
    'ours/theirs',
  ];
  const cells = rows.map((r) => [
    r.packet,
    r.operation,
    formatRate(r.ours),
    formatRate(r.theirs),
    `${(r.ours / r.theirs).toFixed(2)}x`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]): string =>
    c.map((v, i) => (i >= 2 ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const c of cells) console.log(line(c));
}

function geometricMean(values: readonly number[]): number {
  return Math.exp(values.reduce((sum, v) => sum + Math.log(v), 0) / values.length);
}

function main(): void {
  const started = performance.now();
  console.log(
    `codec benchmark: median of ${ROUNDS} alternating rounds of ~${ROUND_MS} ms each side, after warm-up; Node ${process.version}`,
  );
  console.log(
    'encode rows: encodePublish returns header + payload by reference (how the broker writes); generate copies into one ' +
      "Buffer; mqtt-packet's comparable by-reference path is writeToStream, compared with our writePacket on a null stream.",
  );
  console.log('');
  const cases = buildCases();
  warmUpEverything(cases);
  const rows: Row[] = [];
  for (const c of cases) {
    for (const { operation, ours, theirs } of operations(c)) {
      rows.push({ packet: c.label, operation, ...measurePair(ours, theirs) });
    }
  }
  printTable(rows);
  const publishRatio = (prefix: string): number =>
    geometricMean(
      rows
        .filter((r) => r.packet.startsWith('PUBLISH') && r.operation.startsWith(prefix))
        .map((r) => r.ours / r.theirs),
    );
  console.log('');
  console.log(
    `PUBLISH ours/mqtt-packet (geometric mean of 12 cases): encode (encodePublish vs generate) ` +
      `${publishRatio('encode: encodePublish').toFixed(2)}x, ` +
      `write (writePacket vs writeToStream) ${publishRatio('write:').toFixed(2)}x, ` +
      `decode (PacketParser 64 KiB chunks vs parser.parse) ${publishRatio('decode: PacketParser').toFixed(2)}x, ` +
      `decode single (decode vs parser.parse) ${publishRatio('decode: decode').toFixed(2)}x ` +
      `[${((performance.now() - started) / 1000).toFixed(1)} s, sink ${sink % 10}]`,
  );
}

main();
