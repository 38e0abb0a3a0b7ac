/**
 * Mutations of valid MQTT frames for the fuzzer: one field is chosen from the frame's field map and changed
 * the way a broken or hostile client would change it (a length that lies, a reserved flag set, invalid
 * UTF-8 in a topic, a property repeated or unknown, a varint too long...). Lengths that enclose the change
 * are usually fixed up so the frame still parses that far and the fault reaches the deeper checks; left
 * alone, they desynchronise the stream, which is a case of its own. Plus plain byte havoc.
 * Deterministic for a given Rng seed.
 */
import { PropertyDefinitions } from '../../src/packets/types.js';
import { type Field, FieldKind } from './fuzz-grammar.js';
import type { Rng } from './rng.js';

/** Replace bytes [start, end) of the original frame by `bytes`. Edits of one mutation never overlap. */
interface Edit {
  start: number;
  end: number;
  bytes: Buffer;
}

/** Byte sequences that are not valid MQTT UTF-8 [MQTT-1.5.4-1] [MQTT-1.5.4-2], or are special in topics. */
const BAD_TEXT: readonly Buffer[] = [
  Buffer.from([0xc0, 0x80]), // overlong NUL
  Buffer.from([0xed, 0xa0, 0x80]), // surrogate U+D800
  Buffer.from([0xff]),
  Buffer.from([0x80]), // lone continuation byte
  Buffer.from([0xe2, 0x82]), // truncated sequence
  Buffer.from([0xf4, 0x90, 0x80, 0x80]), // beyond U+10FFFF
  Buffer.from([0x00]), // U+0000
  Buffer.from('+'),
  Buffer.from('#'),
  Buffer.from('/#'),
  Buffer.from('+/+/#'),
  Buffer.from('a/#/b'),
  Buffer.from('$SYS/broker/x'),
  Buffer.from('$share/g/'),
  Buffer.from('$share//a'),
  Buffer.from('$share/g'),
  Buffer.from('/'),
  Buffer.from('\u{feff}'),
];

const U16_EDGES = [0, 1, 0x7fff, 0x8000, 0xfffe, 0xffff];
const U32_EDGES = [0, 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
const VARINT_EDGES = [0, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455];
const LEVELS = [0, 1, 2, 3, 4, 5, 6, 0x7f, 0x80, 0x83, 0x84, 0x85, 0xff];
const PROPERTY_IDS = PropertyDefinitions.map((d) => d.id);

export function varint(value: number): Buffer {
  const out: number[] = [];
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    out.push(byte);
  } while (value > 0 && out.length < 4);
  return Buffer.from(out);
}

function u16(value: number): Buffer {
  const out = Buffer.alloc(2);
  out.writeUInt16BE(value & 0xffff);
  return out;
}

function u32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value >>> 0);
  return out;
}

/** A varint that lies about itself: non-minimal, five bytes, or cut short. */
function oddVarint(rng: Rng, value: number): Buffer {
  switch (rng.int(3)) {
    case 0: {
      const minimal = varint(value);
      if (minimal.length === 4) return Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f]);
      const longer = Buffer.concat([minimal, Buffer.from([0x00])]);
      longer[minimal.length - 1] = (longer[minimal.length - 1] as number) | 0x80;
      return longer;
    }
    case 1:
      return Buffer.from([0x80, 0x80, 0x80, 0x80, 0x01]);
    default:
      return Buffer.from([0x80]);
  }
}

function readVarint(bytes: Buffer, field: Field): number {
  let value = 0;
  let multiplier = 1;
  for (let i = field.start; i < field.end; i++) {
    value += ((bytes[i] as number) & 0x7f) * multiplier;
    multiplier *= 128;
  }
  return value;
}

/**
 * One mutation of `bytes` (a frame mapped to `fields`). Returns a new buffer; `bytes` is not modified.
 */
export function mutate(bytes: Buffer, fields: readonly Field[], rng: Rng): Buffer {
  if (fields.length === 0 || rng.chance(0.12)) return havoc(bytes, rng);
  const index = rng.int(fields.length);
  const field = fields[index] as Field;
  const edits: Edit[] = [];
  const resized = mutateField(bytes, fields, index, field, rng, edits);
  if (edits.length === 0) return havoc(bytes, rng);
  // Usually keep the enclosing lengths true, so the frame parses up to the mutated field.
  if (resized && rng.chance(0.8)) fixLengths(bytes, fields, field, edits);
  return apply(bytes, edits);
}

/** Fill `edits` for one field; true when the change alters the frame's size. */
function mutateField(
  bytes: Buffer,
  fields: readonly Field[],
  index: number,
  field: Field,
  rng: Rng,
  edits: Edit[],
): boolean {
  const at = (replacement: Buffer): void => {
    edits.push({ start: field.start, end: field.end, bytes: replacement });
  };
  switch (field.kind) {
    case FieldKind.header: {
      const first = bytes[0] as number;
      const choice = rng.int(4);
      if (choice === 0) at(Buffer.from([(first & 0xf0) | rng.int(16)]));
      else if (choice === 1) at(Buffer.from([(rng.int(16) << 4) | (first & 0x0f)]));
      else if (choice === 2)
        at(Buffer.from([first | 0x06])); // QoS 3 on a PUBLISH, reserved bits elsewhere
      else at(Buffer.from([rng.int(256)]));
      return false;
    }
    case FieldKind.length:
    case FieldKind.propsLen:
    case FieldKind.varint: {
      const value = readVarint(bytes, field);
      const choice = rng.int(4);
      if (choice === 0) at(varint(Math.max(0, value + rng.int(17) - 8)));
      else if (choice === 1) at(varint(rng.pick(VARINT_EDGES)));
      else at(oddVarint(rng, value));
      return false;
    }
    case FieldKind.u8:
    case FieldKind.reason:
      at(Buffer.from([rng.chance(0.5) ? rng.int(256) : rng.pick([0, 1, 2, 3, 0x80, 0xff])]));
      return false;
    case FieldKind.level:
      at(Buffer.from([rng.pick(LEVELS)]));
      return false;
    case FieldKind.flags:
      at(Buffer.from([flagsFor(field.role, bytes[field.start] as number, rng)]));
      return false;
    case FieldKind.u16:
      at(u16(rng.chance(0.6) ? rng.pick(U16_EDGES) : rng.int(0x10000)));
      return false;
    case FieldKind.u32:
      at(u32(rng.chance(0.6) ? rng.pick(U32_EDGES) : rng.next()));
      return false;
    case FieldKind.strLen:
    case FieldKind.binLen: {
      const value = bytes.readUInt16BE(field.start);
      const lie = rng.chance(0.5) ? value + rng.int(7) - 3 : rng.pick(U16_EDGES);
      at(u16(Math.max(0, lie)));
      return false;
    }
    case FieldKind.str:
      at(badString(bytes.subarray(field.start, field.end), rng));
      return true;
    case FieldKind.bin:
    case FieldKind.payload:
    case FieldKind.raw:
      at(
        rng.chance(0.3)
          ? Buffer.alloc(0)
          : rng.bytes(rng.chance(0.05) ? 20_000 + rng.int(50_000) : rng.int(64)),
      );
      return true;
    case FieldKind.propId: {
      if (rng.chance(0.5) && field.propsField !== undefined) {
        // Repeat the whole property (id and value): duplicates are errors for all but two properties.
        const end = propertyEnd(fields, index);
        edits.push({ start: end, end, bytes: Buffer.from(bytes.subarray(field.start, end)) });
        return true;
      }
      at(Buffer.from([rng.chance(0.6) ? rng.pick(PROPERTY_IDS) : rng.int(256)]));
      return false;
    }
  }
  return false;
}

function flagsFor(role: string | undefined, value: number, rng: Rng): number {
  if (role === 'connect-flags') {
    // Reserved bit, will QoS 3, will bits without the will flag, password without user name (3.1.1).
    return rng.pick([
      value | 0x01,
      value | 0x18,
      (value & ~0x04) | 0x20,
      (value & ~0x80) | 0x40,
      rng.int(256),
    ]);
  }
  if (role === 'subscription-options') {
    // QoS 3, Retain Handling 3, reserved bits, No Local on a shared subscription.
    return rng.pick([value | 0x03, value | 0x30, value | 0xc0, value | 0x04, rng.int(256)]);
  }
  return rng.int(256);
}

/** A replacement for a string body: bad UTF-8 or a special topic spliced in, emptied, or made long. */
function badString(current: Buffer, rng: Rng): Buffer {
  const choice = rng.int(5);
  if (choice === 0) return Buffer.alloc(0);
  if (choice === 1) return Buffer.alloc(200 + rng.int(65_000), rng.pick([0x61, 0x2f, 0x2b, 0x23]));
  const bad = rng.pick(BAD_TEXT);
  if (choice === 2) return bad;
  const at = rng.int(current.length + 1);
  return Buffer.concat([current.subarray(0, at), bad, current.subarray(at)]);
}

/** Where the property starting at field `index` (its id) ends: the next id, or the end of its block. */
function propertyEnd(fields: readonly Field[], index: number): number {
  const block = (fields[index] as Field).propsField;
  let end = (fields[index] as Field).end;
  for (let i = index + 1; i < fields.length; i++) {
    const f = fields[i] as Field;
    if (f.propsField !== block || f.kind === FieldKind.propId) break;
    end = f.end;
  }
  return end;
}

/** Rewrite the string length, the properties length and the remaining length around a resized field. */
function fixLengths(bytes: Buffer, fields: readonly Field[], field: Field, edits: Edit[]): void {
  const delta = edits.reduce((sum, e) => sum + e.bytes.length - (e.end - e.start), 0);
  if (field.lengthField !== undefined && field.kind === FieldKind.str) {
    const prefix = fields[field.lengthField] as Field;
    const length = bytes.readUInt16BE(prefix.start) + delta;
    if (length >= 0 && length <= 0xffff)
      edits.push({ start: prefix.start, end: prefix.end, bytes: u16(length) });
  }
  if (field.propsField !== undefined) {
    const props = fields[field.propsField] as Field;
    edits.push({ start: props.start, end: props.end, bytes: varint(readVarint(bytes, props) + delta) });
  }
  const lengthField = fields[1];
  if (lengthField?.kind === FieldKind.length) {
    const inner = edits.reduce((sum, e) => sum + e.bytes.length - (e.end - e.start), 0);
    const bodyLength = bytes.length - lengthField.end + inner;
    if (bodyLength <= 268_435_455) {
      edits.push({ start: lengthField.start, end: lengthField.end, bytes: varint(bodyLength) });
    }
  }
}

function apply(bytes: Buffer, edits: Edit[]): Buffer {
  edits.sort((x, y) => x.start - y.start || x.end - y.end);
  const parts: Buffer[] = [];
  let pos = 0;
  for (const edit of edits) {
    if (edit.start < pos) continue; // overlapping edit: the first one wins
    parts.push(bytes.subarray(pos, edit.start), edit.bytes);
    pos = edit.end;
  }
  parts.push(bytes.subarray(pos));
  return Buffer.concat(parts);
}

/** Byte-level damage with no regard for the grammar. */
export function havoc(bytes: Buffer, rng: Rng): Buffer {
  const out = Buffer.from(bytes);
  switch (rng.int(6)) {
    case 0: {
      const flips = 1 + rng.int(4);
      for (let i = 0; i < flips && out.length > 0; i++) {
        const at = rng.int(out.length);
        out[at] = (out[at] as number) ^ (1 << rng.int(8));
      }
      return out;
    }
    case 1: {
      for (let i = 0; i < 1 + rng.int(4) && out.length > 0; i++) out[rng.int(out.length)] = rng.int(256);
      return out;
    }
    case 2: {
      const at = rng.int(out.length + 1);
      return Buffer.concat([out.subarray(0, at), rng.bytes(1 + rng.int(16)), out.subarray(at)]);
    }
    case 3: {
      const at = rng.int(out.length + 1);
      return Buffer.concat([out.subarray(0, at), out.subarray(Math.min(out.length, at + 1 + rng.int(8)))]);
    }
    case 4:
      return out.subarray(0, rng.int(out.length + 1));
    default:
      return Buffer.concat([out, rng.bytes(1 + rng.int(32))]);
  }
}
