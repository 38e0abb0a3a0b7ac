/**
 * How far an agent's clock is from the controller's, NTP style. One exchange gives four timestamps: t1 the
 * controller sends, t2 the agent receives, t3 the agent answers, t4 the controller receives (t1, t4 on the
 * controller's clock, t2, t3 on the agent's). Then
 *
 *   offset = ((t2 - t1) + (t3 - t4)) / 2      (agent clock - controller clock)
 *   delay  = (t4 - t1) - (t3 - t2)            (time on the wire, both ways)
 *
 * and whatever the split of the delay between the two directions, the true offset lies within
 * offset +- delay / 2. The exchange with the lowest delay is therefore the best one; the estimator keeps
 * it, among the exchanges of a recent window so that a drifting clock is followed during a long run.
 */

/** One time exchange. */
export interface TimeSample {
  readonly t1: number;
  readonly t2: number;
  readonly t3: number;
  readonly t4: number;
}

/** An offset estimate: the true offset is within `offsetMs +- uncertaintyMs`. */
export interface ClockEstimate {
  readonly offsetMs: number;
  readonly uncertaintyMs: number;
  /** Round trip of the exchange it came from, ms. */
  readonly delayMs: number;
  /** Exchanges it was chosen from. */
  readonly samples: number;
}

/** Offset and delay of one exchange. */
export function exchangeFigures(sample: TimeSample): { offsetMs: number; delayMs: number } {
  const offsetMs = (sample.t2 - sample.t1 + (sample.t3 - sample.t4)) / 2;
  // A negative delay can only come from clock steps during the exchange; it counts as no delay at all.
  const delayMs = Math.max(0, sample.t4 - sample.t1 - (sample.t3 - sample.t2));
  return { offsetMs, delayMs };
}

interface Kept {
  readonly atMs: number;
  readonly offsetMs: number;
  readonly delayMs: number;
}

/** Keeps the exchanges of one agent and picks the best one of a recent window. */
export class ClockEstimator {
  readonly #windowMs: number;
  #kept: Kept[] = [];

  /** An estimator that forgets exchanges older than `windowMs` (default one minute) once newer ones exist. */
  constructor(windowMs = 60_000) {
    this.#windowMs = windowMs;
  }

  /** Adds one exchange. */
  add(sample: TimeSample): void {
    const { offsetMs, delayMs } = exchangeFigures(sample);
    this.#kept.push({ atMs: sample.t4, offsetMs, delayMs });
    const cutoff = sample.t4 - this.#windowMs;
    // Always keep a few, so a pause in exchanges never leaves the estimator empty.
    if (this.#kept.length > 8)
      this.#kept = this.#kept.filter((kept, i, all) => kept.atMs >= cutoff || i >= all.length - 8);
  }

  /** The estimate from the lowest-delay exchange kept; undefined before the first exchange. */
  estimate(): ClockEstimate | undefined {
    let best: Kept | undefined;
    for (const kept of this.#kept) if (best === undefined || kept.delayMs < best.delayMs) best = kept;
    if (best === undefined) return undefined;
    return {
      offsetMs: best.offsetMs,
      uncertaintyMs: best.delayMs / 2,
      delayMs: best.delayMs,
      samples: this.#kept.length,
    };
  }
}
