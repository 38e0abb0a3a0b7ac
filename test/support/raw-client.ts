/**
 * A tiny raw-socket MQTT test client: it writes exactly the bytes a test gives it and lets the test
 * compare the exact bytes the broker answers with. Received bytes are kept in one buffer so a test may
 * mix exact byte comparisons (`expectBytes`) with whole-packet reads (`readPacket`) for replies whose
 * content varies (assigned client identifiers, remaining expiry intervals).
 */
import { connect, type Socket } from 'node:net';
import { encode, PacketParser } from '../../src/packets/index.js';
import type {
  Packet,
  PacketOf,
  PacketTypeName,
  ProtocolVersionNumber,
  Subscription,
} from '../../src/packets/types.js';

/** Bytes as a test writes them: a hex string (spaces allowed), a byte array or a Buffer. */
export type ByteSource = string | readonly number[] | Buffer;

/** Turn a readable byte description into a Buffer; hex strings may contain spaces and `|` separators. */
export function bytes(source: ByteSource): Buffer {
  if (Buffer.isBuffer(source)) return source;
  if (typeof source === 'string') {
    const hex = source.replace(/[\s|]/g, '');
    if (!/^([0-9a-fA-F]{2})*$/.test(hex)) throw new TypeError(`not a hex byte string: ${source}`);
    return Buffer.from(hex, 'hex');
  }
  return Buffer.from(source as number[]);
}

/** Hex with a space between bytes, for readable assertion messages. */
export function hex(buf: Buffer): string {
  return buf.toString('hex').replace(/(..)(?!$)/g, '$1 ');
}

const DEFAULT_TIMEOUT_MS = 2000;

/** A test's end of one TCP connection to the broker. */
export class RawClient {
  /** Version used to decode what the broker sends (set to the CONNECT's level by the test). */
  version: ProtocolVersionNumber;
  private readonly socket: Socket;
  private received: Buffer = Buffer.alloc(0);
  private receivedCount = 0;
  private closed = false;
  private waiters: (() => void)[] = [];

  private constructor(socket: Socket, version: ProtocolVersionNumber) {
    this.socket = socket;
    this.version = version;
    socket.on('data', (chunk: Buffer) => {
      this.receivedCount += chunk.length;
      this.received = this.received.length === 0 ? chunk : Buffer.concat([this.received, chunk]);
      this.wake();
    });
    const onEnd = (): void => {
      this.closed = true;
      this.wake();
    };
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    // A reset from the broker is an ordinary way for a test connection to end.
    socket.on('error', onEnd);
  }

  /** Open a connection to 127.0.0.1:port with Nagle off; `version` decodes replies in `readPacket`. */
  static open(port: number, version: ProtocolVersionNumber = 4): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, noDelay: true });
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawClient(socket, version));
      });
      socket.once('error', reject);
    });
  }

  /** True once the broker ended or reset the connection. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Bytes received and not yet consumed by an expectation. */
  get pending(): Buffer {
    return this.received;
  }

  /** Every byte received so far, consumed or not. */
  get receivedTotal(): number {
    return this.receivedCount;
  }

  /** Throw away what was received and not consumed (bulk traffic a test only counts). Returns the bytes dropped. */
  discardPending(): number {
    const length = this.received.length;
    this.received = Buffer.alloc(0);
    return length;
  }

  /** Write raw bytes. */
  write(source: ByteSource): void {
    this.socket.write(bytes(source));
  }

  /** Encode a packet with the codec (for packets whose bytes are not the point of a test) and write it. */
  send(packet: Packet, version: ProtocolVersionNumber = this.version): void {
    this.socket.write(encode(packet, version));
  }

  /**
   * SUBSCRIBE as packet `packetId` (a string is that filter at QoS 1) and read its SUBACK, which must
   * answer that packet id: its reason codes.
   */
  async subscribe(packetId: number, filters: readonly (string | Subscription)[]): Promise<number[]> {
    const subscriptions = filters.map((f) =>
      typeof f === 'string' ? { topicFilter: f, qos: 1 as const } : f,
    );
    this.send({ type: 'subscribe', packetId, subscriptions });
    const suback = await this.expectPacket('suback');
    if (suback.packetId !== packetId) throw new Error(`SUBACK for ${suback.packetId}, expected ${packetId}`);
    return suback.reasonCodes;
  }

  /** Wait for exactly the given bytes as the next bytes received, and consume them. */
  async expectBytes(expected: ByteSource, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
    const want = bytes(expected);
    await this.waitUntil(
      () => this.received.length >= want.length,
      timeoutMs,
      () => {
        return `expected ${hex(want)} within ${timeoutMs} ms, got ${hex(this.received)}${this.closed ? ' (closed)' : ''}`;
      },
    );
    const got = this.received.subarray(0, want.length);
    this.received = this.received.subarray(want.length);
    if (!got.equals(want)) {
      throw new Error(`reply bytes differ\n  expected ${hex(want)}\n  received ${hex(got)}`);
    }
  }

  /** Wait for the next whole packet and decode it with our PacketParser. */
  async readPacket(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Packet> {
    await this.waitUntil(
      () => wholePacketLength(this.received) !== undefined,
      timeoutMs,
      () => {
        return `no whole packet within ${timeoutMs} ms; have ${hex(this.received)}${this.closed ? ' (closed)' : ''}`;
      },
    );
    const length = wholePacketLength(this.received) as number;
    const raw = this.received.subarray(0, length);
    this.received = this.received.subarray(length);
    const parser = new PacketParser({ protocolVersion: this.version });
    const packets: Packet[] = [];
    parser.push(Buffer.from(raw), (packet) => packets.push(packet));
    const packet = packets[0];
    if (packet === undefined) throw new Error(`could not decode ${hex(raw)}`);
    return packet;
  }

  /** Read the next packet and check its type. */
  async expectPacket<T extends PacketTypeName>(
    type: T,
    timeoutMs = DEFAULT_TIMEOUT_MS,
  ): Promise<PacketOf<T>> {
    const packet = await this.readPacket(timeoutMs);
    if (packet.type !== type) {
      throw new Error(`expected ${type.toUpperCase()}, got ${JSON.stringify(packet, replacer)}`);
    }
    return packet as PacketOf<T>;
  }

  /** Wait until the broker closes the connection; unread bytes before the close must be none. */
  async expectClosed(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
    await this.waitUntil(
      () => this.closed,
      timeoutMs,
      () => `connection still open after ${timeoutMs} ms`,
    );
    if (this.received.length > 0) throw new Error(`unexpected bytes before close: ${hex(this.received)}`);
  }

  /**
   * Assert that nothing arrives for `ms` milliseconds (for "must not be sent" rules; keep `ms` short,
   * the broker flushes within one event-loop turn).
   */
  async expectNothing(ms = 150): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    if (this.received.length > 0) throw new Error(`expected nothing, got ${hex(this.received)}`);
  }

  /** Read again after `pauseReading`. */
  resumeReading(): void {
    this.socket.resume();
  }

  /** Stop reading from the socket (a slow consumer); the kernel buffers fill up. */
  pauseReading(): void {
    this.socket.pause();
  }

  /** Close our side politely. */
  end(): void {
    this.socket.end();
  }

  /** Drop the connection without DISCONNECT (a network failure, as far as the broker can tell). */
  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }

  private waitUntil(ready: () => boolean, timeoutMs: number, explain: () => string): Promise<void> {
    if (ready()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(explain()));
      }, timeoutMs);
      const check = (): void => {
        if (ready()) {
          clearTimeout(timer);
          resolve();
        } else if (this.closed && !ready()) {
          clearTimeout(timer);
          reject(new Error(explain()));
        } else {
          this.waiters.push(check);
        }
      };
      this.waiters.push(check);
    });
  }
}

/** Length of the first packet in `buf` when it is all there, else undefined. */
function wholePacketLength(buf: Buffer): number | undefined {
  let length = 0;
  let multiplier = 1;
  for (let i = 1; i <= 4; i++) {
    const byte = buf[i];
    if (byte === undefined) return undefined;
    length += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) return buf.length >= i + 1 + length ? i + 1 + length : undefined;
    multiplier *= 128;
  }
  throw new Error(`remaining length longer than 4 bytes in ${hex(buf.subarray(0, 5))}`);
}

/** JSON.stringify helper that prints Buffers as hex. */
function replacer(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object' && (value as { type?: unknown }).type === 'Buffer') {
    return `<${hex(Buffer.from((value as { data: number[] }).data))}>`;
  }
  return value;
}

/** Poll `condition` every few ms until it holds; fails after `timeoutMs`. Bounded in count and time. */
export async function waitFor(
  condition: () => boolean,
  timeoutMs = DEFAULT_TIMEOUT_MS,
  what = 'condition',
): Promise<void> {
  const step = 10;
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < Math.ceil(timeoutMs / step) + 1; i++) {
    if (condition()) return;
    if (Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, step));
  }
  if (!condition()) throw new Error(`${what} not reached within ${timeoutMs} ms`);
}
