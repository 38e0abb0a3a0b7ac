import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BENCH_RESULT_FORMAT, BenchScenario } from '../../src/bench/bench-result.js';
import { LatencyHistogram } from '../../src/bench/histogram.js';
import {
  buildBenchResult,
  ClientLatencyRecorder,
  generatorUsage,
  summariseLatency,
} from '../../src/bench/result-builder.js';
import { assertClose, sampleResult } from './bench-fixtures.js';

describe('buildBenchResult', () => {
  const result = sampleResult();

  it('computes the pooled and the simple-average aggregates over clients that completed messages', () => {
    const { aggregate } = result;
    assert.equal(result.format, BENCH_RESULT_FORMAT);
    assert.equal(aggregate.messagesOk, 220);
    assert.equal(aggregate.messagesTotal, 225);
    // Pooled mean: (200 * 100.5 + 20 * 500) / 220 = 136.82 ms; simple average: (100.5 + 500) / 2 = 300.25 ms.
    assertClose(aggregate.timingMs.mean, (200 * 100.5 + 20 * 500) / 220, 1e-9, 'pooled mean');
    assertClose(aggregate.simpleAverageMs.mean, 300.25, 1e-9, 'simple mean');
    assert.equal(aggregate.timingMs.min, 1);
    assert.equal(aggregate.timingMs.max, 500);
    assert.equal(aggregate.simpleAverageMs.min, 250.5); // (1 + 500) / 2
    assert.equal(aggregate.throughputMsgsPerSec, 55); // 220 / 4 s
  });

  it('summarises the merged histogram', () => {
    const latency = result.latency!;
    assert.equal(latency.count, 220);
    // 220 samples: 200 at 1..200 ms then 20 at 500 ms. p50 is the 110th sample = 110 ms, p90 the 198th.
    assertClose(latency.p50Ms, 110, 0.11, 'p50');
    assertClose(latency.p90Ms, 198, 0.2, 'p90');
    assertClose(latency.p99Ms, 500, 0.5, 'p99');
    assert.equal(
      latency.buckets.reduce((sum, bucket) => sum + bucket.count, 0),
      220,
    );
    assert.equal(LatencyHistogram.decode(latency.histogramUs).count, 220);
  });

  it('adds mqtt-stresser figures only when every working client has both phases', () => {
    assert.ok(result.aggregate.stresser);
    const withoutPhases = buildBenchResult({
      scenario: BenchScenario.Publish,
      startedAt: '2024-01-01T00:00:00.000Z',
      config: { brokerUrl: 'mqtt://127.0.0.1:1883', clients: 2 },
      clients: [
        result.clients[0]!,
        { clientId: 'no-phases', messagesOk: 1, messagesTotal: 1, timingMs: result.clients[0]!.timingMs },
      ],
      wallClockMs: 1000,
    });
    assert.equal(withoutPhases.aggregate.stresser, undefined);
    assert.equal(withoutPhases.latency, null);
    assert.equal(withoutPhases.timeseries, null);
    assert.equal(withoutPhases.generator, null);
  });
});

describe('ClientLatencyRecorder', () => {
  it('keeps exact ms figures and the us histogram, and survives IPC', () => {
    const recorder = new ClientLatencyRecorder();
    for (const us of [1500, 2500, 3500]) recorder.record(us);
    const back = ClientLatencyRecorder.fromJSON(JSON.parse(JSON.stringify(recorder)));
    assert.deepEqual(back.timingMs(), recorder.timingMs());
    assert.equal(back.timingMs().mean, 2.5);
    assert.equal(back.histogram.count, 3);
    assert.equal(back.histogram.percentile(100), recorder.histogram.percentile(100));
  });
});

describe('generatorUsage and summariseLatency', () => {
  it('sums CPU over processes as a share of one core', () => {
    const usage = generatorUsage(
      [
        { user: 600_000, system: 200_000 },
        { user: 300_000, system: 100_000 },
      ],
      2000,
    );
    // (0.8 s + 0.4 s) / 2 s = 60 % of one core.
    assert.deepEqual(usage, {
      processes: 2,
      cpuUserMs: 900,
      cpuSystemMs: 300,
      wallClockMs: 2000,
      cpuPercentOfOneCore: 60,
    });
  });

  it('gives null for an empty histogram', () => {
    assert.equal(summariseLatency(new LatencyHistogram()), null);
  });
});
