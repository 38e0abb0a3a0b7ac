/**
 * The SQLite store's change log: each commit writes its batch of changes (opcodes and their arguments, as
 * in `sqlite-ops.ts`) as one row of the `log` table, encoded here; the tables get the changes later, in
 * large batches (`sqlite-window.ts`), and a restart replays the rows not applied yet.
 *
 * One row per commit touches a page or two where applying each change touches a page per table and index:
 * that is what makes a commit cheap. The encoding is private to this store (a log row never outlives the
 * schema version that wrote it: replayed at open, deleted once applied).
 */
import type { Message } from '../broker/message.js';
import { encodeJson, messageFromRow } from './sqlite-codec.js';
import { LOG_AS, OP, OP_ARGS } from './sqlite-ops.js';

// Value tags.
const NULL = 0;
const INT32 = 1;
const FLOAT64 = 2;
const STRING = 3;
const MESSAGE = 4;
/** Strings up to this many UTF-16 units are tried as ASCII first. */
const SHORT = 64;

/** Encodes batches into one reused buffer (the bytes are copied by SQLite when bound). */
export class LogEncoder {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private at = 0;

  /**
   * The entries `ops[from, from + count)` (whole operations), without those dropped from the batch: the
   * returned view is valid until the next call.
   */
  encode(ops: readonly unknown[], from: number, count: number): Buffer {
    this.at = 0;
    let i = from;
    const end = from + count;
    while (i < end) {
      const op = ops[i] as number;
      const args = OP_ARGS[op];
      if (args === undefined) throw new Error(`sqlite store: unknown operation ${String(op)}`);
      if (op === OP.skip8 || op === OP.skip2 || op === OP.skip3) {
        i += 1 + args;
        continue;
      }
      this.room(1);
      this.buf[this.at++] = LOG_AS[op] ?? op;
      // A delivery save past PUBREC carries no message (`SqliteStore.updateDelivery`): the usual QoS 2 case
      // logs under half the bytes.
      for (let k = 1; k <= args; k++) this.value(ops[i + k]);
      i += 1 + args;
    }
    return this.buf.subarray(0, this.at);
  }

  private value(v: unknown): void {
    if (v === null || v === undefined) {
      this.room(1);
      this.buf[this.at++] = NULL;
    } else if (typeof v === 'number') {
      this.room(9);
      if ((v | 0) === v) {
        this.buf[this.at] = INT32;
        this.buf.writeInt32LE(v, this.at + 1);
        this.at += 5;
      } else {
        this.buf[this.at] = FLOAT64;
        this.buf.writeDoubleLE(v, this.at + 1);
        this.at += 9;
      }
    } else if (typeof v === 'string') {
      this.room(1);
      this.buf[this.at++] = STRING;
      this.string(v);
    } else {
      const m = v as Message;
      this.room(1);
      this.buf[this.at++] = MESSAGE;
      this.string(m.topic);
      this.room(4 + m.payload.length + 2);
      this.buf.writeUInt32LE(m.payload.length, this.at);
      this.buf.set(m.payload, this.at + 4);
      this.at += 4 + m.payload.length;
      this.buf[this.at++] = m.qos;
      this.buf[this.at++] = m.retain ? 1 : 0;
      this.value(m.properties === undefined ? null : encodeJson(m.properties));
      this.value(m.expiresAt ?? null);
      this.value(m.origin ?? null);
    }
  }

  private string(s: string): void {
    // At most 3 bytes per UTF-16 unit.
    this.room(4 + s.length * 3);
    const buf = this.buf;
    if (s.length <= SHORT) {
      // Client ids and topics are short and mostly ASCII: copied here, without a call into C++ for each.
      const start = this.at + 4;
      let k = 0;
      for (; k < s.length; k++) {
        const c = s.charCodeAt(k);
        if (c >= 0x80) break;
        buf[start + k] = c;
      }
      if (k === s.length) {
        buf.writeUInt32LE(k, this.at);
        this.at = start + k;
        return;
      }
    }
    const n = buf.write(s, this.at + 4, 'utf8');
    this.buf.writeUInt32LE(n, this.at);
    this.at += 4 + n;
  }

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.at + n) size *= 2;
    const bigger = Buffer.allocUnsafe(size);
    this.buf.copy(bigger, 0, 0, this.at);
    this.buf = bigger;
  }
}

/** Append the changes of one log row to `ops` (messages read back as Messages). */
export function decodeLogRow(row: Buffer, ops: unknown[]): void {
  let at = 0;
  const string = (): string => {
    const n = row.readUInt32LE(at);
    const s = row.toString('utf8', at + 4, at + 4 + n);
    at += 4 + n;
    return s;
  };
  const value = (): unknown => {
    const tag = row[at++];
    switch (tag) {
      case NULL:
        return null;
      case INT32:
        at += 4;
        return row.readInt32LE(at - 4);
      case FLOAT64:
        at += 8;
        return row.readDoubleLE(at - 8);
      case STRING:
        return string();
      case MESSAGE: {
        const topic = string();
        const n = row.readUInt32LE(at);
        const payload = row.subarray(at + 4, at + 4 + n);
        at += 4 + n;
        const qos = row[at++] as number;
        const retain = row[at++] as number;
        // Read back as a table row would be (messageFromRow copies the payload out of the log row).
        return messageFromRow({
          topic,
          payload,
          qos,
          retain,
          properties: value() as string | null,
          expires_at: value() as number | null,
          origin: value() as string | null,
        });
      }
      default:
        throw new Error(`sqlite store: corrupt log row (tag ${String(tag)} at ${at - 1})`);
    }
  };
  while (at < row.length) {
    const op = row[at++] as number;
    const args = OP_ARGS[op];
    if (args === undefined) throw new Error(`sqlite store: corrupt log row (operation ${op})`);
    ops.push(op);
    for (let k = 0; k < args; k++) ops.push(value());
  }
}
