/**
 * The end-to-end latencies of one benchmark run. With a warm-up, the latencies of messages sent before
 * `measuredFrom` are kept apart: left out of p50/p99, counted in the whole run's p99.
 */
export class LatencySamples {
  private readonly measured: Float64Array;
  private count = 0;
  private readonly warm: Float64Array;
  private warmCount = 0;
  /** Messages stamped before this (generator clock, ms) are the warm-up's; none until it is set. */
  measuredFrom = Number.POSITIVE_INFINITY;

  constructor(
    capacity: number,
    private readonly warmup: boolean,
  ) {
    this.measured = new Float64Array(capacity);
    this.warm = new Float64Array(warmup ? capacity : 0);
  }

  /** A message stamped `stampMs` arrived at `nowMs`. Beyond the capacity, samples are not kept. */
  add(stampMs: number, nowMs: number): void {
    if (this.warmup && stampMs < this.measuredFrom) {
      if (this.warmCount < this.warm.length) this.warm[this.warmCount++] = nowMs - stampMs;
    } else if (this.count < this.measured.length) this.measured[this.count++] = nowMs - stampMs;
  }

  summary(): { p50Ms: number; p99Ms: number; p99WholeRunMs?: number } {
    const sorted = this.measured.slice(0, this.count).sort();
    const result = { p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99) };
    if (!this.warmup) return result;
    const whole = new Float64Array(this.count + this.warmCount);
    whole.set(sorted);
    whole.set(this.warm.subarray(0, this.warmCount), this.count);
    return { ...result, p99WholeRunMs: percentile(whole.sort(), 99) };
  }
}

/** Value at percentile p (0..100) of sorted samples; NaN when empty. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}
