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

/** Turns a stream of chunks into packets. Not reusable after it has thrown. */
export class PacketParser {
  /** Version used to decode; set from each decoded CONNECT's level; settable (client side after CONNACK). */
  protocolVersion: ProtocolVersionNumber;
  /**
   * Total packet size limit (fixed header included), checked against the declared Remaining Length
   * before the body is buffered: a larger packet throws 0x95 Packet too large.
   */
  maximumPacketSize: number;

  private readonly header: FixedHeader = { firstByte: 0, remainingLength: 0, headerLength: 0 };
  /** Bytes of a fixed header cut by a chunk boundary. */
  /** Made when a fixed header first spans two chunks: most connections never need it. */
  private partialHeader: Buffer | undefined;
  private partialHeaderLength = 0;
  /**
   * Parts of a body spanning chunks. They are concatenated once, when the last part arrives, so memory
   * grows with the bytes received rather than with the length a peer merely declares.
   */
  private bodyParts: Buffer[] | undefined;
  private bodyLength = 0;
  private bodyFilled = 0;
  private bodyFirstByte = 0;

  constructor(options?: ParserOptions) {
    this.protocolVersion = options?.protocolVersion ?? 4;
    this.maximumPacketSize = options?.maximumPacketSize ?? PROTOCOL_MAXIMUM_PACKET_SIZE;
  }

  /** Bytes held waiting for the rest of a packet. */
  get bufferedBytes(): number {
    return this.partialHeaderLength + this.bodyFilled;
  }

  /**
   * Feed a chunk of any size; calls onPacket for each whole packet, in order. Throws MqttError on the
   * first violation; the connection is then closed. An exception thrown by onPacket propagates and
   * likewise leaves the parser unusable.
   */
  push(chunk: Buffer, onPacket: (packet: Packet) => void): void {
    const end = chunk.length;
    let pos = 0;
    if (this.bodyLength > 0) {
      pos = this.continueBody(chunk, onPacket);
    } else if (this.partialHeaderLength > 0) {
      pos = this.continueHeader(chunk, onPacket);
    }
    const header = this.header;
    while (pos < end) {
      if (!parseFixedHeader(chunk, pos, end, header)) {
        this.partialHeader ??= Buffer.alloc(MAX_HEADER_LENGTH);
        chunk.copy(this.partialHeader, 0, pos, end);
        this.partialHeaderLength = end - pos;
        return;
      }
      this.checkHeader();
      const bodyStart = pos + header.headerLength;
      const bodyEnd = bodyStart + header.remainingLength;
      if (bodyEnd <= end) {
        this.emit(header.firstByte, chunk, bodyStart, bodyEnd, onPacket);
        pos = bodyEnd;
      } else {
        this.startBody(chunk, bodyStart, end);
        return;
      }
    }
  }

  /** Validate type, flags and size as soon as the fixed header is known, before any buffering. */
  private checkHeader(): void {
    const { firstByte, remainingLength, headerLength } = this.header;
    checkFirstByte(firstByte, this.protocolVersion);
    const total = headerLength + remainingLength;
    if (total > this.maximumPacketSize) {
      throw new MqttError(
        ReasonCode.PacketTooLarge,
        `packet of ${total} bytes exceeds the maximum packet size ${this.maximumPacketSize}`,
      );
    }
  }

  private emit(
    firstByte: number,
    buf: Buffer,
    start: number,
    end: number,
    onPacket: (packet: Packet) => void,
  ): void {
    const packet = decodeBody(firstByte, buf, start, end, this.protocolVersion);
    if (packet.type === 'connect') this.protocolVersion = packet.protocolVersion;
    onPacket(packet);
  }

  /**
   * Keep the available part of a body that continues in later chunks, as a view: like packets decoded
   * from views, this relies on the caller not reusing chunk memory (socket chunks are never reused).
   */
  private startBody(chunk: Buffer, start: number, end: number): void {
    this.bodyLength = this.header.remainingLength;
    this.bodyFirstByte = this.header.firstByte;
    this.bodyFilled = end - start;
    this.bodyParts = [chunk.subarray(start, end)];
  }

  /** Append to the pending body; emits the packet when complete. Returns the chunk position after it. */
  private continueBody(chunk: Buffer, onPacket: (packet: Packet) => void): number {
    const take = Math.min(this.bodyLength - this.bodyFilled, chunk.length);
    this.bodyParts?.push(chunk.subarray(0, take));
    this.bodyFilled += take;
    if (this.bodyFilled === this.bodyLength) {
      const body = Buffer.concat(this.bodyParts ?? [], this.bodyLength);
      this.bodyParts = undefined;
      this.bodyLength = 0;
      this.bodyFilled = 0;
      this.emit(this.bodyFirstByte, body, 0, body.length, onPacket);
    }
    return take;
  }

  /**
   * Complete a fixed header cut by the previous chunk boundary, then start or finish its body.
   * Returns the chunk position after what was consumed.
   */
  private continueHeader(chunk: Buffer, onPacket: (packet: Packet) => void): number {
    const had = this.partialHeaderLength;
    const take = Math.min(MAX_HEADER_LENGTH - had, chunk.length);
    this.partialHeader ??= Buffer.alloc(MAX_HEADER_LENGTH);
    chunk.copy(this.partialHeader, had, 0, take);
    const available = had + take;
    const header = this.header;
    if (!parseFixedHeader(this.partialHeader, 0, available, header)) {
      this.partialHeaderLength = available;
      return chunk.length;
    }
    this.partialHeaderLength = 0;
    this.checkHeader();
    // Only the header bytes belong to this packet's header; the rest of `take` is body or next packet.
    const bodyStart = header.headerLength - had;
    const bodyEnd = bodyStart + header.remainingLength;
    if (bodyEnd <= chunk.length) {
      this.emit(header.firstByte, chunk, bodyStart, bodyEnd, onPacket);
      return bodyEnd;
    }
    this.startBody(chunk, bodyStart, chunk.length);
    return chunk.length;
  }
}
