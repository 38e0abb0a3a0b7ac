/**
 * Incremental packet parser for a byte stream (TCP or WebSocket, [MQTT-6.0.0-2]: packets are not
 * aligned on chunk boundaries). A packet lying inside one chunk is decoded from a view of that chunk;
 * a packet spanning chunks is concatenated once, into one buffer sized from its Remaining Length.
 * Chunks must not be reused by the caller after push(): decoded payloads are views of them.
 */
import { decodeBody } from './decode.js';
import { MqttError } from './errors.js';
import { checkFirstByte, type FixedHeader, parseFixedHeader } from './fixed-header.js';
import { ReasonCode } from './reason-codes.js';
import type { Packet, ProtocolVersionNumber } from './types.js';

/** Options of a PacketParser. */
export interface ParserOptions {
  /** Version used to decode until a CONNECT says otherwise; default 4 (MQTT 3.1.1). */
  protocolVersion?: ProtocolVersionNumber;
  /** Largest accepted packet in bytes, fixed header included; default 268435460 (the protocol maximum). */
  maximumPacketSize?: number;
}

/** The largest packet the protocol can express: 1 + 4 length bytes + 268,435,455. */
const PROTOCOL_MAXIMUM_PACKET_SIZE = 268_435_460;
/** A fixed header is at most 5 bytes: first byte and a 4-byte Remaining Length. */
const MAX_HEADER_LENGTH = 5;

/**
 * The fixed header being read. One for every parser: it is filled and read within one synchronous step and
 * never read after a packet is handed out (a handler may feed another parser), so no parser needs its own.
 */
const header: FixedHeader = { firstByte: 0, remainingLength: 0, headerLength: 0 };

/** What a parser holds between chunks: a fixed header or a body cut by a chunk boundary. */
interface PartialPacket {
  /** Bytes of a fixed header cut by a chunk boundary. */
  header: Buffer | undefined;
  headerLength: number;
  /**
   * Parts of a body spanning chunks. They are concatenated once, when the last part arrives, so memory
   * grows with the bytes received rather than with the length a peer merely declares.
   */
  bodyParts: Buffer[] | undefined;
  bodyLength: number;
  bodyFilled: number;
  bodyFirstByte: number;
}

/**
 * Turns a stream of chunks into packets. Not reusable after it has thrown. A parser between whole packets
 * (almost every idle connection) holds three fields: its partial state is made when a packet is cut.
 */
export class PacketParser {
  /** Version used to decode; set from each decoded CONNECT's level; settable (client side after CONNACK). */
  protocolVersion: ProtocolVersionNumber;
  /**
   * Total packet size limit (fixed header included), checked against the declared Remaining Length
   * before the body is buffered: a larger packet throws 0x95 Packet too large.
   */
  maximumPacketSize: number;
  /** A packet cut by a chunk boundary; undefined between whole packets. */
  private partial: PartialPacket | undefined;

  constructor(options?: ParserOptions) {
    this.protocolVersion = options?.protocolVersion ?? 4;
    this.maximumPacketSize = options?.maximumPacketSize ?? PROTOCOL_MAXIMUM_PACKET_SIZE;
  }

  /**
   * Between whole packets: nothing of a packet read yet. Not the same as `bufferedBytes === 0`: a chunk that
   * ended right after a fixed header leaves a body to come and no byte held.
   */
  get idle(): boolean {
    return this.partial === undefined;
  }

  /** Bytes held waiting for the rest of a packet. */
  get bufferedBytes(): number {
    const partial = this.partial;
    return partial === undefined ? 0 : partial.headerLength + partial.bodyFilled;
  }

  /**
   * Feed a chunk of any size; calls onPacket for each whole packet, in order, with `target` as `this` (so a
   * caller hands a method and itself, and needs no closure of its own). Throws MqttError on the first
   * violation; the connection is then closed. An exception thrown by onPacket propagates and likewise
   * leaves the parser unusable.
   */
  push<T>(chunk: Buffer, onPacket: (this: T, packet: Packet) => void, target?: T): void {
    const end = chunk.length;
    let pos = 0;
    const partial = this.partial;
    if (partial !== undefined) {
      if (partial.bodyLength > 0) pos = this.continueBody(partial, chunk, onPacket, target);
      else if (partial.headerLength > 0) pos = this.continueHeader(partial, chunk, onPacket, target);
    }
    while (pos < end) {
      if (!parseFixedHeader(chunk, pos, end, header)) {
        const held = this.holding();
        held.header ??= Buffer.alloc(MAX_HEADER_LENGTH);
        chunk.copy(held.header, 0, pos, end);
        held.headerLength = end - pos;
        return;
      }
      this.checkHeader();
      const bodyStart = pos + header.headerLength;
      const bodyEnd = bodyStart + header.remainingLength;
      if (bodyEnd <= end) {
        this.emit(header.firstByte, chunk, bodyStart, bodyEnd, onPacket, target);
        pos = bodyEnd;
      } else {
        this.startBody(chunk, bodyStart, end);
        return;
      }
    }
  }

  /** The partial state, made on first use. */
  private holding(): PartialPacket {
    this.partial ??= {
      header: undefined,
      headerLength: 0,
      bodyParts: undefined,
      bodyLength: 0,
      bodyFilled: 0,
      bodyFirstByte: 0,
    };
    return this.partial;
  }

  /** Validate type, flags and size as soon as the fixed header is known, before any buffering. */
  private checkHeader(): void {
    const { firstByte, remainingLength, headerLength } = header;
    checkFirstByte(firstByte, this.protocolVersion);
    const total = headerLength + remainingLength;
    if (total > this.maximumPacketSize) {
      throw new MqttError(
        ReasonCode.PacketTooLarge,
        `packet of ${total} bytes exceeds the maximum packet size ${this.maximumPacketSize}`,
      );
    }
  }

  private emit<T>(
    firstByte: number,
    buf: Buffer,
    start: number,
    end: number,
    onPacket: (this: T, packet: Packet) => void,
    target: T | undefined,
  ): void {
    const packet = decodeBody(firstByte, buf, start, end, this.protocolVersion);
    if (packet.type === 'connect') this.protocolVersion = packet.protocolVersion;
    onPacket.call(target as T, packet);
  }

  /**
   * Keep the available part of a body that continues in later chunks, as a view: like packets decoded
   * from views, this relies on the caller not reusing chunk memory (socket chunks are never reused).
   */
  private startBody(chunk: Buffer, start: number, end: number): void {
    const held = this.holding();
    held.bodyLength = header.remainingLength;
    held.bodyFirstByte = header.firstByte;
    held.bodyFilled = end - start;
    held.bodyParts = [chunk.subarray(start, end)];
  }

  /** Append to the pending body; emits the packet when complete. Returns the chunk position after it. */
  private continueBody<T>(
    held: PartialPacket,
    chunk: Buffer,
    onPacket: (this: T, packet: Packet) => void,
    target: T | undefined,
  ): number {
    const take = Math.min(held.bodyLength - held.bodyFilled, chunk.length);
    held.bodyParts?.push(chunk.subarray(0, take));
    held.bodyFilled += take;
    if (held.bodyFilled === held.bodyLength) {
      const body = Buffer.concat(held.bodyParts ?? [], held.bodyLength);
      // Whole again: an idle connection keeps no partial state.
      this.partial = undefined;
      this.emit(held.bodyFirstByte, body, 0, body.length, onPacket, target);
    }
    return take;
  }

  /**
   * Complete a fixed header cut by the previous chunk boundary, then start or finish its body.
   * Returns the chunk position after what was consumed.
   */
  private continueHeader<T>(
    held: PartialPacket,
    chunk: Buffer,
    onPacket: (this: T, packet: Packet) => void,
    target: T | undefined,
  ): number {
    const had = held.headerLength;
    const take = Math.min(MAX_HEADER_LENGTH - had, chunk.length);
    held.header ??= Buffer.alloc(MAX_HEADER_LENGTH);
    chunk.copy(held.header, had, 0, take);
    const available = had + take;
    if (!parseFixedHeader(held.header, 0, available, header)) {
      held.headerLength = available;
      return chunk.length;
    }
    this.partial = undefined;
    this.checkHeader();
    // Only the header bytes belong to this packet's header; the rest of `take` is body or next packet.
    const bodyStart = header.headerLength - had;
    const bodyEnd = bodyStart + header.remainingLength;
    if (bodyEnd <= chunk.length) {
      this.emit(header.firstByte, chunk, bodyStart, bodyEnd, onPacket, target);
      return bodyEnd;
    }
    this.startBody(chunk, bodyStart, chunk.length);
    return chunk.length;
  }
}
