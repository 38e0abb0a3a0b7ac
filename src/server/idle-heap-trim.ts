import v8 from 'node:v8';
import vm from 'node:vm';
import type { BrokerLogger } from '../broker/logger.js';

/** How often the broker is looked at. */
const CHECK_MS = 5_000;
/**
 * Growth of V8's heap since the last collection here that makes one worth its pause: 8 MiB, or a quarter
 * of the heap when that is more, so a large heap growing slowly is not collected over and over.
 */
const GROWTH_BYTES = 8 * 1024 * 1024;
const GROWTH_FRACTION = 0.25;
/** At most this many messages and new connections in a check interval is quiet. */
const QUIET_EVENTS = 500;
/** Consecutive quiet checks before collecting: a lull inside a burst is not idleness. */
const QUIET_CHECKS = 2;

/**
 * Gives memory back once a busy broker goes quiet. After a burst (thousands of clients connecting, a flood
 * of messages) V8's heap holds the burst's garbage and a grown young generation; V8 returns them only when
 * its memory reducer runs, and that runs only after a full collection happened to follow enough growth,
 * so an idle broker may keep them for good. This looks every 5 s: when the heap has grown by 8 MiB (or a
 * quarter, if more) since the last collection here and the broker has been quiet (at most 500 messages and connections per 5 s)
 * for two looks in a row, it collects once. The pause (some milliseconds per 10 000 clients) falls when
 * little is happening; under load V8 is left alone.
 */
export class IdleHeapTrim {
  #timer: NodeJS.Timeout | undefined;
  #baseline = heapBytes();
  #lastActivity: number;
  #quietChecks = 0;
  readonly #collect: () => void;

  /**
   * `activity`: a count that rises with messages received and connections accepted. Undefined when this
   * Node offers no way to ask for a collection.
   */
  static create(activity: () => number, logger: BrokerLogger): IdleHeapTrim | undefined {
    const collect = garbageCollector();
    return collect === undefined ? undefined : new IdleHeapTrim(activity, logger, collect);
  }

  private constructor(
    private readonly activity: () => number,
    private readonly logger: BrokerLogger,
    collect: () => void,
  ) {
    this.#collect = collect;
    this.#lastActivity = activity();
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.check(), CHECK_MS);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One look; public so a test can step it without waiting. Returns whether it collected. */
  check(): boolean {
    const activity = this.activity();
    const quiet = activity - this.#lastActivity <= QUIET_EVENTS;
    this.#lastActivity = activity;
    this.#quietChecks = quiet ? this.#quietChecks + 1 : 0;
    const heap = heapBytes();
    if (heap < this.#baseline) this.#baseline = heap;
    const growth = Math.max(GROWTH_BYTES, this.#baseline * GROWTH_FRACTION);
    if (this.#quietChecks < QUIET_CHECKS || heap < this.#baseline + growth) return false;
    const started = performance.now();
    this.#collect();
    this.#baseline = heapBytes();
    this.logger.debug(
      {
        heapBefore: heap,
        heapAfter: this.#baseline,
        pauseMs: Math.round((performance.now() - started) * 10) / 10,
      },
      'heap trimmed while idle',
    );
    return true;
  }
}

/** What V8 has taken for its heap, young generation included. */
function heapBytes(): number {
  return v8.getHeapStatistics().total_heap_size;
}

/**
 * A way to ask V8 for a full collection: `gc` when Node was started with `--expose-gc`, otherwise the
 * function a fresh context gets while the flag is set for a moment (the flag is set back at once, so no
 * other code sees a `gc`).
 */
function garbageCollector(): (() => void) | undefined {
  const exposed = (globalThis as { gc?: unknown }).gc;
  if (typeof exposed === 'function') return exposed as () => void;
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc: unknown = vm.runInNewContext('gc');
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}
