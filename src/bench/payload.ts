/**
 * Bench message payloads: mqtt-malaria's Gaussian sizes plus a small binary header carrying the publisher,
 * a sequence number and (optionally) the send time, so a subscriber can count missing, duplicated and
 * out-of-order messages per publisher and compute end-to-end latency.
 *
 * Header layout (big-endian): magic "SB" (2 bytes), version 1 (1 byte), flags (1 byte, bit 0 = timestamped),
 * sequence number (uint32), send time in microseconds since the epoch (float64, 0 when not timestamped),
 * publisher id length (uint8) and the publisher id (UTF-8). The rest, up to the requested size, is filler.
 */

/** First two header bytes: "SB". */
const MAGIC_0 = 0x53;
const MAGIC_1 = 0x42;
const VERSION = 1;
const FLAG_TIMESTAMPED = 1;
/** Magic, version, flags, sequence, timestamp, id length. */
const FIXED_HEADER_BYTES = 2 + 1 + 1 + 4 + 8 + 1;
/** The publisher id is truncated to what its one-byte length can say. */
const MAX_ID_BYTES = 255;
/** A filler byte that is printable, so payloads stay readable in `mosquitto_sub` output. */
const FILLER = 0x2e;

/**
 * Environment variable through which a bench agent started with `--clock-offset-ms` (a testing option)
 * hands its skew to the worker processes it forks.
 */
export const CLOCK_SKEW_ENV = 'STARLING_BENCH_CLOCK_SKEW_MS';

/** Added to this process's bench clock: a deliberate error, for testing clock-offset estimation. */
let skewMs = 0;

/**
 * Shifts this process's bench clock ({@link nowMillis}, {@link nowMicros}) by `ms`, and the clocks of the
 * workers it forks afterwards. For tests of clock-offset estimation only: a real agent's clock is its own.
 */
export function setClockSkew(ms: number): void {
  if (!Number.isFinite(ms)) throw new RangeError(`clock skew must be finite, got ${ms}`);
  skewMs = ms;
  process.env[CLOCK_SKEW_ENV] = String(ms);
}

/** In a forked worker: takes over the skew of the process that forked it. */
export function applyClockSkewFromEnvironment(): void {
  const text = process.env[CLOCK_SKEW_ENV];
  if (text !== undefined && Number.isFinite(Number(text))) skewMs = Number(text);
}

/**
 * Wall-clock microseconds with sub-millisecond resolution: `performance.timeOrigin` is the process start on
 * the epoch clock and `performance.now()` the monotonic time since, so processes on one machine agree to
 * within the precision of their time origins while each stays monotonic.
 */
export function nowMicros(): number {
  return (performance.timeOrigin + performance.now() + skewMs) * 1000;
}

/** Wall-clock milliseconds on the same clock as {@link nowMicros}. */
export function nowMillis(): number {
  return performance.timeOrigin + performance.now() + skewMs;
}

/** A standard normal sample (Box-Muller); `random` is injectable for tests. */
export function standardNormal(random: () => number = Math.random): number {
  // 1 - u keeps the logarithm away from 0.
  const u = 1 - random();
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/**
 * A payload size drawn from a normal distribution at (mean, mean / 20), as mqtt-malaria draws them, rounded
 * and never below `floor` (the header must fit).
 */
export function gaussianSize(mean: number, floor = 0, random: () => number = Math.random): number {
  const size = Math.round(mean + (mean / 20) * standardNormal(random));
  return Math.max(floor, size);
}

/** What a bench payload says about itself. */
export interface PayloadHeader {
  readonly publisher: string;
  readonly seq: number;
  /** Send time, epoch microseconds; undefined when the publisher did not timestamp. */
  readonly sentAtUs: number | undefined;
}

/** Encodes publisher ids once per publisher, since every message of a publisher repeats it. */
export class PayloadWriter {
  readonly #id: Buffer;
  readonly #headerBytes: number;

  /** A writer for one publisher. */
  constructor(publisher: string) {
    const id = Buffer.from(publisher, 'utf8');
    this.#id = id.length > MAX_ID_BYTES ? id.subarray(0, MAX_ID_BYTES) : id;
    this.#headerBytes = FIXED_HEADER_BYTES + this.#id.length;
  }

  /** The smallest payload this writer produces: its header. */
  get headerBytes(): number {
    return this.#headerBytes;
  }

  /**
   * A payload of `size` bytes (at least the header) with sequence `seq`; `sentAtUs` is written when given.
   * A fresh buffer per message, because the client may still hold the previous one in its send queue.
   */
  write(seq: number, size: number, sentAtUs?: number): Buffer {
    const length = Math.max(size, this.#headerBytes);
    const buf = Buffer.allocUnsafe(length);
    buf[0] = MAGIC_0;
    buf[1] = MAGIC_1;
    buf[2] = VERSION;
    buf[3] = sentAtUs === undefined ? 0 : FLAG_TIMESTAMPED;
    buf.writeUInt32BE(seq >>> 0, 4);
    buf.writeDoubleBE(sentAtUs ?? 0, 8);
    buf[16] = this.#id.length;
    this.#id.copy(buf, FIXED_HEADER_BYTES);
    if (length > this.#headerBytes) buf.fill(FILLER, this.#headerBytes);
    return buf;
  }
}

/** Reads the header of a bench payload; undefined for anything else (foreign traffic on the filter). */
export function readPayloadHeader(payload: Buffer): PayloadHeader | undefined {
  if (payload.length < FIXED_HEADER_BYTES) return undefined;
  if (payload[0] !== MAGIC_0 || payload[1] !== MAGIC_1 || payload[2] !== VERSION) return undefined;
  const idLength = payload[16]!;
  if (payload.length < FIXED_HEADER_BYTES + idLength) return undefined;
  const timestamped = (payload[3]! & FLAG_TIMESTAMPED) !== 0;
  return {
    publisher: payload.toString('utf8', FIXED_HEADER_BYTES, FIXED_HEADER_BYTES + idLength),
    seq: payload.readUInt32BE(4),
    sentAtUs: timestamped ? payload.readDoubleBE(8) : undefined,
  };
}
