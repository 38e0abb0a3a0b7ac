/**
 * A hashed timing wheel: many deadlines (keep alive, connect timeout, slow-reader grace) served by one
 * coarse timer instead of one `setTimeout` per connection.
 *
 * Time is cut into ticks of `tickMs`; a deadline belongs to the first tick boundary at or after it and
 * sits in the slot `tick mod slots`. Each slot is a doubly linked list kept in typed arrays indexed by a
 * small integer, so add, remove and reschedule are O(1), an entry costs a few dozen bytes and no closure,
 * and memory follows the number of live entries (the arrays grow to the high-water mark, never with churn).
 * A deadline further away than one turn of the wheel waits in its slot and is skipped while its tick has
 * not come (one comparison per turn).
 *
 * Guarantees, given that `advance` runs at every tick boundary (the built-in timer does, event-loop delays
 * aside): an entry never fires before its deadline, and fires at most one tick after it.
 */

/** What a wheel is built with. */
export interface TimerWheelOptions<T> {
  /** Called once per entry whose deadline passed, with the item it was added with. Must not throw. */
  readonly onExpire: (item: T) => void;
  /** Tick length in milliseconds: the wheel's resolution. Default 100. */
  readonly tickMs?: number;
  /** Slots per turn, rounded up to a power of two. Default 1024 (with 100 ms ticks, one turn is 102 s). */
  readonly slots?: number;
  /** Monotonic clock in milliseconds. Default `performance.now`. */
  readonly now?: () => number;
  /**
   * Run the built-in timer: one `setTimeout` at a time, armed only while the wheel holds entries and
   * unref'd so it never keeps the process alive. Default true; false means the owner calls `advance`.
   */
  readonly timer?: boolean;
}

/** An entry's handle: its slot index in the low 22 bits, a generation above, so a stale handle is harmless. */
export type TimerHandle = number;

const INDEX_BITS = 22;
const INDEX_MASK = (1 << INDEX_BITS) - 1;
const INDEX_SPAN = 2 ** INDEX_BITS;
/** Generations run 1..2^30, so `generation * 2^22 + index` stays below 2^53. */
const MAX_GENERATION = 2 ** 30;
const NONE = -1;
const INITIAL_CAPACITY = 64;

export class TimerWheel<T> {
  readonly tickMs: number;
  private readonly slotMask: number;
  private readonly onExpire: (item: T) => void;
  private readonly clock: () => number;
  private readonly useTimer: boolean;
  /** Origin of tick numbering, so ticks are small integers. */
  private readonly epoch: number;
  /** The last tick whose slot was processed; deadlines at or before it go to the next tick. */
  private processedTick: number;

  private readonly heads: Int32Array;
  private next: Int32Array;
  private prev: Int32Array;
  private tick: Float64Array;
  private generation: Uint32Array;
  private items: (T | undefined)[];
  private freeHead = NONE;
  private used = 0;
  private live = 0;
  private timer: NodeJS.Timeout | undefined;
  private advancing = false;
  /** Reused between advances: indexes found due in one slot, fired after the walk. */
  private readonly due: number[] = [];

  constructor(options: TimerWheelOptions<T>) {
    const tickMs = options.tickMs ?? 100;
    if (!(tickMs > 0) || !Number.isFinite(tickMs)) throw new RangeError(`tickMs must be > 0, got ${tickMs}`);
    const wanted = options.slots ?? 1024;
    if (!Number.isInteger(wanted) || wanted < 1 || wanted > 1 << 20) {
      throw new RangeError(`slots must be an integer from 1 to ${1 << 20}, got ${wanted}`);
    }
    let slots = 1;
    while (slots < wanted) slots <<= 1;
    this.tickMs = tickMs;
    this.slotMask = slots - 1;
    this.onExpire = options.onExpire;
    this.clock = options.now ?? (() => performance.now());
    this.useTimer = options.timer ?? true;
    this.epoch = this.clock();
    this.processedTick = 0;
    this.heads = new Int32Array(slots).fill(NONE);
    this.next = new Int32Array(INITIAL_CAPACITY);
    this.prev = new Int32Array(INITIAL_CAPACITY);
    this.tick = new Float64Array(INITIAL_CAPACITY);
    this.generation = new Uint32Array(INITIAL_CAPACITY);
    this.items = new Array<T | undefined>(INITIAL_CAPACITY).fill(undefined);
  }

  /** Entries waiting to fire. */
  get size(): number {
    return this.live;
  }

  /** Entries the arrays can hold before they grow: the high-water mark of `size`, rounded up. */
  get capacity(): number {
    return this.items.length;
  }

  /** Slots per turn of the wheel. */
  get slots(): number {
    return this.slotMask + 1;
  }

  /** Call `onExpire(item)` once `delayMs` have passed. Returns the handle to remove or reschedule it with. */
  add(item: T, delayMs: number): TimerHandle {
    const index = this.allocate();
    this.items[index] = item;
    this.link(index, this.tickFor(delayMs));
    this.live++;
    this.arm();
    return (this.generation[index] as number) * INDEX_SPAN + index;
  }

  /** Forget an entry. False when the handle already fired, was removed, or never existed. */
  remove(handle: TimerHandle): boolean {
    const index = this.indexOf(handle);
    if (index === NONE) return false;
    this.unlink(index);
    this.release(index);
    if (this.live === 0) this.disarm();
    return true;
  }

  /** Move an entry's deadline to `delayMs` from now. False when the handle is no longer live. */
  reschedule(handle: TimerHandle, delayMs: number): boolean {
    const index = this.indexOf(handle);
    if (index === NONE) return false;
    const tick = this.tickFor(delayMs);
    if (tick === this.tick[index]) return true;
    this.unlink(index);
    this.link(index, tick);
    return true;
  }

  /** Whether the handle is waiting to fire. */
  has(handle: TimerHandle): boolean {
    return this.indexOf(handle) !== NONE;
  }

  /**
   * Fire every entry whose deadline is at or before `now` (default: the clock). The built-in timer calls
   * this; call it yourself with `timer: false`. Returns the number of entries fired.
   */
  advance(now: number = this.clock()): number {
    // A callback that advances again would reuse the batch being fired: the outer call finishes the job.
    if (this.advancing) return 0;
    this.advancing = true;
    const target = Math.floor((now - this.epoch) / this.tickMs);
    let fired = 0;
    try {
      // After a pause longer than a turn, every slot is visited once; more would find nothing new.
      const last = Math.min(target, this.processedTick + this.slots);
      while (this.processedTick < last) {
        const tick = ++this.processedTick;
        fired += this.expireSlot(tick & this.slotMask, target);
      }
      if (this.processedTick < target) this.processedTick = target;
    } finally {
      this.advancing = false;
    }
    return fired;
  }

  /** Stop the timer and drop every entry without firing it. */
  clear(): void {
    this.disarm();
    this.heads.fill(NONE);
    this.items.fill(undefined);
    this.tick.fill(-1);
    for (let i = 0; i < this.used; i++) this.generation[i] = this.bump(this.generation[i] as number);
    this.freeHead = NONE;
    this.used = 0;
    this.live = 0;
  }

  // ---- internals ----

  /** First tick boundary at or after now + delay, never a tick already processed. */
  private tickFor(delayMs: number): number {
    const delay = delayMs > 0 ? delayMs : 0;
    const tick = Math.ceil((this.clock() - this.epoch + delay) / this.tickMs);
    return tick > this.processedTick ? tick : this.processedTick + 1;
  }

  private expireSlot(slot: number, upTo: number): number {
    const due = this.due;
    for (let i = this.heads[slot] as number; i !== NONE; i = this.next[i] as number) {
      if ((this.tick[i] as number) <= upTo) due.push(i, this.generation[i] as number);
    }
    let fired = 0;
    for (let k = 0; k < due.length; k += 2) {
      const index = due[k] as number;
      // An earlier callback of this batch may have removed or rescheduled this entry.
      if (this.generation[index] !== due[k + 1] || (this.tick[index] as number) > upTo) continue;
      const item = this.items[index] as T;
      this.unlink(index);
      this.release(index);
      fired++;
      this.onExpire(item);
    }
    due.length = 0;
    if (this.live === 0) this.disarm();
    return fired;
  }

  private indexOf(handle: TimerHandle): number {
    if (!Number.isInteger(handle) || handle < 0) return NONE;
    const index = handle & INDEX_MASK;
    if (index >= this.used || (this.tick[index] as number) < 0) return NONE;
    return this.generation[index] === Math.floor(handle / INDEX_SPAN) ? index : NONE;
  }

  private allocate(): number {
    if (this.freeHead !== NONE) {
      const index = this.freeHead;
      this.freeHead = this.next[index] as number;
      return index;
    }
    if (this.used === this.items.length) this.grow();
    const index = this.used++;
    // Zero only for a never-used index; after `clear` the bumped generation carries on.
    if (this.generation[index] === 0) this.generation[index] = 1;
    return index;
  }

  private release(index: number): void {
    this.items[index] = undefined;
    this.tick[index] = -1;
    this.generation[index] = this.bump(this.generation[index] as number);
    this.next[index] = this.freeHead;
    this.freeHead = index;
    this.live--;
  }

  private bump(generation: number): number {
    return generation >= MAX_GENERATION ? 1 : generation + 1;
  }

  private grow(): void {
    const capacity = this.items.length * 2;
    if (capacity > INDEX_SPAN) throw new RangeError(`a timer wheel holds at most ${INDEX_SPAN} entries`);
    const next = new Int32Array(capacity);
    next.set(this.next);
    this.next = next;
    const prev = new Int32Array(capacity);
    prev.set(this.prev);
    this.prev = prev;
    const tick = new Float64Array(capacity);
    tick.set(this.tick);
    this.tick = tick;
    const generation = new Uint32Array(capacity);
    generation.set(this.generation);
    this.generation = generation;
    const items = new Array<T | undefined>(capacity).fill(undefined);
    for (let i = 0; i < this.used; i++) items[i] = this.items[i];
    this.items = items;
  }

  private link(index: number, tick: number): void {
    const slot = tick & this.slotMask;
    const head = this.heads[slot] as number;
    this.tick[index] = tick;
    this.prev[index] = NONE;
    this.next[index] = head;
    if (head !== NONE) this.prev[head] = index;
    this.heads[slot] = index;
  }

  private unlink(index: number): void {
    const prev = this.prev[index] as number;
    const next = this.next[index] as number;
    if (prev !== NONE) this.next[prev] = next;
    else this.heads[(this.tick[index] as number) & this.slotMask] = next;
    if (next !== NONE) this.prev[next] = prev;
  }

  /** Arm the one timer for the next tick boundary, if it is not armed and there is something to wait for. */
  private arm(): void {
    if (!this.useTimer || this.timer !== undefined || this.live === 0) return;
    const nextBoundary = this.epoch + (this.processedTick + 1) * this.tickMs;
    const wait = Math.max(1, Math.ceil(nextBoundary - this.clock()));
    this.timer = setTimeout(this.onTimer, wait);
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.advance();
    this.arm();
  };
}
