import type { AgentRunOptions } from './agent/agent-fleet.js';
import type { ConnectionSettings, PublishScenario, Scenario } from './scenarios/common.js';

/** Options of a `Bench` (bench.ts). */
export interface BenchOptions {
  readonly scenario: Scenario;
  /** Broker connection; without `url` (or `urls`) an embedded Starling broker is started for the run. */
  readonly connection: Omit<ConnectionSettings, 'url'> & { readonly url?: string };
  /** Generator processes of the whole run (spread over the agents when there are agents). Default 1, or one per agent. */
  readonly processes?: number;
  /** Stop after this long (a normal end for time-bounded runs). */
  readonly durationMs?: number;
  /** Global bound on the whole run, default 10 minutes. */
  readonly timeoutMs?: number;
  /** Subscribe scenario only: also run these publishers (spread over the processes) to measure end to end. */
  readonly publisher?: PublishScenario;
  /** Time series bucket width and live sample interval, default 1000 ms. */
  readonly intervalMs?: number;
  /** How often `progress` is emitted, default 250 ms. */
  readonly progressIntervalMs?: number;
  readonly brokerLabel?: string;
  /** Run on these agents (`starling bench agent`) instead of this machine. */
  readonly agents?: AgentRunOptions;
  /** Keep every latency sample (`Bench.rawLatencyUs`); memory grows with the run, so for tests. */
  readonly recordRawLatency?: boolean;
}
