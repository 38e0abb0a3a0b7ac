/** Shared helpers of the bench tests: a seeded random source and a small but complete BenchResult. */
import type { BenchResult, ClientResult } from '../../src/bench/bench-result.js';
import { BenchScenario } from '../../src/bench/bench-result.js';
import { BucketScale } from '../../src/bench/histogram.js';
import { buildBenchResult, ClientLatencyRecorder, generatorUsage } from '../../src/bench/result-builder.js';
import { ThroughputTimeSeries } from '../../src/bench/timeseries.js';

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32), so failures reproduce. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fails unless |actual - expected| <= tolerance. */
export function assertClose(actual: number, expected: number, tolerance: number, what: string): void {
  if (!(Math.abs(actual - expected) <= tolerance)) {
    throw new Error(`${what}: ${actual} not within ${tolerance} of ${expected}`);
  }
}

/**
 * A run of three clients (one of which failed) with known latencies:
 * fast: 200 messages at 1..200 ms step 1 ms, slow: 20 messages at 500 ms, failed: connect refused.
 */
export function sampleResult(bucketCount = 12): BenchResult {
  const origin = 1_700_000_000_000;
  const series = new ThroughputTimeSeries(origin, 1000);
  const fast = new ClientLatencyRecorder();
  for (let i = 1; i <= 200; i++) {
    fast.record(i * 1000);
    series.recordSent(origin + i * 10);
    series.recordReceived(origin + i * 10 + i);
  }
  const slow = new ClientLatencyRecorder();
  for (let i = 0; i < 20; i++) {
    slow.record(500_000);
    series.recordSent(origin + 2500 + i);
    series.recordReceived(origin + 3000 + i);
  }
  const merged = ClientLatencyRecorder.fromJSON(fast.toJSON()).histogram.merge(slow.histogram);
  const clients: ClientResult[] = [
    {
      clientId: 'starling-bench-0',
      messagesOk: 200,
      messagesTotal: 200,
      timingMs: fast.timingMs(),
      publish: { count: 200, startMs: 0, endMs: 2000 },
      receive: { count: 200, startMs: 2000, endMs: 2100 },
    },
    {
      clientId: 'starling-bench-1',
      messagesOk: 20,
      messagesTotal: 25,
      timingMs: slow.timingMs(),
      publish: { count: 25, startMs: 2500, endMs: 2525 },
      receive: { count: 20, startMs: 2525, endMs: 3525 },
    },
    {
      clientId: 'starling-bench-2',
      messagesOk: 0,
      messagesTotal: 0,
      timingMs: { count: 0, mean: Number.NaN, stddev: Number.NaN, min: Number.NaN, max: Number.NaN },
      failed: true,
      error: 'ECONNREFUSED',
    },
  ];
  return buildBenchResult({
    scenario: BenchScenario.Publish,
    startedAt: new Date(origin),
    config: {
      brokerUrl: 'mqtt://127.0.0.1:1883',
      brokerLabel: 'Starling <dev>',
      clients: 3,
      qos: 1,
      payloadBytes: 100,
    },
    clients,
    wallClockMs: 4000,
    latencyHistogram: merged,
    timeseries: series,
    generator: generatorUsage([{ user: 1_500_000, system: 500_000 }], 4000, 64 * 1024 * 1024),
    histogramBuckets: bucketCount,
    bucketScale: BucketScale.Linear,
  });
}
