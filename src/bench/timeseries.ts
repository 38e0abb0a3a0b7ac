/**
 * Throughput over time: counts of sent and received messages in fixed intervals (1 s by default), so a
 * report shows ramp-up, stalls and tail-off instead of one average. Every process of a run buckets against
 * the same origin (the run's start, epoch ms, handed out by the coordinator), so merging is adding bucket by
 * bucket.
 */

/** JSON-safe state of a {@link ThroughputTimeSeries}. */
export interface TimeSeriesSnapshot {
  readonly intervalMs: number;
  /** Start of bucket 0 (epoch ms or any clock shared by all processes of the run). */
  readonly originMs: number;
  readonly sent: readonly number[];
  readonly received: readonly number[];
}

/** One interval of the series. */
export interface TimeSeriesPoint {
  /** Start of the interval relative to the origin, ms. */
  readonly offsetMs: number;
  readonly sent: number;
  readonly received: number;
  readonly sentPerSec: number;
  readonly receivedPerSec: number;
}

/** A week at one-second buckets; a timestamp further off is a clock bug, not a long run. */
const MAX_BUCKETS = 604_800;

function checkCount(count: number): void {
  if (!Number.isInteger(count) || count < 0)
    throw new RangeError(`count must be an integer >= 0, got ${count}`);
}

/** Sent/received counts per interval, mergeable across processes. */
export class ThroughputTimeSeries {
  readonly intervalMs: number;
  #originMs: number;
  #sent: number[] = [];
  #received: number[] = [];

  /** An empty series bucketing from `originMs` in steps of `intervalMs`. */
  constructor(originMs: number, intervalMs = 1000) {
    if (!Number.isFinite(originMs)) throw new RangeError(`origin must be finite, got ${originMs}`);
    if (!Number.isFinite(intervalMs) || intervalMs <= 0)
      throw new RangeError(`interval must be > 0, got ${intervalMs}`);
    this.#originMs = originMs;
    this.intervalMs = intervalMs;
  }

  /** Rebuilds a series from {@link ThroughputTimeSeries.toJSON} output, checking it. */
  static fromJSON(snapshot: TimeSeriesSnapshot): ThroughputTimeSeries {
    const series = new ThroughputTimeSeries(snapshot.originMs, snapshot.intervalMs);
    if (snapshot.sent.length !== snapshot.received.length || snapshot.sent.length > MAX_BUCKETS) {
      throw new RangeError('time series arrays must have equal length within bounds');
    }
    for (const count of snapshot.sent) checkCount(count);
    for (const count of snapshot.received) checkCount(count);
    series.#sent = [...snapshot.sent];
    series.#received = [...snapshot.received];
    return series;
  }

  /** Start of bucket 0. Moves earlier (by whole intervals) when an earlier event or series arrives. */
  get originMs(): number {
    return this.#originMs;
  }

  /** Number of intervals covered. */
  get length(): number {
    return this.#sent.length;
  }

  /** Total sent over all intervals. */
  get totalSent(): number {
    return this.#sent.reduce((sum, count) => sum + count, 0);
  }

  /** Total received over all intervals. */
  get totalReceived(): number {
    return this.#received.reduce((sum, count) => sum + count, 0);
  }

  /** Counts `count` messages sent at `atMs`. */
  recordSent(atMs: number, count = 1): void {
    checkCount(count);
    // Index first: #slot may replace the array when it prepends.
    const index = this.#slot(atMs);
    this.#sent[index]! += count;
  }

  /** Counts `count` messages received at `atMs`. */
  recordReceived(atMs: number, count = 1): void {
    checkCount(count);
    // Index first: #slot may replace the array when it prepends.
    const index = this.#slot(atMs);
    this.#received[index]! += count;
  }

  /**
   * Adds another process's series. Both must use the same interval and origins a whole number of intervals
   * apart; otherwise buckets would straddle and the merge could not be exact.
   */
  merge(other: ThroughputTimeSeries | TimeSeriesSnapshot): this {
    const source = other instanceof ThroughputTimeSeries ? other : ThroughputTimeSeries.fromJSON(other);
    if (source.intervalMs !== this.intervalMs) {
      throw new RangeError(
        `cannot merge series of ${source.intervalMs} ms into ${this.intervalMs} ms buckets`,
      );
    }
    const shift = (source.#originMs - this.#originMs) / this.intervalMs;
    const offset = Math.round(shift);
    if (Math.abs(shift - offset) > 1e-9)
      throw new RangeError('series origins are not a whole number of intervals apart');
    if (source.length === 0) return this;
    const first = this.#ensureIndex(offset);
    this.#ensureIndex(first + source.length - 1);
    for (let i = 0; i < source.length; i++) {
      this.#sent[first + i]! += source.#sent[i]!;
      this.#received[first + i]! += source.#received[i]!;
    }
    return this;
  }

  /** The intervals in time order, with per-second rates. */
  points(): TimeSeriesPoint[] {
    const perSec = 1000 / this.intervalMs;
    return this.#sent.map((sent, i) => {
      const received = this.#received[i]!;
      return {
        offsetMs: i * this.intervalMs,
        sent,
        received,
        sentPerSec: sent * perSec,
        receivedPerSec: received * perSec,
      };
    });
  }

  /** JSON-safe state for IPC and the result file. */
  toJSON(): TimeSeriesSnapshot {
    return {
      intervalMs: this.intervalMs,
      originMs: this.#originMs,
      sent: [...this.#sent],
      received: [...this.#received],
    };
  }

  #slot(atMs: number): number {
    if (!Number.isFinite(atMs)) throw new RangeError(`timestamp must be finite, got ${atMs}`);
    return this.#ensureIndex(Math.floor((atMs - this.#originMs) / this.intervalMs));
  }

  /** Grows the arrays so `index` exists (prepending and moving the origin for negative ones). */
  #ensureIndex(index: number): number {
    const needed = index < 0 ? this.#sent.length - index : Math.max(this.#sent.length, index + 1);
    if (needed > MAX_BUCKETS) throw new RangeError(`time series would exceed ${MAX_BUCKETS} buckets`);
    if (index < 0) {
      const zeros = new Array<number>(-index).fill(0);
      this.#sent = [...zeros, ...this.#sent];
      this.#received = [...zeros, ...this.#received];
      this.#originMs += index * this.intervalMs;
      return 0;
    }
    while (this.#sent.length <= index) {
      this.#sent.push(0);
      this.#received.push(0);
    }
    return index;
  }
}
