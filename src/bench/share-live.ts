/**
 * What a share reports while it runs, besides its counters: the latency samples recorded since the last
 * report (an interval histogram, so live figures are percentiles of that interval, merged exactly across
 * processes and agents), and for tests every raw sample, so a merged result can be checked against one
 * histogram built from all of them.
 */
import { LatencyHistogram } from './histogram.js';
import type { LatencySampleSink } from './result-builder.js';

/** Collects a share's latency samples between two reports. */
export class ShareLatencySink implements LatencySampleSink {
  readonly #interval = new LatencyHistogram();
  /** Every sample in recording order when the task asked for raw samples; undefined otherwise. */
  readonly raw: number[] | undefined;

  /** A sink; `keepRaw` also keeps every sample (memory grows with the run: for tests and small runs). */
  constructor(keepRaw = false) {
    this.raw = keepRaw ? [] : undefined;
  }

  /** Takes one sample, microseconds. */
  record(latencyUs: number): void {
    this.#interval.record(latencyUs);
    this.raw?.push(latencyUs);
  }

  /** Samples since the last drain. */
  get pending(): number {
    return this.#interval.count;
  }

  /** The samples since the last drain, encoded for IPC; undefined when there were none. */
  drainEncoded(): string | undefined {
    if (this.#interval.count === 0) return undefined;
    const encoded = this.#interval.encode();
    this.#interval.reset();
    return encoded;
  }

  /** Adds the samples since the last drain to `target` (same process: no encoding). */
  drainInto(target: LatencyHistogram): void {
    if (this.#interval.count === 0) return;
    target.merge(this.#interval);
    this.#interval.reset();
  }
}
