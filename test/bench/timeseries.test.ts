import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ThroughputTimeSeries } from '../../src/bench/timeseries.js';

const ORIGIN = 1_000_000;

describe('ThroughputTimeSeries', () => {
  it('counts events into intervals from the origin', () => {
    const series = new ThroughputTimeSeries(ORIGIN, 1000);
    series.recordSent(ORIGIN); // bucket 0
    series.recordSent(ORIGIN + 999, 4); // bucket 0
    series.recordSent(ORIGIN + 1000); // bucket 1
    series.recordReceived(ORIGIN + 2500, 3); // bucket 2
    assert.deepEqual(series.toJSON(), {
      intervalMs: 1000,
      originMs: ORIGIN,
      sent: [5, 1, 0],
      received: [0, 0, 3],
    });
    assert.equal(series.totalSent, 6);
    assert.equal(series.totalReceived, 3);
  });

  it('reports per-second rates for sub-second intervals', () => {
    const series = new ThroughputTimeSeries(ORIGIN, 250);
    series.recordSent(ORIGIN + 10, 5);
    series.recordReceived(ORIGIN + 260, 2);
    assert.deepEqual(series.points(), [
      { offsetMs: 0, sent: 5, received: 0, sentPerSec: 20, receivedPerSec: 0 },
      { offsetMs: 250, sent: 0, received: 2, sentPerSec: 0, receivedPerSec: 8 },
    ]);
  });

  it('moves the origin back by whole intervals for events before it', () => {
    const series = new ThroughputTimeSeries(ORIGIN, 1000);
    series.recordSent(ORIGIN + 100);
    series.recordSent(ORIGIN - 1500); // two intervals earlier
    assert.equal(series.originMs, ORIGIN - 2000);
    assert.deepEqual(series.toJSON().sent, [1, 0, 1]);
  });

  it('merges series of other processes bucket by bucket, aligning origins', () => {
    const coordinator = new ThroughputTimeSeries(ORIGIN, 1000);
    coordinator.recordSent(ORIGIN + 1500, 2);
    const worker = new ThroughputTimeSeries(ORIGIN + 3000, 1000); // started three intervals later
    worker.recordSent(ORIGIN + 3100, 7);
    worker.recordReceived(ORIGIN + 4100, 6);
    const early = new ThroughputTimeSeries(ORIGIN - 1000, 1000); // one interval earlier
    early.recordReceived(ORIGIN - 900);
    coordinator.merge(JSON.parse(JSON.stringify(worker))).merge(early);
    assert.deepEqual(coordinator.toJSON(), {
      intervalMs: 1000,
      originMs: ORIGIN - 1000,
      sent: [0, 0, 2, 0, 7, 0],
      received: [1, 0, 0, 0, 0, 6],
    });
  });

  it('merging equals recording everything in one series', () => {
    const whole = new ThroughputTimeSeries(ORIGIN, 100);
    const parts = [new ThroughputTimeSeries(ORIGIN, 100), new ThroughputTimeSeries(ORIGIN, 100)];
    for (let i = 0; i < 500; i++) {
      const at = ORIGIN + ((i * 37) % 2000);
      whole.recordSent(at);
      parts[i % 2]!.recordSent(at);
      whole.recordReceived(at + 5);
      parts[(i + 1) % 2]!.recordReceived(at + 5);
    }
    const merged = new ThroughputTimeSeries(ORIGIN, 100).merge(parts[0]!).merge(parts[1]!);
    assert.deepEqual(merged.toJSON(), whole.toJSON());
  });

  it('refuses merges whose buckets would straddle', () => {
    const series = new ThroughputTimeSeries(ORIGIN, 1000);
    assert.throws(() => series.merge(new ThroughputTimeSeries(ORIGIN, 500)), RangeError);
    assert.throws(() => series.merge(new ThroughputTimeSeries(ORIGIN + 250, 1000)), RangeError);
  });

  it('refuses bad input and absurd timestamps', () => {
    assert.throws(() => new ThroughputTimeSeries(ORIGIN, 0), RangeError);
    const series = new ThroughputTimeSeries(ORIGIN, 1000);
    assert.throws(() => series.recordSent(Number.NaN), RangeError);
    assert.throws(() => series.recordSent(ORIGIN, -1), RangeError);
    assert.throws(() => series.recordSent(ORIGIN + 1e12), RangeError); // 31 years of 1 s buckets
    assert.throws(
      () => ThroughputTimeSeries.fromJSON({ intervalMs: 1000, originMs: 0, sent: [1], received: [] }),
      RangeError,
    );
    assert.throws(
      () => ThroughputTimeSeries.fromJSON({ intervalMs: 1000, originMs: 0, sent: [1.5], received: [0] }),
      RangeError,
    );
  });
});
