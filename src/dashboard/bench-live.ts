/**
 * What a load run streams to its live dashboard. Imports nothing, so the page bundle shares these types.
 */

/** One agent (or the local process) of a run: in a sample, what it did in that interval. */
export interface BenchLiveAgentRow {
  readonly name: string;
  readonly sent: number;
  readonly received: number;
  readonly errors: number;
  readonly connected: number;
  readonly state: 'running' | 'done' | 'lost';
}

/**
 * One interval of a run. `sent`, `received` and `errors` count what happened within this interval
 * (`intervalMs` long, ending at `at`), so the rate is `sent * 1000 / intervalMs`; `connected` is the level
 * at `at`; `latencyMs` covers the messages received in the interval (undefined when none were). The agent
 * rows split the interval's counts by agent (they add up to the sample's).
 */
export interface BenchLiveSample {
  /** End of the interval, ms since the epoch. */
  readonly at: number;
  /** Since the run started, ms. */
  readonly elapsedMs: number;
  readonly intervalMs: number;
  readonly sent: number;
  readonly received: number;
  readonly errors: number;
  readonly connected: number;
  readonly latencyMs:
    | {
        readonly p50: number;
        readonly p90: number;
        readonly p99: number;
        readonly p999: number;
        readonly max: number;
      }
    | undefined;
  readonly agents: readonly BenchLiveAgentRow[];
}

/** The curves of a run, one value per sample each; latency values are null where a sample had none. */
export interface BenchHistory {
  readonly elapsedS: readonly number[];
  readonly sentPerS: readonly number[];
  readonly receivedPerS: readonly number[];
  readonly errorsPerS: readonly number[];
  readonly connected: readonly number[];
  readonly p50: readonly (number | null)[];
  readonly p90: readonly (number | null)[];
  readonly p99: readonly (number | null)[];
  readonly p999: readonly (number | null)[];
  readonly max: readonly (number | null)[];
}

/** What the bench page gets when it connects, then after every sample. */
export interface BenchState {
  readonly title: string;
  readonly startedAt: number | undefined;
  readonly totals: { readonly sent: number; readonly received: number; readonly errors: number };
  readonly latest: BenchLiveSample | undefined;
  /** Each agent's totals since the start (connected and state: as last reported). */
  readonly agents: readonly BenchLiveAgentRow[];
  /** Set once the run is over: the summary text (may be empty). */
  readonly finished: { readonly summary: string } | undefined;
}
