/**
 * The journal of the SQLite store: each commit between two flushes writes its batch of operations as one
 * row (one BLOB) instead of one statement per change, and a flush later writes to the tables only what is
 * still there (rows saved and deleted within the window never reach them). On open, the journal is replayed
 * over the tables. The encoding is our own and private to the store: per value a tag byte, then the value.
 */
import type { Message } from '../broker/message.js';
import { encodeJson, messageFromRow } from './sqlite-codec.js';
import { ARITY, JOURNAL_AS } from './sqlite-ops.js';

const NULL = 0;
const UINT = 1;
const FLOAT = 2;
const STRING = 3;
const MESSAGE = 4;

/** Encodes batches into one reused, growing buffer. */
export class JournalWriter {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private at = 0;

  /**
   * The operations in `ops[from, to)` as a journal entry (a view of the writer's buffer, valid until the
   * next call), or undefined when none of them is for the journal.
   */
  encode(ops: readonly unknown[], from: number, to: number): Buffer | undefined {
    this.at = 0;
    let i = from;
    while (i < to) {
      const op = ops[i] as number;
      const arity = ARITY[op] as number;
      const as = JOURNAL_AS[op] as number;
      if (as !== 0) {
        this.room(1);
        this.buf[this.at++] = as;
        for (let k = 1; k <= arity; k++) this.value(ops[i + k]);
      }
      i += 1 + arity;
    }
    return this.at === 0 ? undefined : this.buf.subarray(0, this.at);
  }

  private room(bytes: number): void {
    if (this.at + bytes <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + bytes));
    this.buf.copy(bigger, 0, 0, this.at);
    this.buf = bigger;
  }

  private value(v: unknown): void {
    if (v === null || v === undefined) {
      this.room(1);
      this.buf[this.at++] = NULL;
    } else if (typeof v === 'number') {
      this.room(9);
      if (v >= 0 && v <= 0xffffffff && Number.isInteger(v)) {
        this.buf[this.at] = UINT;
        this.buf.writeUInt32LE(v, this.at + 1);
        this.at += 5;
      } else {
        this.buf[this.at] = FLOAT;
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
      this.at += 4;
      m.payload.copy(this.buf, this.at);
      this.at += m.payload.length;
      this.buf[this.at++] = m.qos;
      this.buf[this.at++] = m.retain ? 1 : 0;
      this.value(m.properties === undefined ? null : encodeJson(m.properties));
      this.value(m.expiresAt ?? null);
      this.value(m.origin ?? null);
    }
  }

  private string(s: string): void {
    this.room(4 + s.length * 3);
    const n = this.buf.write(s, this.at + 4, 'utf8');
    this.buf.writeUInt32LE(n, this.at);
    this.at += 4 + n;
  }
}

/** A journal entry back into operations (messages as messages), to run against the tables. */
export function decodeJournal(entry: Buffer): unknown[] {
  const ops: unknown[] = [];
  let at = 0;
  const str = (): string => {
    const n = entry.readUInt32LE(at);
    const s = entry.toString('utf8', at + 4, at + 4 + n);
    at += 4 + n;
    return s;
  };
  const value = (): unknown => {
    const tag = entry[at++];
    switch (tag) {
      case NULL:
        return null;
      case UINT:
        at += 4;
        return entry.readUInt32LE(at - 4);
      case FLOAT:
        at += 8;
        return entry.readDoubleLE(at - 8);
      case STRING:
        return str();
      case MESSAGE: {
        const topic = str();
        const length = entry.readUInt32LE(at);
        const payload = entry.subarray(at + 4, at + 4 + length);
        at += 4 + length;
        const qos = entry[at++] as number;
        const retain = entry[at++] as number;
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
        throw new Error(`sqlite store: corrupt journal entry (tag ${String(tag)} at ${at - 1})`);
    }
  };
  while (at < entry.length) {
    const op = entry[at++] as number;
    const arity = ARITY[op];
    if (op === 0 || arity === undefined || JOURNAL_AS[op] !== op) {
      throw new Error(`sqlite store: corrupt journal entry (operation ${op} at ${at - 1})`);
    }
    ops.push(op);
    for (let k = 0; k < arity; k++) ops.push(value());
  }
  return ops;
}
