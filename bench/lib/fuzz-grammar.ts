/**
 * The MQTT wire grammar as the fuzzer sees it: a valid frame is cut into typed fields (fixed header,
 * remaining length, strings with their length prefixes, properties, flags, packet identifiers, payload),
 * so mutations can aim at one field and keep or deliberately break the lengths around it.
 *
 * `fieldMap` walks the bytes of an encoded packet; it never throws (a frame it cannot follow ends in one
 * `raw` field), so hand-written invalid fixtures can be mapped too.
 */
import { PacketTypeNames, type PropertyDataType, PropertyDefinitions } from '../../src/packets/types.js';

export const FieldKind = {
  header: 'header',
  length: 'length',
  u8: 'u8',
  u16: 'u16',
  u32: 'u32',
  varint: 'varint',
  strLen: 'str-len',
  str: 'str',
  binLen: 'bin-len',
  bin: 'bin',
  propsLen: 'props-len',
  propId: 'prop-id',
  flags: 'flags',
  level: 'level',
  reason: 'reason',
  payload: 'payload',
  raw: 'raw',
} as const;
export type FieldKind = (typeof FieldKind)[keyof typeof FieldKind];

/** One field of a frame: bytes [start, end). */
export interface Field {
  readonly start: number;
  readonly end: number;
  readonly kind: FieldKind;
  /** What the field means, for mutations that care (`topic`, `filter`, `client-id`, `packet-id`, ...). */
  readonly role?: string;
  /** For a `str`/`bin` body: the index of its length prefix field. */
  readonly lengthField?: number;
  /** For anything inside a properties block: the index of the block's `props-len` field. */
  readonly propsField?: number;
}

const PROPERTY_TYPES = new Map<number, PropertyDataType>(PropertyDefinitions.map((d) => [d.id, d.dataType]));

/** Thrown inside the walker only, when the bytes run out or stop making sense. */
class Stop extends Error {}

class Walker {
  readonly fields: Field[] = [];
  pos: number;
  end: number;
  private props: number | undefined;

  constructor(
    readonly bytes: Buffer,
    start: number,
    end: number,
  ) {
    this.pos = start;
    this.end = end;
  }

  get left(): number {
    return this.end - this.pos;
  }

  add(length: number, kind: FieldKind, role?: string, lengthField?: number): number {
    if (length < 0 || this.pos + length > this.end) throw new Stop();
    const field: Field = {
      start: this.pos,
      end: this.pos + length,
      kind,
      ...(role === undefined ? {} : { role }),
      ...(lengthField === undefined ? {} : { lengthField }),
      ...(this.props === undefined ? {} : { propsField: this.props }),
    };
    this.pos += length;
    return this.fields.push(field) - 1;
  }

  u16Value(): number {
    if (this.left < 2) throw new Stop();
    return this.bytes.readUInt16BE(this.pos);
  }

  varintLength(): number {
    for (let i = 0; i < 4; i++) {
      if (this.pos + i >= this.end) throw new Stop();
      if (((this.bytes[this.pos + i] as number) & 0x80) === 0) return i + 1;
    }
    throw new Stop();
  }

  varintValue(): number {
    let value = 0;
    let multiplier = 1;
    for (let i = 0; i < this.varintLength(); i++) {
      value += ((this.bytes[this.pos + i] as number) & 0x7f) * multiplier;
      multiplier *= 128;
    }
    return value;
  }

  string(role: string): void {
    const length = this.u16Value();
    const prefix = this.add(2, FieldKind.strLen, role);
    this.add(length, FieldKind.str, role, prefix);
  }

  binary(role: string): void {
    const length = this.u16Value();
    const prefix = this.add(2, FieldKind.binLen, role);
    this.add(length, FieldKind.bin, role, prefix);
  }

  properties(): void {
    const length = this.varintValue();
    const propsField = this.add(this.varintLength(), FieldKind.propsLen);
    const blockEnd = this.pos + length;
    if (blockEnd > this.end) throw new Stop();
    const outer = this.props;
    this.props = propsField;
    while (this.pos < blockEnd) {
      const id = this.bytes[this.pos] as number;
      const type = PROPERTY_TYPES.get(id);
      this.add(1, FieldKind.propId);
      if (type === undefined) throw new Stop();
      this.propertyValue(type, id);
    }
    this.props = outer;
  }

  private propertyValue(type: PropertyDataType, id: number): void {
    const role = `property-0x${id.toString(16)}`;
    switch (type) {
      case 'byte':
        this.add(1, FieldKind.u8, role);
        break;
      case 'uint16':
        this.add(2, FieldKind.u16, role);
        break;
      case 'uint32':
        this.add(4, FieldKind.u32, role);
        break;
      case 'varint':
        this.add(this.varintLength(), FieldKind.varint, role);
        break;
      case 'utf8':
        this.string(role);
        break;
      case 'binary':
        this.binary(role);
        break;
      case 'pair':
        this.string(`${role}-name`);
        this.string(`${role}-value`);
        break;
    }
  }

  rest(kind: FieldKind, role?: string): void {
    if (this.left > 0) this.add(this.left, kind, role);
  }
}

/** The fields of one encoded frame; `version` is the session's protocol level (CONNECT says its own). */
export function fieldMap(bytes: Buffer, version: 3 | 4 | 5): Field[] {
  const w = new Walker(bytes, 0, bytes.length);
  try {
    const first = bytes[0];
    if (first === undefined) return [];
    w.add(1, FieldKind.header);
    const remaining = w.varintValue();
    w.add(w.varintLength(), FieldKind.length);
    w.end = Math.min(bytes.length, w.pos + remaining);
    body(w, first, version);
    w.rest(FieldKind.raw);
  } catch (err) {
    if (!(err instanceof Stop)) throw err;
    w.end = bytes.length;
    w.rest(FieldKind.raw);
  }
  if (w.end < bytes.length) {
    w.end = bytes.length;
    w.rest(FieldKind.raw);
  }
  return w.fields;
}

function body(w: Walker, first: number, sessionVersion: 3 | 4 | 5): void {
  const type = PacketTypeNames[first >> 4];
  let v5 = sessionVersion === 5;
  switch (type) {
    case 'connect': {
      w.string('protocol-name');
      const level = w.bytes[w.pos] ?? 0;
      w.add(1, FieldKind.level);
      v5 = level === 5;
      const flags = w.bytes[w.pos] ?? 0;
      w.add(1, FieldKind.flags, 'connect-flags');
      w.add(2, FieldKind.u16, 'keepalive');
      if (v5) w.properties();
      w.string('client-id');
      if ((flags & 0x04) !== 0) {
        if (v5) w.properties();
        w.string('will-topic');
        w.binary('will-payload');
      }
      if ((flags & 0x80) !== 0) w.string('username');
      if ((flags & 0x40) !== 0) w.binary('password');
      return;
    }
    case 'connack':
      w.add(1, FieldKind.flags, 'connack-flags');
      w.add(1, FieldKind.reason);
      if (v5 && w.left > 0) w.properties();
      return;
    case 'publish':
      w.string('topic');
      if (((first >> 1) & 3) > 0) w.add(2, FieldKind.u16, 'packet-id');
      if (v5) w.properties();
      w.rest(FieldKind.payload);
      return;
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      w.add(2, FieldKind.u16, 'packet-id');
      if (v5 && w.left > 0) w.add(1, FieldKind.reason);
      if (v5 && w.left > 0) w.properties();
      return;
    case 'subscribe':
      w.add(2, FieldKind.u16, 'packet-id');
      if (v5) w.properties();
      while (w.left > 0) {
        w.string('filter');
        w.add(1, FieldKind.flags, 'subscription-options');
      }
      return;
    case 'unsubscribe':
      w.add(2, FieldKind.u16, 'packet-id');
      if (v5) w.properties();
      while (w.left > 0) w.string('filter');
      return;
    case 'suback':
    case 'unsuback':
      w.add(2, FieldKind.u16, 'packet-id');
      if (v5) w.properties();
      w.rest(FieldKind.reason);
      return;
    case 'disconnect':
    case 'auth':
      if (w.left > 0) w.add(1, FieldKind.reason);
      if (w.left > 0) w.properties();
      return;
    default:
      return;
  }
}
