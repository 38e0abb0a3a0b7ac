/**
 * mqtt-stresser's throughput figures, computed the way it computes them, next to the true aggregate.
 *
 * How mqtt-stresser measures (inovex/mqtt-stresser, worker.go and report.go): each worker publishes all its
 * messages, then starts a second clock and drains its subscriber. Its publish rate is
 * `published / publishSeconds`; its receive rate is `received / secondsFromEndOfPublishingToLastReceive`,
 * so messages that arrived while publishing count without their time, which inflates receive rates. The
 * per-worker rates are sorted; "fastest" is the largest, "slowest" the smallest and "median" the mean of
 * the two middle entries `(s[floor((n-1)/2)] + s[floor(n/2)]) / 2`. None of these is the broker's
 * throughput: that is total delivered over the wall clock of the whole run, given as `aggregate`.
 */

/** One phase of one client: how many messages, between which two instants (ms, any common clock). */
export interface PhaseTiming {
  readonly count: number;
  readonly startMs: number;
  readonly endMs: number;
}

/** What one client did in an mqtt-stresser style run. */
export interface StresserClientTiming {
  readonly publish: PhaseTiming;
  /** By mqtt-stresser's rules this phase starts when publishing ends. */
  readonly receive: PhaseTiming;
  /** A client that failed (connect, subscribe, timeout) is left out of the rates, as mqtt-stresser does. */
  readonly failed?: boolean;
}

/** Fastest, median and slowest per-client rate, msg/s. */
export interface RateSpread {
  readonly fastest: number;
  readonly median: number;
  readonly slowest: number;
}

/** The true throughput of the whole run. */
export interface AggregateThroughput {
  readonly published: number;
  readonly delivered: number;
  /** From the first publish start to the last receive end (or the wall clock given). */
  readonly wallClockMs: number;
  /** delivered / wall clock seconds. */
  readonly deliveredPerSec: number;
  /** published / wall clock seconds. */
  readonly publishedPerSec: number;
}

/** mqtt-stresser's two tables plus the true aggregate. */
export interface StresserFigures {
  /** Per-client publish rates of the clients counted, in input order. */
  readonly publishRates: readonly number[];
  /** Per-client receive rates of the clients counted, in input order. */
  readonly receiveRates: readonly number[];
  readonly publish: RateSpread;
  readonly receive: RateSpread;
  readonly aggregate: AggregateThroughput;
}

/** Rate as Go computes `float64(n) / d.Seconds()`: a zero duration gives +Inf (or NaN for 0/0). */
export function stresserRate(phase: PhaseTiming): number {
  return phase.count / ((phase.endMs - phase.startMs) / 1000);
}

/**
 * mqtt-stresser's median of an ascending list: the mean of the two middle entries (the single middle one
 * when the length is odd). NaN for an empty list.
 */
export function stresserMedian(sortedAscending: readonly number[]): number {
  const n = sortedAscending.length;
  if (n === 0) return Number.NaN;
  return (sortedAscending[Math.floor((n - 1) / 2)]! + sortedAscending[Math.floor(n / 2)]!) / 2;
}

/** Ascending order with NaN first, as Go's sort.Float64s orders it. */
function goSortAscending(values: readonly number[]): number[] {
  return [...values].sort((a, b) => {
    if (Number.isNaN(a)) return Number.isNaN(b) ? 0 : -1;
    if (Number.isNaN(b)) return 1;
    return a - b;
  });
}

/** Fastest / median / slowest of per-client rates; all NaN when there are none. */
export function rateSpread(rates: readonly number[]): RateSpread {
  if (rates.length === 0) return { fastest: Number.NaN, median: Number.NaN, slowest: Number.NaN };
  const sorted = goSortAscending(rates);
  return { fastest: sorted[sorted.length - 1]!, median: stresserMedian(sorted), slowest: sorted[0]! };
}

/**
 * Computes mqtt-stresser's figures for the clients and the true aggregate. `wallClock` overrides the span
 * of the run when the runner measured it itself (it should include connection set-up if that is part of
 * what is being compared). Failed clients count in the aggregate totals (their messages did go through the
 * broker) but not in the rates.
 */
export function stresserFigures(
  clients: readonly StresserClientTiming[],
  wallClock?: { readonly startMs: number; readonly endMs: number },
): StresserFigures {
  const counted = clients.filter((client) => client.failed !== true);
  const publishRates = counted.map((client) => stresserRate(client.publish));
  const receiveRates = counted.map((client) => stresserRate(client.receive));

  let published = 0;
  let delivered = 0;
  let firstStart = Number.POSITIVE_INFINITY;
  let lastEnd = Number.NEGATIVE_INFINITY;
  for (const client of clients) {
    published += client.publish.count;
    delivered += client.receive.count;
    firstStart = Math.min(firstStart, client.publish.startMs, client.receive.startMs);
    lastEnd = Math.max(lastEnd, client.publish.endMs, client.receive.endMs);
  }
  const wallClockMs = wallClock
    ? wallClock.endMs - wallClock.startMs
    : clients.length > 0
      ? lastEnd - firstStart
      : 0;
  const seconds = wallClockMs / 1000;
  return {
    publishRates,
    receiveRates,
    publish: rateSpread(publishRates),
    receive: rateSpread(receiveRates),
    aggregate: {
      published,
      delivered,
      wallClockMs,
      deliveredPerSec: seconds > 0 ? delivered / seconds : Number.NaN,
      publishedPerSec: seconds > 0 ? published / seconds : Number.NaN,
    },
  };
}
