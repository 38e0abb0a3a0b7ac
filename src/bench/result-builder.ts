/**
 * Turns what a runner collected (per-client rows, the merged latency histogram, the merged time series,
 * CPU samples) into a {@link BenchResult}, computing every aggregate in one place so that all reports agree.
 */
import {
  type AgentSummary,
  BENCH_RESULT_FORMAT,
  type BenchConfig,
  type BenchResult,
  type BenchScenario,
  type ClientResult,
  type CrossAgentLatencySummary,
  type DeliveryTotals,
  type GeneratorUsage,
  type LatencySummary,
} from './bench-result.js';
import { BucketScale, LatencyHistogram } from './histogram.js';
import {
  pooled,
  RunningStats,
  type RunningStatsSnapshot,
  type SummaryFigures,
  simpleAverage,
} from './stats.js';
import { type StresserClientTiming, stresserFigures } from './stresser-figures.js';
import { ThroughputTimeSeries, type TimeSeriesSnapshot } from './timeseries.js';

/** Something that wants to see every latency sample as it is recorded, in microseconds. */
export interface LatencySampleSink {
  record(latencyUs: number): void;
}

/** JSON-safe state of a {@link ClientLatencyRecorder}, for a worker process to send to the coordinator. */
export interface ClientLatencySnapshot {
  readonly statsMs: RunningStatsSnapshot;
  readonly histogramUs: string;
}

/**
 * Per-client latency recording: exact mean/stddev/min/max (in ms, as reports print them) plus the HDR
 * histogram (in us) that percentiles and the merged run histogram come from.
 */
export class ClientLatencyRecorder {
  readonly statsMs = new RunningStats();
  readonly histogram = new LatencyHistogram();
  readonly #sink: LatencySampleSink | undefined;

  /** A recorder; `sink` also sees every sample (the share's interval histogram for live figures). */
  constructor(sink?: LatencySampleSink) {
    this.#sink = sink;
  }

  /** Rebuilds a recorder sent by another process. */
  static fromJSON(snapshot: ClientLatencySnapshot): ClientLatencyRecorder {
    const recorder = new ClientLatencyRecorder();
    recorder.statsMs.merge(snapshot.statsMs);
    recorder.histogram.merge(LatencyHistogram.decode(snapshot.histogramUs));
    return recorder;
  }

  /** Records one message's latency in microseconds. */
  record(latencyUs: number): void {
    this.histogram.record(latencyUs);
    this.statsMs.push(latencyUs / 1000);
    this.#sink?.record(latencyUs);
  }

  /** The figures for this client's {@link ClientResult.timingMs}. */
  timingMs(): SummaryFigures {
    return this.statsMs.summary();
  }

  /** JSON-safe state for IPC. */
  toJSON(): ClientLatencySnapshot {
    return { statsMs: this.statsMs.toJSON(), histogramUs: this.histogram.encode() };
  }
}

/** CPU time of one generator process as `process.cpuUsage()` reports it (microseconds). */
export interface CpuSample {
  readonly user: number;
  readonly system: number;
}

/** Sums the CPU used by the generator's processes over `wallClockMs` (each sample a delta for the run). */
export function generatorUsage(
  samples: readonly CpuSample[],
  wallClockMs: number,
  peakRssBytes?: number,
): GeneratorUsage {
  let userUs = 0;
  let systemUs = 0;
  for (const sample of samples) {
    userUs += sample.user;
    systemUs += sample.system;
  }
  const cpuMs = (userUs + systemUs) / 1000;
  return {
    processes: samples.length,
    cpuUserMs: userUs / 1000,
    cpuSystemMs: systemUs / 1000,
    wallClockMs,
    cpuPercentOfOneCore: wallClockMs > 0 ? (cpuMs / wallClockMs) * 100 : Number.NaN,
    ...(peakRssBytes === undefined ? {} : { peakRssBytes }),
  };
}

/** What a runner hands over at the end of a run. */
export interface BenchRunData {
  readonly scenario: BenchScenario;
  readonly startedAt: Date | string;
  readonly config: BenchConfig;
  readonly clients: readonly ClientResult[];
  /** From the first connect to the last completion, ms. */
  readonly wallClockMs: number;
  /** All clients' latencies merged, microseconds. */
  readonly latencyHistogram?: LatencyHistogram;
  readonly timeseries?: ThroughputTimeSeries | TimeSeriesSnapshot;
  readonly generator?: GeneratorUsage;
  /** Bars in the latency histogram; 20 by default. */
  readonly histogramBuckets?: number;
  /** Spacing of the histogram bars; log by default (latency tails are long). */
  readonly bucketScale?: BucketScale;
  /** Subscribe scenario: delivery accounting, copied to the result as is. */
  readonly delivery?: DeliveryTotals;
  /** Distributed runs: per-agent figures and cross-agent latency, copied as they are. */
  readonly agents?: readonly AgentSummary[];
  readonly crossAgentLatency?: CrossAgentLatencySummary;
}

const usToMs = (us: number): number => us / 1000;

/** Percentiles, curve and bars of the merged histogram; null when it is empty. */
export function summariseLatency(
  histogram: LatencyHistogram,
  bucketCount = 20,
  bucketScale: BucketScale = BucketScale.Log,
): LatencySummary | null {
  if (histogram.count === 0) return null;
  return {
    count: histogram.count,
    p50Ms: usToMs(histogram.percentile(50)),
    p90Ms: usToMs(histogram.percentile(90)),
    p99Ms: usToMs(histogram.percentile(99)),
    p999Ms: usToMs(histogram.percentile(99.9)),
    maxMs: usToMs(histogram.max),
    curve: histogram
      .percentileCurve(4, 10)
      .map((point) => ({ percentile: point.percentile, valueMs: usToMs(point.valueUs) })),
    bucketScale,
    buckets: histogram
      .buckets(bucketCount, bucketScale)
      .map((bucket) => ({ lowMs: usToMs(bucket.lowUs), highMs: usToMs(bucket.highUs), count: bucket.count })),
    histogramUs: histogram.encode(),
  };
}

function stresserTimings(clients: readonly ClientResult[]): StresserClientTiming[] | undefined {
  const timings: StresserClientTiming[] = [];
  for (const client of clients) {
    if (client.publish && client.receive) {
      timings.push({ publish: client.publish, receive: client.receive, failed: client.failed === true });
    } else if (client.failed !== true) {
      return undefined;
    }
  }
  return timings.length > 0 ? timings : undefined;
}

/** Assembles the result; every aggregate figure is computed here. */
export function buildBenchResult(data: BenchRunData): BenchResult {
  const completed = data.clients.filter((client) => client.timingMs.count > 0);
  let messagesOk = 0;
  let messagesTotal = 0;
  for (const client of data.clients) {
    messagesOk += client.messagesOk;
    messagesTotal += client.messagesTotal;
  }
  const seconds = data.wallClockMs / 1000;
  const timings = stresserTimings(data.clients);
  const timeseries =
    data.timeseries === undefined
      ? null
      : data.timeseries instanceof ThroughputTimeSeries
        ? data.timeseries.toJSON()
        : data.timeseries;
  return {
    format: BENCH_RESULT_FORMAT,
    scenario: data.scenario,
    startedAt: typeof data.startedAt === 'string' ? data.startedAt : data.startedAt.toISOString(),
    config: data.config,
    clients: data.clients,
    aggregate: {
      messagesOk,
      messagesTotal,
      wallClockMs: data.wallClockMs,
      throughputMsgsPerSec: seconds > 0 ? messagesOk / seconds : Number.NaN,
      timingMs: pooled(completed.map((client) => client.timingMs)),
      simpleAverageMs: simpleAverage(completed.map((client) => client.timingMs)),
      ...(timings === undefined ? {} : { stresser: stresserFigures(timings) }),
    },
    latency: data.latencyHistogram
      ? summariseLatency(data.latencyHistogram, data.histogramBuckets, data.bucketScale)
      : null,
    timeseries,
    generator: data.generator ?? null,
    ...(data.delivery === undefined ? {} : { delivery: data.delivery }),
    ...(data.agents === undefined ? {} : { agents: data.agents }),
    ...(data.crossAgentLatency === undefined ? {} : { crossAgentLatency: data.crossAgentLatency }),
  };
}
