/**
 * One fuzz session: a real TCP connection to the broker that sends a (usually valid, sometimes mutated)
 * CONNECT, then rounds of generated frames, each round's bytes cut at random points into several writes.
 * Sessions differ in temper: calm ones mostly send valid packets and answer the broker's QoS flows (so
 * deliveries, acknowledgements and packet identifiers get exercised), hostile ones mutate a lot, some never
 * send CONNECT and some send bytes with no structure at all. The bytes written are recorded so a crash can
 * be replayed.
 */
import net from 'node:net';
import { encode, type Packet, PacketParser } from '../../src/packets/index.js';
import type { ConnectPacket, PacketTypeName } from '../../src/packets/types.js';
import type { CorpusFrame, FuzzVersion, VersionCorpus } from './fuzz-corpus.js';
import { fieldMap } from './fuzz-grammar.js';
import { mutate } from './fuzz-mutate.js';
import type { Rng } from './rng.js';

export type Temper = 'calm' | 'mixed' | 'hostile' | 'no-connect' | 'noise';

/** Chance that a frame is mutated, by temper. */
const MUTATION: Record<Temper, number> = {
  calm: 0.01,
  mixed: 0.1,
  hostile: 0.45,
  'no-connect': 0.1,
  noise: 0,
};

/** What a session sends after CONNECT, weighted: mostly what clients send, some server-only packets. */
const TYPE_WEIGHTS: readonly (readonly [PacketTypeName, number])[] = [
  ['publish', 32],
  ['subscribe', 12],
  ['unsubscribe', 6],
  ['puback', 5],
  ['pubrec', 5],
  ['pubrel', 6],
  ['pubcomp', 4],
  ['pingreq', 8],
  ['disconnect', 1],
  ['auth', 2],
  ['connect', 1],
  ['connack', 1],
  ['suback', 1],
  ['unsuback', 1],
  ['pingresp', 1],
];
const TYPE_TOTAL = TYPE_WEIGHTS.reduce((sum, [, w]) => sum + w, 0);

/** Client ids shared by all sessions so that takeovers and resumed sessions happen. */
const CLIENT_ID_POOL = 48;
const KEEPALIVES = [0, 0, 0, 1, 2, 30, 600, 65_535];
const RECORD_LIMIT = 2 * 1024 * 1024;
const SESSION_TIME_LIMIT_MS = 15_000;

export interface SessionResult {
  /** Frames handed to the socket while it was open. */
  readonly frames: number;
  readonly bytes: number;
  /** The broker closed or reset the connection before the session was done. */
  readonly closedByBroker: boolean;
  /** The TCP connection could not be made. */
  readonly connectError: string | undefined;
}

/** A session's written bytes, kept for crash reports (the first write and the most recent ones). */
export class SessionRecord {
  readonly pieces: Buffer[] = [];
  /** True once bytes were dropped from the middle: a replay is then no longer exact. */
  truncated = false;
  private size = 0;

  constructor(
    readonly id: number,
    readonly seed: number,
    readonly version: FuzzVersion,
    readonly temper: string,
  ) {}

  add(piece: Buffer): void {
    this.pieces.push(piece);
    this.size += piece.length;
    while (this.size > RECORD_LIMIT && this.pieces.length > 2) {
      this.size -= (this.pieces[1] as Buffer).length;
      this.pieces.splice(1, 1);
      this.truncated = true;
    }
  }

  bytes(): Buffer {
    return Buffer.concat(this.pieces);
  }
}

export interface SessionContext {
  readonly port: number;
  readonly corpus: VersionCorpus;
  /** Set when the run stops (crash, hang, done): sessions end at their next step. */
  readonly stop: { stopped: boolean };
  /** The session's byte record, kept by the caller while the session runs and a while after. */
  readonly record: SessionRecord;
}

/** A session's temper, drawn from the session's own generator. */
export function pickTemper(rng: Rng): Temper {
  const r = rng.int(100);
  if (r < 45) return 'calm';
  if (r < 75) return 'mixed';
  if (r < 90) return 'hostile';
  if (r < 95) return 'no-connect';
  return 'noise';
}

function pickType(rng: Rng, version: FuzzVersion): PacketTypeName {
  for (;;) {
    let r = rng.int(TYPE_TOTAL);
    for (const [type, weight] of TYPE_WEIGHTS) {
      r -= weight;
      if (r < 0) {
        if (type === 'auth' && version !== 5) break;
        return type;
      }
    }
  }
}

/** A CONNECT for this session: a corpus one with a pooled client id, a short keep alive, no auth method mostly. */
function sessionConnect(corpus: VersionCorpus, rng: Rng): Buffer {
  const base = rng.pick(corpus.connects);
  const packet: ConnectPacket = { ...base, keepalive: rng.pick(KEEPALIVES), clean: rng.chance(0.6) };
  if (rng.chance(0.7)) packet.clientId = `fz-${rng.int(CLIENT_ID_POOL)}`;
  if (base.properties?.authenticationMethod !== undefined && rng.chance(0.9)) {
    const { authenticationMethod: _m, authenticationData: _d, ...rest } = base.properties;
    packet.properties = rest;
  }
  try {
    return encode(packet, corpus.version);
  } catch {
    return encode({ ...packet, clientId: `fz-${rng.int(CLIENT_ID_POOL)}`, properties: {} }, corpus.version);
  }
}

function pickFrame(corpus: VersionCorpus, rng: Rng, type: PacketTypeName): CorpusFrame | undefined {
  const list = corpus.byType.get(type);
  return list === undefined || list.length === 0 ? undefined : rng.pick(list);
}

/** Run one session to its end. Never throws: network errors are outcomes. */
export async function runSession(ctx: SessionContext, rng: Rng, budget: number): Promise<SessionResult> {
  const { corpus, record } = ctx;
  const temper = record.temper as Temper;
  const socket = net.connect({ host: '127.0.0.1', port: ctx.port, noDelay: true });
  let closed = false;
  let endedByUs = false;
  const closedPromise = new Promise<void>((resolve) => {
    socket.once('close', () => {
      closed = true;
      resolve();
    });
  });
  socket.on('error', () => {});
  const connectError = await new Promise<string | undefined>((resolve) => {
    socket.once('connect', () => resolve(undefined));
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
  if (connectError !== undefined) {
    socket.destroy();
    return { frames: 0, bytes: 0, closedByBroker: false, connectError };
  }
  // Calm sessions answer the broker's QoS flows; the others only drain what it sends.
  const replies: Buffer[] = [];
  const pendingPubrel: number[] = [];
  if (temper === 'calm') trackReplies(socket, corpus.version, replies);
  else socket.on('data', () => {});
  const deadline = Date.now() + SESSION_TIME_LIMIT_MS;
  let frames = 0;
  let bytes = 0;
  let first = temper !== 'noise' && temper !== 'no-connect';
  while (frames < budget && !closed && !ctx.stop.stopped && Date.now() < deadline) {
    const count = Math.min(budget - frames, 1 + rng.int(16));
    const out: Buffer[] = replies.splice(0);
    for (let i = 0; i < count; i++) {
      if (first) {
        const connect = sessionConnect(corpus, rng);
        out.push(
          rng.chance(MUTATION[temper]) ? mutate(connect, fieldMap(connect, corpus.version), rng) : connect,
        );
        first = false;
      } else {
        out.push(nextFrame(corpus, rng, temper, pendingPubrel));
      }
    }
    const chunk = Buffer.concat(out);
    const written = await writeInPieces(socket, chunk, rng, record, () => closed);
    if (!written) break;
    frames += count;
    bytes += chunk.length;
    await new Promise((resolve) => setImmediate(resolve));
  }
  if (!closed) {
    endedByUs = true;
    const ending = rng.int(20);
    if (ending < 10) socket.end();
    else if (ending < 17) socket.destroy();
    else socket.end(encode({ type: 'disconnect' }, corpus.version));
    const timer = setTimeout(() => socket.destroy(), 1000);
    await closedPromise;
    clearTimeout(timer);
  }
  return { frames, bytes, closedByBroker: !endedByUs, connectError: undefined };
}

function nextFrame(corpus: VersionCorpus, rng: Rng, temper: Temper, pendingPubrel: number[]): Buffer {
  if (temper === 'noise') return rng.bytes(1 + rng.int(rng.chance(0.1) ? 4096 : 256));
  if (pendingPubrel.length > 0 && rng.chance(0.5)) {
    const id = pendingPubrel.shift() as number;
    return Buffer.from([0x62, 0x02, id >> 8, id & 0xff]);
  }
  if (rng.chance(temper === 'hostile' ? 0.1 : 0.02) && corpus.invalid.length > 0) {
    return rng.pick(corpus.invalid).bytes;
  }
  const frame = pickFrame(corpus, rng, pickType(rng, corpus.version));
  if (frame === undefined) return rng.bytes(1 + rng.int(32));
  if (rng.chance(MUTATION[temper])) return mutate(frame.bytes, frame.fields, rng);
  if (frame.type === 'publish' && ((frame.bytes[0] as number) & 0x06) === 0x04 && temper === 'calm') {
    const idField = frame.fields.find((f) => f.role === 'packet-id');
    if (idField !== undefined) pendingPubrel.push(frame.bytes.readUInt16BE(idField.start));
  }
  return frame.bytes;
}

/** Write `chunk` cut at 0-3 random points (rarely, the first bytes one at a time). False once closed. */
async function writeInPieces(
  socket: net.Socket,
  chunk: Buffer,
  rng: Rng,
  record: SessionRecord,
  isClosed: () => boolean,
): Promise<boolean> {
  const cuts: number[] = [];
  if (rng.chance(0.02)) for (let i = 1; i < Math.min(chunk.length, 48); i++) cuts.push(i);
  for (let i = rng.int(4); i > 0; i--) cuts.push(rng.int(chunk.length));
  cuts.sort((a, b) => a - b);
  let pos = 0;
  for (const cut of [...cuts, chunk.length]) {
    if (cut <= pos) continue;
    if (isClosed()) return false;
    const piece = chunk.subarray(pos, cut);
    record.add(piece);
    pos = cut;
    if (!socket.write(piece)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          socket.off('drain', done);
          socket.off('close', done);
          resolve();
        };
        socket.once('drain', done);
        socket.once('close', done);
      });
    } else if (rng.chance(0.1)) {
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  return !isClosed();
}

/** Decode what the broker sends to a calm session and queue the acknowledgements a client owes. */
function trackReplies(socket: net.Socket, version: FuzzVersion, replies: Buffer[]): void {
  let parser: PacketParser | undefined = new PacketParser({ protocolVersion: version });
  const onPacket = (packet: Packet): void => {
    if (packet.type === 'publish' && packet.packetId !== undefined) {
      const type = packet.qos === 1 ? 'puback' : 'pubrec';
      replies.push(encode({ type, packetId: packet.packetId }, version));
    } else if (packet.type === 'pubrel') {
      replies.push(encode({ type: 'pubcomp', packetId: packet.packetId }, version));
    }
  };
  socket.on('data', (chunk: Buffer) => {
    if (parser === undefined) return;
    try {
      parser.push(chunk, onPacket);
    } catch {
      parser = undefined; // a reply we cannot follow: stop answering, keep draining
    }
  });
}
