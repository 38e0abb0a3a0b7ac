import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BucketScale, HIGHEST_TRACKABLE_US, LatencyHistogram } from '../../src/bench/histogram.js';
import { assertClose, seededRandom } from './bench-fixtures.js';

/** Relative precision of a 3-significant-digit HDR histogram. */
const HDR_PRECISION = 0.001;

describe('LatencyHistogram', () => {
  it('gives known percentiles of a uniform distribution within HDR precision', () => {
    // Every integer 1..100 000 us once: the p-th percentile is p * 1000 us exactly.
    const histogram = new LatencyHistogram();
    for (let us = 1; us <= 100_000; us++) histogram.record(us);
    assert.equal(histogram.count, 100_000);
    for (const p of [10, 50, 90, 99, 99.9]) {
      const expected = p * 1000;
      assertClose(histogram.percentile(p), expected, expected * HDR_PRECISION + 1, `p${p}`);
    }
    assert.equal(histogram.min, 1);
    assertClose(histogram.max, 100_000, 100_000 * HDR_PRECISION, 'max');
    assertClose(histogram.mean, 50_000.5, 50_000 * HDR_PRECISION, 'mean');
    // Population sd of a discrete uniform 1..N is sqrt((N^2 - 1) / 12) = 28 867.5 for N = 100 000.
    assertClose(histogram.stddev, Math.sqrt((100_000 ** 2 - 1) / 12), 28_867 * HDR_PRECISION * 2, 'stddev');
  });

  it('merging per-process histograms equals the histogram of the union', () => {
    const next = seededRandom(42);
    const union = new LatencyHistogram();
    const parts = [new LatencyHistogram(), new LatencyHistogram(), new LatencyHistogram()];
    for (let i = 0; i < 30_000; i++) {
      // Log-uniform from 10 us to 10 s: exercises many HDR buckets.
      const us = 10 * 10 ** (next() * 6);
      union.record(us);
      parts[i % 3]!.record(us);
    }
    // Ship two of the parts through encode/decode as a worker process would.
    const merged = parts[0]!
      .merge(LatencyHistogram.decode(parts[1]!.encode()))
      .merge(LatencyHistogram.decode(parts[2]!.encode()));
    assert.equal(merged.count, union.count);
    assert.equal(merged.min, union.min);
    assert.equal(merged.max, union.max);
    assert.equal(merged.mean, union.mean);
    assert.equal(merged.stddev, union.stddev);
    for (let p = 0; p <= 100; p += 0.5) assert.equal(merged.percentile(p), union.percentile(p), `p${p}`);
    assert.deepEqual(merged.buckets(25, BucketScale.Log), union.buckets(25, BucketScale.Log));
    assert.deepEqual(merged.percentileCurve(), union.percentileCurve());
  });

  it('round-trips through its compressed base64 encoding', () => {
    const histogram = new LatencyHistogram();
    histogram.record(250, 3);
    histogram.record(1_234_567);
    const encoded = histogram.encode();
    assert.match(encoded, /^[A-Za-z0-9+/]+=*$/);
    const back = LatencyHistogram.decode(encoded);
    assert.equal(back.count, 4);
    assert.equal(back.percentile(50), histogram.percentile(50));
    assert.equal(back.max, histogram.max);
  });

  it('rejects text that is not an encoded histogram', () => {
    assert.throws(() => LatencyHistogram.decode('not a histogram'), RangeError);
    assert.throws(() => LatencyHistogram.decode(''), RangeError);
  });

  it('records latencies above one hour as one hour and refuses negative ones', () => {
    const histogram = new LatencyHistogram();
    histogram.record(HIGHEST_TRACKABLE_US * 5);
    assert.equal(histogram.count, 1);
    assertClose(histogram.max, HIGHEST_TRACKABLE_US, HIGHEST_TRACKABLE_US * HDR_PRECISION, 'clamped max');
    assert.throws(() => histogram.record(-1), RangeError);
    assert.throws(() => histogram.record(Number.NaN), RangeError);
    assert.throws(() => histogram.record(5, 0), RangeError);
  });

  it('is NaN and bucket-less while empty', () => {
    const empty = new LatencyHistogram();
    assert.ok(Number.isNaN(empty.percentile(50)) && Number.isNaN(empty.min) && Number.isNaN(empty.mean));
    assert.deepEqual(empty.buckets(10), []);
    assert.deepEqual(empty.percentileCurve(), []);
  });

  it('linear buckets cover min..max in equal widths and hold every sample', () => {
    const histogram = new LatencyHistogram();
    // 100 samples at 100 us, 50 at 1000 us, 10 at 1900 us.
    histogram.record(100, 100);
    histogram.record(1000, 50);
    histogram.record(1900, 10);
    const buckets = histogram.buckets(9, BucketScale.Linear);
    assert.equal(buckets.length, 9);
    assert.equal(buckets[0]!.lowUs, 100);
    assert.equal(buckets[8]!.highUs, 1900);
    // Width (1900 - 100) / 9 = 200: 100 us in bar 0, 1000 us in bar 4 ([900, 1100)), 1900 us in the last.
    assert.deepEqual(
      buckets.map((bucket) => bucket.count),
      [100, 0, 0, 0, 50, 0, 0, 0, 10],
    );
    for (const bucket of buckets) assertClose(bucket.highUs - bucket.lowUs, 200, 1e-9, 'width');
  });

  it('log buckets have equal ratios and the same total', () => {
    const histogram = new LatencyHistogram();
    for (const us of [10, 100, 1000, 10_000, 100_000]) histogram.record(us, 7);
    const buckets = histogram.buckets(5, BucketScale.Log);
    assert.equal(
      buckets.reduce((sum, bucket) => sum + bucket.count, 0),
      35,
    );
    const ratios = buckets.map((bucket) => bucket.highUs / bucket.lowUs);
    for (const ratio of ratios.slice(1, -1)) assertClose(ratio, ratios[1]!, 1e-6, 'ratio');
    assert.ok(
      buckets.every((bucket) => bucket.count === 7),
      JSON.stringify(buckets),
    );
  });

  it('gives a percentile curve with exact decade marks, rising monotonically', () => {
    const histogram = new LatencyHistogram();
    for (let us = 1; us <= 10_000; us++) histogram.record(us);
    const curve = histogram.percentileCurve(4, 10);
    assert.equal(curve.length, 41);
    const percentiles = curve.map((point) => point.percentile);
    for (const mark of [0, 90, 99, 99.9, 99.99]) assert.ok(percentiles.includes(mark), `missing ${mark}`);
    for (let i = 1; i < curve.length; i++) assert.ok(curve[i]!.valueUs >= curve[i - 1]!.valueUs);
    assert.throws(() => histogram.percentile(101), RangeError);
  });
});
