/**
 * The benchmark's latency samples: with a warm-up, messages sent before it ended are left out of p50/p99
 * and counted in the whole run's p99; without one, every message counts and there is no whole-run figure.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LatencySamples, percentile } from '../../bench/lib/latency-samples.js';

test('warm-up latencies are left out of p50/p99 and counted in the whole-run p99', () => {
  const samples = new LatencySamples(1000, true);
  samples.measuredFrom = 1000;
  // 20 slow messages sent in the warm-up (50 ms each), then 100 fast ones (1 ms).
  for (let i = 0; i < 20; i++) samples.add(900 + i, 950 + i);
  for (let i = 0; i < 100; i++) samples.add(1000 + i, 1001 + i);
  const { p50Ms, p99Ms, p99WholeRunMs } = samples.summary();
  assert.equal(p50Ms, 1);
  assert.equal(p99Ms, 1, 'the warm-up does not reach p99');
  assert.equal(p99WholeRunMs, 50, 'the whole run has them');
});

test('without a warm-up every message counts, and no whole-run figure is given', () => {
  const samples = new LatencySamples(1000, false);
  for (let i = 0; i < 20; i++) samples.add(i, i + 50);
  for (let i = 0; i < 80; i++) samples.add(100 + i, 101 + i);
  const summary = samples.summary();
  assert.equal(summary.p99Ms, 50);
  assert.equal(summary.p99WholeRunMs, undefined);
});

test('samples beyond the capacity are not kept; no sample gives NaN', () => {
  const samples = new LatencySamples(3, false);
  for (const latency of [1, 2, 3, 100]) samples.add(0, latency);
  assert.equal(samples.summary().p99Ms, 3);
  assert.ok(Number.isNaN(new LatencySamples(3, true).summary().p50Ms));
  assert.equal(percentile(Float64Array.from([1, 2, 3, 4]), 50), 3);
});
