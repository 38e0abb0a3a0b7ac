/**
 * Latency histogram of the load toolkit: an HdrHistogram (hdr-histogram-js, pure-JS mode) recording whole
 * microseconds from 1 us to 1 h at 3 significant digits, so every percentile is within 0.1 % of the true
 * sample and a histogram costs ~100 KiB whatever the number of samples. Histograms travel between processes
 * as HdrHistogram's compressed base64 and are merged by adding counts, which is exact: the merge of
 * per-process histograms equals the histogram of all samples.
 */
import {
  decodeFromCompressedBase64,
  encodeIntoCompressedBase64,
  Int32Histogram,
  JsHistogram,
} from 'hdr-histogram-js';

/** Smallest value told apart from 0, in microseconds. */
export const LOWEST_DISCERNIBLE_US = 1;
/** Largest recordable latency: one hour in microseconds. Longer samples are recorded as one hour. */
export const HIGHEST_TRACKABLE_US = 3_600_000_000;
/** Decimal digits of precision kept over the whole range. */
export const SIGNIFICANT_DIGITS = 3;

/** How {@link LatencyHistogram.buckets} spaces its bucket edges. */
export const BucketScale = {
  /** Equal widths from min to max: faithful shape, but a long tail squeezes the body into one bar. */
  Linear: 'linear',
  /** Equal ratios from min to max: body and tail both readable. */
  Log: 'log',
} as const;
/** One of the {@link BucketScale} values. */
export type BucketScale = (typeof BucketScale)[keyof typeof BucketScale];

/** One bar of a printable histogram: samples with `lowUs <= value < highUs` (the last bar includes high). */
export interface HistogramBucket {
  readonly lowUs: number;
  readonly highUs: number;
  readonly count: number;
}

/** A point of the percentile curve: `percentile` in 0..100, `valueUs` the latency at or below it. */
export interface PercentilePoint {
  readonly percentile: number;
  readonly valueUs: number;
}

/** Upper bound on {@link LatencyHistogram.buckets}: more bars than pixels helps nobody. */
const MAX_BUCKETS = 10_000;

function newHdr(): JsHistogram {
  const histogram = new Int32Histogram(LOWEST_DISCERNIBLE_US, HIGHEST_TRACKABLE_US, SIGNIFICANT_DIGITS);
  // A fixed range keeps every histogram of a run the same shape, so `add` never reallocates.
  histogram.autoResize = false;
  return histogram;
}

/** Microsecond latency histogram with exact merge and compact serialisation. */
export class LatencyHistogram {
  readonly #hdr: JsHistogram;

  /** An empty histogram. */
  constructor() {
    this.#hdr = newHdr();
  }

  /**
   * Rebuilds a histogram from {@link LatencyHistogram.encode} output (or any HdrHistogram V2 compressed
   * base64 of integer microseconds). Throws RangeError on text that is not one.
   */
  static decode(encoded: string): LatencyHistogram {
    let decoded: unknown;
    try {
      decoded = decodeFromCompressedBase64(encoded, 32, false, HIGHEST_TRACKABLE_US);
    } catch (cause) {
      throw new RangeError('not an encoded HdrHistogram', { cause });
    }
    if (!(decoded instanceof JsHistogram)) throw new RangeError('not an encoded HdrHistogram');
    const result = new LatencyHistogram();
    // Adding into our own fixed-range histogram normalises whatever range the sender used.
    result.#hdr.add(decoded);
    return result;
  }

  /** Number of samples recorded. */
  get count(): number {
    return this.#hdr.totalCount;
  }

  /** Smallest sample (lowest value of its HDR bucket); NaN while empty. */
  get min(): number {
    return this.count === 0 ? Number.NaN : this.#hdr.getValueAtPercentile(0);
  }

  /** Largest sample (highest value of its HDR bucket); NaN while empty. */
  get max(): number {
    return this.count === 0 ? Number.NaN : this.#hdr.getValueAtPercentile(100);
  }

  /** Mean of the samples, within HDR precision; NaN while empty. */
  get mean(): number {
    return this.count === 0 ? Number.NaN : this.#hdr.mean;
  }

  /** Population standard deviation within HDR precision; NaN while empty. */
  get stddev(): number {
    return this.count === 0 ? Number.NaN : this.#hdr.stdDeviation;
  }

  /**
   * Records one latency (or `count` equal ones) in microseconds. Fractions are rounded; values above one
   * hour are recorded as one hour rather than lost, because a dropped outlier would hide the worst case.
   */
  record(us: number, count = 1): void {
    if (!Number.isFinite(us) || us < 0)
      throw new RangeError(`latency must be a finite value >= 0, got ${us}`);
    if (!Number.isInteger(count) || count < 1)
      throw new RangeError(`count must be a positive integer, got ${count}`);
    const value = Math.min(Math.round(us), HIGHEST_TRACKABLE_US);
    if (count === 1) this.#hdr.recordValue(value);
    else this.#hdr.recordValueWithCount(value, count);
  }

  /** Adds every sample of `other` to this histogram. */
  merge(other: LatencyHistogram): this {
    this.#hdr.add(other.#hdr);
    return this;
  }

  /** Forgets every sample (the range stays), so one histogram can collect interval after interval. */
  reset(): this {
    this.#hdr.reset();
    return this;
  }

  /** HdrHistogram V2 compressed base64 of this histogram, for IPC and for the JSON result. */
  encode(): string {
    return encodeIntoCompressedBase64(this.#hdr);
  }

  /**
   * The latency at or below which `p` percent of the samples lie (p in 0..100), reported as the highest
   * value of its HDR bucket as HdrHistogram does; NaN while empty.
   */
  percentile(p: number): number {
    if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be within 0..100, got ${p}`);
    return this.count === 0 ? Number.NaN : this.#hdr.getValueAtPercentile(p);
  }

  /**
   * Points for a percentile curve on a log axis of "nines": 0 %, then `pointsPerNine` points per decade of
   * 1 - p (90 %, 99 %, 99.9 % ... at the decade marks) up to `nines` nines (4 gives 99.99 %).
   */
  percentileCurve(nines = 4, pointsPerNine = 10): PercentilePoint[] {
    if (!Number.isInteger(nines) || nines < 1 || nines > 7) throw new RangeError('nines must be 1..7');
    if (!Number.isInteger(pointsPerNine) || pointsPerNine < 1 || pointsPerNine > 100) {
      throw new RangeError('pointsPerNine must be 1..100');
    }
    if (this.count === 0) return [];
    const points: PercentilePoint[] = [];
    const steps = nines * pointsPerNine;
    for (let step = 0; step <= steps; step++) {
      // Rounded so the decade marks come out as exactly 90, 99, 99.9 rather than 98.99999999.
      const percentile = Number((100 * (1 - 10 ** (-step / pointsPerNine))).toFixed(10));
      points.push({ percentile, valueUs: this.#hdr.getValueAtPercentile(percentile) });
    }
    return points;
  }

  /**
   * Splits [min, max] into `n` bars of equal width (linear) or equal ratio (log) and counts the samples in
   * each. Each HDR bucket is placed by its lowest value, so a bar edge is exact to HDR precision.
   * An empty histogram gives no bars; a single distinct value gives one bar.
   */
  buckets(n: number, scale: BucketScale = BucketScale.Linear): HistogramBucket[] {
    if (!Number.isInteger(n) || n < 1 || n > MAX_BUCKETS)
      throw new RangeError(`bucket count must be 1..${MAX_BUCKETS}`);
    if (this.count === 0) return [];
    const low = this.min;
    const high = this.max;
    if (high <= low) return [{ lowUs: low, highUs: high, count: this.count }];
    const edges = bucketEdges(low, high, n, scale);
    const counts = new Array<number>(n).fill(0);
    const hdr = this.#hdr;
    for (let index = 0; index < hdr.countsArrayLength; index++) {
      const count = hdr.getCountAtIndex(index);
      if (count === 0) continue;
      const value = hdr.valueFromIndex(index);
      counts[findBucket(edges, value)]! += count;
    }
    return counts.map((count, i) => ({ lowUs: edges[i]!, highUs: edges[i + 1]!, count }));
  }
}

function bucketEdges(low: number, high: number, n: number, scale: BucketScale): number[] {
  const edges: number[] = [];
  // A log axis cannot start at 0 us; 1 us is the histogram's resolution anyway.
  const logLow = Math.max(low, LOWEST_DISCERNIBLE_US);
  const ratio = high / logLow;
  for (let i = 0; i <= n; i++) {
    const edge = scale === BucketScale.Log ? logLow * ratio ** (i / n) : low + ((high - low) * i) / n;
    edges.push(edge);
  }
  edges[0] = low;
  edges[n] = high;
  return edges;
}

/** Index of the bar holding `value`: the last edge at or below it, clamped to the bars. */
function findBucket(edges: readonly number[], value: number): number {
  let lo = 0;
  let hi = edges.length - 2;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (edges[mid]! <= value) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
