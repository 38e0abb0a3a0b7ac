/**
 * The fixed header (spec 2.1): packet type and flags in the first byte, then the Remaining Length as a
 * Variable Byte Integer of at most 4 bytes.
 */
import { MqttError } from './errors.js';
import { ReasonCode } from './reason-codes.js';
import { PacketTypeNames, type ProtocolVersionNumber } from './types.js';

/**
 * Required low nibble per packet type (spec table 2-2); -1 for PUBLISH whose flags carry DUP, QoS and
 * RETAIN. PUBREL, SUBSCRIBE and UNSUBSCRIBE carry 0b0010, every other type 0.
 */
const REQUIRED_FLAGS: readonly number[] = [0, 0, 0, -1, 0, 0, 0b0010, 0, 0b0010, 0, 0b0010, 0, 0, 0, 0, 0];

/** Parsed fixed header, kept in a caller-owned object so parsing allocates nothing. */
export interface FixedHeader {
  /** Packet type (high nibble) and flags (low nibble). */
  firstByte: number;
  /** Length of the variable header plus payload. */
  remainingLength: number;
  /** Bytes taken by the fixed header itself (2 to 5). */
  headerLength: number;
}

/**
 * Parse the fixed header at `start`. Returns false when [start, end) does not yet hold the whole
 * header; throws a Malformed Packet error for a Remaining Length longer than 4 bytes or not
 * minimally encoded ([MQTT-1.5.5-1]). Does not check type and flags (see checkFirstByte).
 */
export function parseFixedHeader(buf: Buffer, start: number, end: number, out: FixedHeader): boolean {
  let pos = start + 1;
  let value = 0;
  let multiplier = 1;
  for (let count = 0; count < 4; count++) {
    if (pos >= end) return false;
    const byte = buf[pos++]!;
    value += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) {
      if (byte === 0 && count > 0) throw MqttError.malformed('remaining length not minimally encoded');
      out.firstByte = buf[start]!;
      out.remainingLength = value;
      out.headerLength = pos - start;
      return true;
    }
    multiplier *= 128;
  }
  throw MqttError.malformed('remaining length longer than 4 bytes');
}

/**
 * Validate the packet type and the reserved flag bits of a fixed header's first byte for `version`.
 * Throws 0x81 Malformed Packet: type 0 is reserved (spec 2.1.2), AUTH does not exist before v5,
 * reserved flags must hold their listed value ([MQTT-2.1.3-1], 3.1.1 [MQTT-2.2.2-1] [MQTT-2.2.2-2];
 * PUBREL [MQTT-3.6.1-1], SUBSCRIBE [MQTT-3.8.1-1], UNSUBSCRIBE [MQTT-3.10.1-1],
 * DISCONNECT [MQTT-3.14.1-1], AUTH [MQTT-3.15.1-1]), a PUBLISH must not have QoS 3
 * ([MQTT-3.3.1-4]) nor DUP with QoS 0 ([MQTT-3.3.1-2]).
 */
export function checkFirstByte(firstByte: number, version: ProtocolVersionNumber): void {
  const type = firstByte >>> 4;
  const flags = firstByte & 0x0f;
  if (type === 0) throw MqttError.malformed('packet type 0 is reserved');
  if (type === 15 && version < 5) throw MqttError.malformed('AUTH packet is not defined before MQTT 5');
  const required = REQUIRED_FLAGS[type]!;
  if (required >= 0) {
    if (flags !== required) {
      throw MqttError.malformed(
        `reserved flags of ${PacketTypeNames[type]} must be ${required}, got ${flags}`,
      );
    }
    return;
  }
  const qos = (flags >>> 1) & 3;
  if (qos === 3) throw MqttError.malformed('PUBLISH with QoS 3'); // [MQTT-3.3.1-4]
  if (qos === 0 && (flags & 0b1000) !== 0) throw MqttError.malformed('PUBLISH with QoS 0 and DUP set'); // [MQTT-3.3.1-2]
}

/** Bytes taken by a fixed header for `remainingLength`; refuses packets above the varint limit with 0x95. */
export function fixedHeaderLength(remainingLength: number): number {
  if (remainingLength < 128) return 2;
  if (remainingLength < 16_384) return 3;
  if (remainingLength < 2_097_152) return 4;
  if (remainingLength <= 268_435_455) return 5;
  throw new MqttError(ReasonCode.PacketTooLarge, `remaining length ${remainingLength} exceeds 268435455`);
}

/** Write the first byte and the Remaining Length at offset 0; returns the offset after the header. */
export function writeFixedHeader(buf: Buffer, firstByte: number, remainingLength: number): number {
  buf[0] = firstByte;
  let offset = 1;
  let value = remainingLength;
  while (value >= 128) {
    buf[offset++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  buf[offset++] = value;
  return offset;
}

/** Allocate a packet buffer of the exact size and write its fixed header; returns buffer and offset. */
export function allocPacket(firstByte: number, remainingLength: number): Buffer {
  const buf = Buffer.allocUnsafe(fixedHeaderLength(remainingLength) + remainingLength);
  writeFixedHeader(buf, firstByte, remainingLength);
  return buf;
}

/** Offset right after the fixed header of a buffer made by allocPacket. */
export function bodyOffset(remainingLength: number): number {
  return fixedHeaderLength(remainingLength);
}
