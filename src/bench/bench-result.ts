/**
 * The one result shape of a `starling bench` run. Runners produce it, every report (text, CSV, HTML, the
 * compare table) reads it, and it is what `--json` writes so that `bench compare` can read runs back.
 * Latencies are milliseconds (as mqtt-malaria prints them) except the encoded histogram, which is integer
 * microseconds.
 */
import type { BucketScale } from './histogram.js';
import type { SummaryFigures } from './stats.js';
import type { PhaseTiming, StresserFigures } from './stresser-figures.js';
import type { TimeSeriesSnapshot } from './timeseries.js';

/** Marks the JSON as a Starling bench result of this layout; bump on incompatible changes. */
export const BENCH_RESULT_FORMAT = 'starling-bench-result/1';

/** The bench scenarios that produce a result. */
export const BenchScenario = {
  Publish: 'publish',
  Subscribe: 'subscribe',
  Keepalive: 'keepalive',
  Stress: 'stress',
  FanOut: 'fan-out',
  FanIn: 'fan-in',
} as const;
/** One of the {@link BenchScenario} values. */
export type BenchScenario = (typeof BenchScenario)[keyof typeof BenchScenario];

/** What was run against what. */
export interface BenchConfig {
  /** Where the load went, e.g. `mqtt://127.0.0.1:1883`. */
  readonly brokerUrl: string;
  /** Human label for tables, e.g. `Mosquitto 2.0.11`; the URL is used when absent. */
  readonly brokerLabel?: string;
  readonly clients: number;
  readonly messagesPerClient?: number;
  readonly payloadBytes?: number;
  readonly qos?: 0 | 1 | 2;
  /** 3 = MQTT 3.1, 4 = 3.1.1, 5 = 5.0. */
  readonly protocolVersion?: 3 | 4 | 5;
  readonly durationMs?: number;
  /** Scenario-specific settings worth keeping with the numbers. */
  readonly options?: Readonly<Record<string, string | number | boolean>>;
}

/** One client's row, mqtt-malaria's per-client block plus mqtt-stresser's phase timings. */
export interface ClientResult {
  readonly clientId: string;
  /** Messages that completed (acknowledged or received). */
  readonly messagesOk: number;
  /** Messages attempted. */
  readonly messagesTotal: number;
  /** Latency figures of the completed messages, ms; population stddev. */
  readonly timingMs: SummaryFigures;
  /** Publishing phase, for mqtt-stresser figures. */
  readonly publish?: PhaseTiming;
  /** Receiving phase (starting when publishing ended), for mqtt-stresser figures. */
  readonly receive?: PhaseTiming;
  /** True when the client failed (connect, subscribe, timeout); it is left out of the rates. */
  readonly failed?: boolean;
  readonly error?: string;
  /** Distributed runs: the agent the client ran on. */
  readonly agent?: string;
}

/** One bar of the latency histogram, ms. */
export interface LatencyBucket {
  readonly lowMs: number;
  readonly highMs: number;
  readonly count: number;
}

/** One point of the percentile curve. */
export interface LatencyPercentile {
  /** 0..100 */
  readonly percentile: number;
  readonly valueMs: number;
}

/** Latency distribution of all completed messages of the run, from the merged HDR histogram. */
export interface LatencySummary {
  readonly count: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  /** Percentile curve from 0 to 99.99 % with points spaced evenly on a log axis of nines. */
  readonly curve: readonly LatencyPercentile[];
  readonly bucketScale: BucketScale;
  readonly buckets: readonly LatencyBucket[];
  /** The merged histogram, HdrHistogram compressed base64 of integer microseconds. */
  readonly histogramUs: string;
}

/** Whole-run figures. */
export interface BenchAggregate {
  readonly messagesOk: number;
  readonly messagesTotal: number;
  /** From the first connect to the last completion, ms. */
  readonly wallClockMs: number;
  /** messagesOk / wall clock: the one honest throughput figure. */
  readonly throughputMsgsPerSec: number;
  /** Figures of the union of all clients' samples (the correct aggregate), ms. */
  readonly timingMs: SummaryFigures;
  /** mqtt-malaria's "simple avg" of per-client figures (kept for comparison; misleading), ms. */
  readonly simpleAverageMs: SummaryFigures;
  /** mqtt-stresser's figures, present when every counted client has publish and receive phases. */
  readonly stresser?: StresserFigures;
}

/** What generating the load cost the load generator (all its processes together). */
export interface GeneratorUsage {
  readonly processes: number;
  readonly cpuUserMs: number;
  readonly cpuSystemMs: number;
  readonly wallClockMs: number;
  /** (user + system) / wall clock * 100: 100 means one core fully busy. */
  readonly cpuPercentOfOneCore: number;
  readonly peakRssBytes?: number;
}

/**
 * What the subscribers of `bench subscribe` received, summed over every (subscriber, publisher) pair and
 * accounted from the sequence numbers in the payloads.
 */
export interface DeliveryTotals {
  /** Distinct (subscriber, publisher) streams seen. */
  readonly streams: number;
  /** Every arrival, duplicates included. */
  readonly received: number;
  /** Distinct sequence numbers received. */
  readonly unique: number;
  /** Messages sent (when the publisher count is known) or numbered below the highest seen, never received. */
  readonly missing: number;
  /** Arrivals of a sequence number already received. */
  readonly duplicated: number;
  /** First arrivals of a number lower than one already received from the same publisher. */
  readonly outOfOrder: number;
  /** Messages on the subscribed topics that were not bench payloads. */
  readonly foreign: number;
}

/** One agent of a distributed run and what its part did. Figures that do not exist are NaN (null in JSON). */
export interface AgentSummary {
  /** How the controller reached it, `host:port`. */
  readonly name: string;
  readonly state: 'done' | 'lost';
  /** Why the controller lost it (connection closed, no answer); only when lost. */
  readonly lostReason?: string;
  readonly version: string;
  readonly cores: number;
  /** Generator processes of its part. */
  readonly processes: number;
  /** Connections its part opened (or was to open). */
  readonly connections: number;
  /** Messages (connection attempts for keepalive) its clients sent, and deliveries they received. */
  readonly sent: number;
  readonly received: number;
  /** Failed clients. */
  readonly errors: number;
  /** Latency of its own samples. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly cpuPercentOfOneCore: number;
  /** Sum of its processes' peak RSS. */
  readonly peakRssBytes: number;
  /** Its clock minus the controller's, and the bound on that estimate's error. */
  readonly clockOffsetMs: number;
  readonly clockUncertaintyMs: number;
}

/**
 * End-to-end latency of messages whose publisher and subscriber ran on different agents, corrected by the
 * agents' clock offsets; every figure is uncertain by up to `uncertaintyMs` either way.
 */
export interface CrossAgentLatencySummary {
  readonly count: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly uncertaintyMs: number;
  /** Messages whose publisher was on the subscriber's own agent (one clock, no correction). */
  readonly sameAgentCount: number;
}

/** Everything a bench run produced; see the module comment for units. */
export interface BenchResult {
  readonly format: typeof BENCH_RESULT_FORMAT;
  readonly scenario: BenchScenario;
  /** ISO 8601 start time. */
  readonly startedAt: string;
  readonly config: BenchConfig;
  readonly clients: readonly ClientResult[];
  readonly aggregate: BenchAggregate;
  /** Null when no message completed. */
  readonly latency: LatencySummary | null;
  readonly timeseries: TimeSeriesSnapshot | null;
  readonly generator: GeneratorUsage | null;
  /** Subscribe scenario only: delivery accounting of all subscribers. */
  readonly delivery?: DeliveryTotals;
  /** Distributed runs: one entry per agent, in the order given. */
  readonly agents?: readonly AgentSummary[];
  /** Distributed end-to-end runs: latency between agents, clock-corrected. */
  readonly crossAgentLatency?: CrossAgentLatencySummary;
}
