/**
 * A table from integer keys (0 to 2^53 - 1) to values: open addressing, linear probing, and deletion by
 * shifting the entries after the deleted one back (no tombstones). A table whose keys come and go at a
 * steady count, as deliveries saved and acknowledged do, so never rebuilds itself and allocates nothing; a
 * `Map` with that churn rebuilds its hash table every time its deleted entries fill it (measured on the
 * SQLite store: about 330 bytes of garbage per QoS 2 message from two maps).
 */

/** The key of an empty slot. */
const EMPTY = -1;
const MIN_BITS = 4;
/** The capacity (log2) a table is not shrunk below: 4 096 slots, 64 KiB. */
const KEPT_BITS = 12;

export class IntTable<V> {
  private keys: Float64Array;
  private values: (V | undefined)[];
  /** log2 of the capacity. */
  private bits: number;
  private count = 0;

  constructor() {
    this.bits = MIN_BITS;
    this.keys = new Float64Array(1 << this.bits).fill(EMPTY);
    this.values = new Array<V | undefined>(1 << this.bits).fill(undefined);
  }

  get size(): number {
    return this.count;
  }

  get(key: number): V | undefined {
    const keys = this.keys;
    const mask = keys.length - 1;
    for (let i = this.slot(key); ; i = (i + 1) & mask) {
      const k = keys[i] as number;
      if (k === key) return this.values[i];
      if (k === EMPTY) return undefined;
    }
  }

  set(key: number, value: V): void {
    const keys = this.keys;
    const mask = keys.length - 1;
    let i = this.slot(key);
    for (; ; i = (i + 1) & mask) {
      const k = keys[i] as number;
      if (k === key) {
        this.values[i] = value;
        return;
      }
      if (k === EMPTY) break;
    }
    keys[i] = key;
    this.values[i] = value;
    // At most half full: probes stay short.
    if (++this.count * 2 > keys.length) this.resize(this.bits + 1);
  }

  delete(key: number): boolean {
    const keys = this.keys;
    const values = this.values;
    const mask = keys.length - 1;
    let hole = this.slot(key);
    for (; ; hole = (hole + 1) & mask) {
      const k = keys[hole] as number;
      if (k === key) break;
      if (k === EMPTY) return false;
    }
    // Shift back each later entry of the run that may sit in the hole: one whose home slot is not in
    // (hole, j], cyclically.
    for (let j = (hole + 1) & mask; ; j = (j + 1) & mask) {
      const k = keys[j] as number;
      if (k === EMPTY) break;
      const home = this.slot(k);
      const stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
      if (stays) continue;
      keys[hole] = k;
      values[hole] = values[j];
      hole = j;
    }
    keys[hole] = EMPTY;
    values[hole] = undefined;
    // A sixteenth full, and larger than a busy broker's usual in-flight needs: give the room back (a burst
    // of queued deliveries has gone). Not sooner: a count that swings would grow and shrink it in turn.
    if (--this.count * 16 < keys.length && this.bits > KEPT_BITS) this.resize(this.bits - 1);
    return true;
  }

  /** Fibonacci hashing of both halves of the key: consecutive keys land far apart. */
  private slot(key: number): number {
    const low = key >>> 0;
    const high = (key / 4294967296) >>> 0;
    return Math.imul(low ^ Math.imul(high, 0x27d4eb2d), 0x9e3779b1) >>> (32 - this.bits);
  }

  private resize(bits: number): void {
    const keys = this.keys;
    const values = this.values;
    this.bits = bits;
    this.keys = new Float64Array(1 << bits).fill(EMPTY);
    this.values = new Array<V | undefined>(1 << bits).fill(undefined);
    this.count = 0;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i] as number;
      if (k !== EMPTY) this.set(k, values[i] as V);
    }
  }
}
