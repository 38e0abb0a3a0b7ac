/**
 * MQTT data representations (spec 1.5): Two Byte and Four Byte Integers, Variable Byte Integers,
 * UTF-8 Encoded Strings and Binary Data. Writers take a pre-sized Buffer and an offset and return the
 * offset after what they wrote, so an encoder computes the total size once and allocates once.
 */
import { MqttError } from './errors.js';

/** Largest value a Variable Byte Integer can carry (4 bytes, spec 1.5.5). */
export const MAX_VARINT = 268_435_455;
/** Largest length of a UTF-8 Encoded String or Binary Data field (2-byte length prefix). */
export const MAX_UINT16 = 0xffff;
/** Largest Four Byte Integer. */
export const MAX_UINT32 = 0xffff_ffff;

/** Byte length of `value` encoded as a Variable Byte Integer. Throws for values outside 0..268435455. */
export function varintLength(value: number): number {
  if (value < 128 && value >= 0) return 1;
  if (value < 16_384 && value >= 0) return 2;
  if (value < 2_097_152 && value >= 0) return 3;
  if (value <= MAX_VARINT && value >= 0) return 4;
  throw MqttError.malformed(`variable byte integer out of range: ${value}`);
}

/** Write `value` as a Variable Byte Integer at `offset`; returns the offset after it. */
export function writeVarint(buf: Buffer, offset: number, value: number): number {
  // The caller has sized the buffer with varintLength, which already refused out-of-range values.
  while (value >= 128) {
    buf[offset++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  buf[offset++] = value;
  return offset;
}

/** A Variable Byte Integer as a new Buffer (1 to 4 bytes). Throws MqttError for values outside 0..268435455. */
export function encodeVarint(value: number): Buffer {
  if (!Number.isInteger(value))
    throw MqttError.malformed(`variable byte integer is not an integer: ${value}`);
  const buf = Buffer.allocUnsafe(varintLength(value));
  writeVarint(buf, 0, value);
  return buf;
}

/** Write a Two Byte Integer (big endian). */
export function writeUint16(buf: Buffer, offset: number, value: number): number {
  buf[offset] = value >>> 8;
  buf[offset + 1] = value & 0xff;
  return offset + 2;
}

/** Write a Four Byte Integer (big endian). */
export function writeUint32(buf: Buffer, offset: number, value: number): number {
  buf[offset] = value >>> 24;
  buf[offset + 1] = (value >>> 16) & 0xff;
  buf[offset + 2] = (value >>> 8) & 0xff;
  buf[offset + 3] = value & 0xff;
  return offset + 4;
}

/**
 * Strings up to this many UTF-16 code units are measured and written by a JS loop when they are
 * ASCII (topics, client ids, property names usually are): cheaper than a call into the native encoder.
 */
const SHORT_STRING = 48;

/**
 * Byte length of a string as UTF-8, refusing strings too long for the 2-byte length prefix
 * ([MQTT-1.5.4-1] strings are at most 65,535 bytes; topics: [MQTT-4.7.3-3]).
 */
export function utf8Length(value: string, field: string): number {
  const units = value.length;
  if (units <= SHORT_STRING) {
    let i = 0;
    for (; i < units; i++) {
      const c = value.charCodeAt(i);
      if (c === 0) throw nullCharacter(field);
      if (c >= 0x80) break;
    }
    if (i === units) return units;
  }
  // [MQTT-1.5.4-2] A UTF-8 string we send never holds U+0000 (the decoder refuses it from peers too).
  if (value.indexOf('\u0000') !== -1) throw nullCharacter(field);
  const length = Buffer.byteLength(value, 'utf8');
  if (length > MAX_UINT16) throw MqttError.malformed(`${field} is ${length} bytes, more than 65535`);
  return length;
}

function nullCharacter(field: string): MqttError {
  return MqttError.malformed(`${field} contains U+0000, which MQTT strings must not hold`);
}

/** Byte length of Binary Data, refusing data too long for the 2-byte length prefix (spec 1.5.6). */
export function binaryLength(value: Buffer, field: string): number {
  if (value.length > MAX_UINT16)
    throw MqttError.malformed(`${field} is ${value.length} bytes, more than 65535`);
  return value.length;
}

/**
 * Write a UTF-8 Encoded String (length prefix + bytes). The caller sized the buffer with utf8Length,
 * so the bytes fit; the prefix is filled from what was written, which saves a second length scan.
 */
export function writeUtf8(buf: Buffer, offset: number, value: string): number {
  const units = value.length;
  const start = offset + 2;
  if (units <= SHORT_STRING) {
    let i = 0;
    for (; i < units; i++) {
      const c = value.charCodeAt(i);
      if (c >= 0x80) break;
      buf[start + i] = c;
    }
    if (i === units) {
      buf[offset] = 0;
      buf[offset + 1] = units;
      return start + units;
    }
  }
  const written = units === 0 ? 0 : buf.write(value, start, 'utf8');
  buf[offset] = written >>> 8;
  buf[offset + 1] = written & 0xff;
  return start + written;
}

/** Write Binary Data (length prefix + bytes). */
export function writeBinary(buf: Buffer, offset: number, value: Buffer): number {
  const length = value.length;
  buf[offset] = length >>> 8;
  buf[offset + 1] = length & 0xff;
  value.copy(buf, offset + 2);
  return offset + 2 + length;
}

/**
 * True when bytes [start, end) are well-formed UTF-8 ([MQTT-1.5.4-1], 3.1.1 [MQTT-1.5.3-1]: no
 * overlong forms, no surrogates U+D800..U+DFFF, nothing above U+10FFFF) and contain no U+0000
 * ([MQTT-1.5.4-2], 3.1.1 [MQTT-1.5.3-2]).
 */
export function isValidMqttUtf8(buf: Buffer, start: number, end: number): boolean {
  let i = start;
  while (i < end) {
    const b0 = buf[i]!;
    if (b0 < 0x80) {
      if (b0 === 0) return false;
      i++;
    } else if (b0 < 0xc2) {
      // A lone continuation byte, or 0xC0/0xC1 which only start overlong forms.
      return false;
    } else if (b0 < 0xe0) {
      if (i + 1 >= end || (buf[i + 1]! & 0xc0) !== 0x80) return false;
      i += 2;
    } else if (b0 < 0xf0) {
      if (i + 2 >= end) return false;
      const b1 = buf[i + 1]!;
      if ((b1 & 0xc0) !== 0x80 || (buf[i + 2]! & 0xc0) !== 0x80) return false;
      if (b0 === 0xe0 && b1 < 0xa0) return false; // overlong
      if (b0 === 0xed && b1 >= 0xa0) return false; // UTF-16 surrogate
      i += 3;
    } else if (b0 < 0xf5) {
      if (i + 3 >= end) return false;
      const b1 = buf[i + 1]!;
      if ((b1 & 0xc0) !== 0x80 || (buf[i + 2]! & 0xc0) !== 0x80 || (buf[i + 3]! & 0xc0) !== 0x80)
        return false;
      if (b0 === 0xf0 && b1 < 0x90) return false; // overlong
      if (b0 === 0xf4 && b1 >= 0x90) return false; // above U+10FFFF
      i += 4;
    } else {
      return false;
    }
  }
  return true;
}

/**
 * A cursor over the bytes [pos, end) of one packet. Every read checks the bound and throws a
 * Malformed Packet error when the packet is shorter than its fields claim.
 */
export class PacketReader {
  buf: Buffer = Buffer.alloc(0);
  pos = 0;
  end = 0;

  /** Point the reader at a new packet body; returns the reader for chaining. */
  reset(buf: Buffer, start: number, end: number): this {
    this.buf = buf;
    this.pos = start;
    this.end = end;
    return this;
  }

  /** Bytes left before the end of the packet. */
  get remaining(): number {
    return this.end - this.pos;
  }

  readByte(field: string): number {
    if (this.pos >= this.end) throw truncated(field);
    return this.buf[this.pos++]!;
  }

  readUint16(field: string): number {
    const pos = this.pos;
    if (pos + 2 > this.end) throw truncated(field);
    this.pos = pos + 2;
    return (this.buf[pos]! << 8) | this.buf[pos + 1]!;
  }

  readUint32(field: string): number {
    const pos = this.pos;
    if (pos + 4 > this.end) throw truncated(field);
    this.pos = pos + 4;
    const buf = this.buf;
    return buf[pos]! * 0x1000000 + ((buf[pos + 1]! << 16) | (buf[pos + 2]! << 8) | buf[pos + 3]!);
  }

  /** A Variable Byte Integer: at most 4 bytes and minimally encoded ([MQTT-1.5.5-1]). */
  readVarint(field: string): number {
    let value = 0;
    let multiplier = 1;
    for (let count = 0; count < 4; count++) {
      const byte = this.readByte(field);
      value += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) {
        if (byte === 0 && count > 0) throw MqttError.malformed(`${field}: variable byte integer not minimal`);
        return value;
      }
      multiplier *= 128;
    }
    throw MqttError.malformed(`${field}: variable byte integer longer than 4 bytes`);
  }

  /** A UTF-8 Encoded String, validated ([MQTT-1.5.4-1], [MQTT-1.5.4-2]). */
  readUtf8(field: string): string {
    const length = this.readUint16(field);
    const start = this.pos;
    const end = start + length;
    if (end > this.end) throw truncated(field);
    this.pos = end;
    if (!isValidMqttUtf8(this.buf, start, end))
      throw MqttError.malformed(`${field}: invalid UTF-8 or U+0000`);
    return length === 0 ? '' : this.buf.toString('utf8', start, end);
  }

  /** Binary Data as a view of the packet bytes (no copy). */
  readBinary(field: string): Buffer {
    const length = this.readUint16(field);
    const start = this.pos;
    const end = start + length;
    if (end > this.end) throw truncated(field);
    this.pos = end;
    return this.buf.subarray(start, end);
  }

  /** The rest of the packet as a view (no copy). */
  readRest(): Buffer {
    const start = this.pos;
    this.pos = this.end;
    return this.buf.subarray(start, this.end);
  }
}

function truncated(field: string): MqttError {
  return MqttError.malformed(`packet too short for ${field}`);
}
