/**
 * Running statistics for the load toolkit: single-pass mean/variance (Welford), exact pooling across clients
 * and processes (Chan et al.), and a faithful copy of mqtt-malaria's "simple avg" aggregate so reports can
 * show both and make the difference visible.
 */

/** Plain, JSON-safe state of a {@link RunningStats}, for shipping between processes. */
export interface RunningStatsSnapshot {
  readonly count: number;
  readonly mean: number;
  /** Sum of squared deviations from the mean (Welford's M2). */
  readonly m2: number;
  /** Smallest value pushed; `null` while empty (JSON has no Infinity). */
  readonly min: number | null;
  /** Largest value pushed; `null` while empty. */
  readonly max: number | null;
}

/**
 * The five figures a timing report prints. `stddev` is the population standard deviation (divide by n),
 * the same definition mqtt-malaria uses (`sqrt(sum(squares) / len(times))` in beem/load.py).
 * An empty set has count 0 and NaN figures.
 */
export interface SummaryFigures {
  readonly count: number;
  readonly mean: number;
  readonly stddev: number;
  readonly min: number;
  readonly max: number;
}

/** The per-client figures mqtt-malaria's aggregate looks at (it never sees the raw samples). */
export type TimingFigures = Pick<SummaryFigures, 'mean' | 'stddev' | 'min' | 'max'>;

/**
 * Mean, variance, min and max in one pass and O(1) memory. Welford's update avoids the cancellation of the
 * naive sum-of-squares formula when latencies are large and close together.
 */
export class RunningStats {
  #count = 0;
  #mean = 0;
  #m2 = 0;
  #min = Number.POSITIVE_INFINITY;
  #max = Number.NEGATIVE_INFINITY;

  /** Builds the statistics of `values` in one pass. */
  static of(values: Iterable<number>): RunningStats {
    const stats = new RunningStats();
    for (const value of values) stats.push(value);
    return stats;
  }

  /** Rebuilds statistics received from another process; rejects snapshots that cannot be real. */
  static fromJSON(snapshot: RunningStatsSnapshot): RunningStats {
    const { count, mean, m2, min, max } = snapshot;
    if (!Number.isInteger(count) || count < 0) throw new RangeError(`invalid count ${count}`);
    const stats = new RunningStats();
    if (count === 0) return stats;
    if (
      !Number.isFinite(mean) ||
      !Number.isFinite(m2) ||
      m2 < 0 ||
      min === null ||
      max === null ||
      min > max
    ) {
      throw new RangeError('invalid RunningStats snapshot');
    }
    stats.#count = count;
    stats.#mean = mean;
    stats.#m2 = m2;
    stats.#min = min;
    stats.#max = max;
    return stats;
  }

  /** Number of values pushed (or merged in). */
  get count(): number {
    return this.#count;
  }

  /** Arithmetic mean; NaN while empty. */
  get mean(): number {
    return this.#count === 0 ? Number.NaN : this.#mean;
  }

  /** Sum of squared deviations from the mean. */
  get m2(): number {
    return this.#m2;
  }

  /** Smallest value; NaN while empty. */
  get min(): number {
    return this.#count === 0 ? Number.NaN : this.#min;
  }

  /** Largest value; NaN while empty. */
  get max(): number {
    return this.#count === 0 ? Number.NaN : this.#max;
  }

  /** Population variance (divide by n); NaN while empty. */
  get variance(): number {
    return this.#count === 0 ? Number.NaN : this.#m2 / this.#count;
  }

  /** Sample variance (divide by n - 1); NaN below two values. */
  get sampleVariance(): number {
    return this.#count < 2 ? Number.NaN : this.#m2 / (this.#count - 1);
  }

  /** Population standard deviation, as mqtt-malaria reports it. */
  get stddev(): number {
    return Math.sqrt(this.variance);
  }

  /** Adds one value. Non-finite values are refused: one NaN would silently poison every figure. */
  push(value: number): void {
    if (!Number.isFinite(value)) throw new RangeError(`cannot record non-finite value ${value}`);
    this.#count += 1;
    const delta = value - this.#mean;
    this.#mean += delta / this.#count;
    this.#m2 += delta * (value - this.#mean);
    if (value < this.#min) this.#min = value;
    if (value > this.#max) this.#max = value;
  }

  /**
   * Folds another set of statistics into this one, as if every value had been pushed here. Uses the
   * pairwise combination of Chan, Golub and LeVeque: M2 = M2a + M2b + delta^2 * na * nb / n.
   */
  merge(other: RunningStats | RunningStatsSnapshot): this {
    const source = other instanceof RunningStats ? other : RunningStats.fromJSON(other);
    const otherCount = source.#count;
    if (otherCount === 0) return this;
    if (this.#count === 0) {
      this.#count = otherCount;
      this.#mean = source.#mean;
      this.#m2 = source.#m2;
      this.#min = source.#min;
      this.#max = source.#max;
      return this;
    }
    const total = this.#count + otherCount;
    const delta = source.#mean - this.#mean;
    this.#mean += (delta * otherCount) / total;
    this.#m2 += source.#m2 + (delta * delta * this.#count * otherCount) / total;
    this.#count = total;
    if (source.#min < this.#min) this.#min = source.#min;
    if (source.#max > this.#max) this.#max = source.#max;
    return this;
  }

  /** The figures a report prints. */
  summary(): SummaryFigures {
    return { count: this.count, mean: this.mean, stddev: this.stddev, min: this.min, max: this.max };
  }

  /** JSON-safe state for IPC; {@link RunningStats.fromJSON} reverses it exactly. */
  toJSON(): RunningStatsSnapshot {
    const empty = this.#count === 0;
    return {
      count: this.#count,
      mean: this.#mean,
      m2: this.#m2,
      min: empty ? null : this.#min,
      max: empty ? null : this.#max,
    };
  }
}

/** Summary figures carry count, mean and population stddev, which is all pooling needs. */
function toRunningStats(input: RunningStats | RunningStatsSnapshot | SummaryFigures): RunningStats {
  if (input instanceof RunningStats) return input;
  if ('m2' in input) return RunningStats.fromJSON(input);
  if (input.count === 0) return new RunningStats();
  return RunningStats.fromJSON({
    count: input.count,
    mean: input.mean,
    m2: input.stddev * input.stddev * input.count,
    min: input.min,
    max: input.max,
  });
}

/**
 * The correct aggregate over several clients: the figures of the union of all their samples. The mean is
 * weighted by each client's count, the stddev includes the spread between client means, and min and max
 * are the true extremes.
 */
export function pooled(
  stats: readonly (RunningStats | RunningStatsSnapshot | SummaryFigures)[],
): SummaryFigures {
  const total = new RunningStats();
  for (const entry of stats) total.merge(toRunningStats(entry));
  return total.summary();
}

/**
 * mqtt-malaria's "Aggregate stats (simple avg)" reproduced exactly (beem/__init__.py
 * `aggregate_publish_stats`): the unweighted mean of the per-client means, of the stddevs, of the minimums
 * and of the maximums. It is wrong as a description of the whole run (a 10-message client weighs as much as
 * a 10 000-message one, and the "min" is no sample's value); it exists so reports can show it side by side
 * with {@link pooled}. `count` is the summed count when every input has one, else NaN.
 */
export function simpleAverage(
  figures: readonly (TimingFigures & { readonly count?: number })[],
): SummaryFigures {
  const n = figures.length;
  if (n === 0) return { count: 0, mean: Number.NaN, stddev: Number.NaN, min: Number.NaN, max: Number.NaN };
  let mean = 0;
  let stddev = 0;
  let min = 0;
  let max = 0;
  let count = 0;
  for (const entry of figures) {
    mean += entry.mean;
    stddev += entry.stddev;
    min += entry.min;
    max += entry.max;
    count += entry.count ?? Number.NaN;
  }
  return { count, mean: mean / n, stddev: stddev / n, min: min / n, max: max / n };
}
