import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pooled, RunningStats, simpleAverage } from '../../src/bench/stats.js';
import { assertClose, seededRandom as random } from './bench-fixtures.js';

function naive(values: readonly number[]) {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;
  return { mean, stddev: Math.sqrt(variance), min: Math.min(...values), max: Math.max(...values) };
}

describe('RunningStats', () => {
  it('matches the two-pass population figures', () => {
    const next = random(1);
    const values = Array.from({ length: 1000 }, () => 1000 + next() * 50);
    const stats = RunningStats.of(values);
    const expected = naive(values);
    assert.equal(stats.count, 1000);
    assertClose(stats.mean, expected.mean, 1e-9, 'mean');
    assertClose(stats.stddev, expected.stddev, 1e-9, 'stddev');
    assert.equal(stats.min, expected.min);
    assert.equal(stats.max, expected.max);
    assertClose(stats.sampleVariance, (expected.stddev ** 2 * 1000) / 999, 1e-9, 'sample variance');
  });

  it('uses the population standard deviation, as mqtt-malaria does', () => {
    // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, squared deviations sum to 32, 32 / 8 = 4, sqrt = 2 (sample sd would be 2.14).
    const stats = RunningStats.of([2, 4, 4, 4, 5, 5, 7, 9]);
    assert.equal(stats.mean, 5);
    assert.equal(stats.stddev, 2);
  });

  it('merges to the statistics of the union, whatever the split', () => {
    const next = random(7);
    const values = Array.from({ length: 600 }, () => next() * 1000);
    const whole = RunningStats.of(values);
    for (const cut of [0, 1, 17, 300, 599, 600]) {
      const merged = RunningStats.of(values.slice(0, cut)).merge(RunningStats.of(values.slice(cut)));
      assert.equal(merged.count, whole.count);
      assertClose(merged.mean, whole.mean, 1e-9, `mean at cut ${cut}`);
      assertClose(merged.m2, whole.m2, 1e-6, `m2 at cut ${cut}`);
      assert.equal(merged.min, whole.min);
      assert.equal(merged.max, whole.max);
    }
  });

  it('survives a JSON round trip for IPC, and merges snapshots', () => {
    const stats = RunningStats.of([3, 1, 4, 1, 5, 9, 2, 6]);
    const wire = JSON.parse(JSON.stringify(stats));
    const back = RunningStats.fromJSON(wire);
    assert.deepEqual(back.toJSON(), stats.toJSON());
    const merged = new RunningStats().merge(wire).merge(RunningStats.of([10]).toJSON());
    assert.equal(merged.count, 9);
    assert.equal(merged.max, 10);
    assert.equal(merged.min, 1);
  });

  it('reports NaN while empty and serialises empty min/max as null', () => {
    const empty = new RunningStats();
    assert.ok(Number.isNaN(empty.mean) && Number.isNaN(empty.min) && Number.isNaN(empty.stddev));
    assert.deepEqual(empty.toJSON(), { count: 0, mean: 0, m2: 0, min: null, max: null });
    assert.equal(RunningStats.fromJSON(empty.toJSON()).count, 0);
  });

  it('refuses non-finite values and impossible snapshots', () => {
    assert.throws(() => new RunningStats().push(Number.NaN), RangeError);
    assert.throws(() => RunningStats.fromJSON({ count: 2, mean: 1, m2: -1, min: 0, max: 2 }), RangeError);
    assert.throws(() => RunningStats.fromJSON({ count: 1.5, mean: 1, m2: 0, min: 1, max: 1 }), RangeError);
    assert.throws(() => RunningStats.fromJSON({ count: 2, mean: 1, m2: 0, min: 3, max: 2 }), RangeError);
  });
});

describe('pooled vs simpleAverage', () => {
  // Client A: 1000 messages all at 10 ms. Client B: 10 messages all at 1000 ms.
  const a = RunningStats.of(Array.from({ length: 1000 }, () => 10));
  const b = RunningStats.of(Array.from({ length: 10 }, () => 1000));
  const union = naive([...Array.from({ length: 1000 }, () => 10), ...Array.from({ length: 10 }, () => 1000)]);

  it('pooled equals the figures of all samples together', () => {
    const result = pooled([a, b]);
    assert.equal(result.count, 1010);
    // (1000 * 10 + 10 * 1000) / 1010 = 19.80...
    assertClose(result.mean, 20000 / 1010, 1e-9, 'mean');
    assertClose(result.mean, union.mean, 1e-9, 'mean vs naive');
    // Each client's own stddev is 0; all the spread is between clients, which pooling keeps.
    assertClose(result.stddev, union.stddev, 1e-9, 'stddev');
    assert.ok(result.stddev > 98, `stddev ${result.stddev}`);
    assert.equal(result.min, 10);
    assert.equal(result.max, 1000);
  });

  it('the simple average of means is wrong for unequal clients', () => {
    const result = simpleAverage([a.summary(), b.summary()]);
    assert.equal(result.mean, 505); // (10 + 1000) / 2, not 19.8
    assert.equal(result.stddev, 0); // mean of two zero stddevs
    assert.equal(result.min, 505); // a "min" no message ever had
    assert.equal(result.max, 505);
    assert.equal(result.count, 1010);
  });

  it('pooling accepts summary figures and snapshots as well as live stats', () => {
    const fromSummaries = pooled([a.summary(), b.summary()]);
    const fromSnapshots = pooled([a.toJSON(), b.toJSON()]);
    assertClose(fromSummaries.stddev, union.stddev, 1e-9, 'summaries');
    assertClose(fromSnapshots.stddev, union.stddev, 1e-9, 'snapshots');
    assert.equal(pooled([]).count, 0);
  });

  it('reproduces mqtt-malaria\'s "Aggregate stats (simple avg)" of the seed example', () => {
    // The four per-client blocks of the seed (mean, stddev, min, max in ms, 100 messages each).
    const clients = [
      { count: 100, mean: 985.87, stddev: 172.52, min: 7.0, max: 1033.22 },
      { count: 100, mean: 694.6, stddev: 468.93, min: 6.39, max: 1034.09 },
      { count: 100, mean: 1013.39, stddev: 11.32, min: 992.73, max: 1029.75 },
      { count: 100, mean: 47.12, stddev: 22.61, min: 8.61, max: 74.3 },
    ];
    const result = simpleAverage(clients);
    // Seed prints mean 685.24, stddev 168.85, min 253.68, max 792.84. From the printed (rounded) inputs:
    // mean (985.87 + 694.60 + 1013.39 + 47.12) / 4 = 685.245 (malaria had unrounded inputs: 685.24),
    // stddev 675.38 / 4 = 168.845, min 1014.73 / 4 = 253.6825, max 3171.36 / 4 = 792.84.
    assertClose(result.mean, 685.24, 0.01, 'mean');
    assertClose(result.stddev, 168.85, 0.01, 'stddev');
    assertClose(result.min, 253.68, 0.01, 'min');
    assertClose(result.max, 792.84, 0.01, 'max');
    assert.equal(result.count, 400);
  });
});
