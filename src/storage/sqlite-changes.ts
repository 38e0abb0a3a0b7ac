/**
 * The SQLite store's changes not in its tables yet, in order: opcodes and their arguments (`sqlite-ops.ts`),
 * flat in one array, each operation known by its position (counted from the store's opening, so positions
 * stay valid when the front of the array goes). The array is reused when the tables are written, its tail
 * moved to the front, rather than cut: it does not grow again from nothing, reallocating, in every window.
 */
export class ChangeArray {
  /** Entries `[0, end)` are in use; those past `end` are undefined. */
  ops: unknown[] = [];
  end = 0;
  /** The position of `ops[0]`. */
  base = 0;

  /** The position the next change gets. */
  get next(): number {
    return this.base + this.end;
  }

  /** Argument `offset` (1 for the first) of the operation at position `at`. */
  arg(at: number, offset: number): unknown {
    return this.ops[at - this.base + offset];
  }

  setArg(at: number, offset: number, value: unknown): void {
    this.ops[at - this.base + offset] = value;
  }

  /** Turn the operation at `at` into a skip, and let go of its arguments (messages, payloads). */
  skip(at: number, skip: number, args: number): void {
    const i = at - this.base;
    const ops = this.ops;
    ops[i] = skip;
    // A loop: `fill` is a call into the runtime, slower for a handful of entries.
    for (let k = i + 1; k <= i + args; k++) ops[k] = undefined;
  }

  /** Append a change (an opcode and its arguments); the hot paths use the fixed-size forms below. */
  push(...args: unknown[]): void {
    for (const arg of args) this.ops[this.end++] = arg;
  }

  put2(a: unknown, b: unknown): void {
    const ops = this.ops;
    ops[this.end] = a;
    ops[this.end + 1] = b;
    this.end += 2;
  }

  put3(a: unknown, b: unknown, c: unknown): void {
    this.put2(a, b);
    this.ops[this.end++] = c;
  }

  put5(a: unknown, b: unknown, c: unknown, d: unknown, e: unknown): void {
    this.put2(a, b);
    this.put3(c, d, e);
  }

  /** The changes before position `to` went to the tables: the rest moves to the front. */
  dropBefore(to: number): void {
    const count = to - this.base;
    const ops = this.ops;
    const tail = this.end - count;
    if (tail > 0) ops.copyWithin(0, count, this.end);
    ops.fill(undefined, tail, this.end);
    this.end = tail;
    this.base = to;
  }
}
