import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  rateSpread,
  type StresserClientTiming,
  stresserFigures,
  stresserMedian,
  stresserRate,
} from '../../src/bench/stresser-figures.js';
import { assertClose } from './bench-fixtures.js';

describe('stresserFigures', () => {
  // Four workers; times in ms on one clock. As in mqtt-stresser, each receive phase starts when the
  // worker's publishing ends.
  const clients: StresserClientTiming[] = [
    // A: publish 1000 in 500 ms = 2000 msg/s; receive 1000 in 100 ms = 10 000 msg/s
    { publish: { count: 1000, startMs: 0, endMs: 500 }, receive: { count: 1000, startMs: 500, endMs: 600 } },
    // B: publish 1000 in 1000 ms = 1000 msg/s; receive 1000 in 250 ms = 4000 msg/s
    {
      publish: { count: 1000, startMs: 0, endMs: 1000 },
      receive: { count: 1000, startMs: 1000, endMs: 1250 },
    },
    // C: publish 600 in 400 ms = 1500 msg/s; receive 600 in 200 ms = 3000 msg/s
    { publish: { count: 600, startMs: 200, endMs: 600 }, receive: { count: 600, startMs: 600, endMs: 800 } },
    // D: publish 2000 in 400 ms = 5000 msg/s; receive 1800 in 900 ms = 2000 msg/s
    {
      publish: { count: 2000, startMs: 100, endMs: 500 },
      receive: { count: 1800, startMs: 500, endMs: 1400 },
    },
  ];

  it('computes per-client rates as count / phase seconds', () => {
    const figures = stresserFigures(clients);
    assert.deepEqual(figures.publishRates, [2000, 1000, 1500, 5000]);
    assert.deepEqual(figures.receiveRates, [10_000, 4000, 3000, 2000]);
  });

  it('fastest is the max, slowest the min, median the mean of the two middle rates', () => {
    const figures = stresserFigures(clients);
    // Publish sorted: 1000, 1500, 2000, 5000 -> median (1500 + 2000) / 2 = 1750
    assert.deepEqual(figures.publish, { fastest: 5000, median: 1750, slowest: 1000 });
    // Receive sorted: 2000, 3000, 4000, 10 000 -> median (3000 + 4000) / 2 = 3500
    assert.deepEqual(figures.receive, { fastest: 10_000, median: 3500, slowest: 2000 });
  });

  it('gives the true aggregate: total delivered over the wall clock of the whole run', () => {
    const { aggregate } = stresserFigures(clients);
    // Delivered 1000 + 1000 + 600 + 1800 = 4400; published 1000 + 1000 + 600 + 2000 = 4600.
    assert.equal(aggregate.delivered, 4400);
    assert.equal(aggregate.published, 4600);
    // First start 0 ms (A, B), last end 1400 ms (D): wall clock 1.4 s.
    assert.equal(aggregate.wallClockMs, 1400);
    // 4400 / 1.4 = 3142.857 msg/s: below the stresser median receive figure (3500) and far below fastest.
    assertClose(aggregate.deliveredPerSec, 4400 / 1.4, 1e-9, 'delivered/s');
    assertClose(aggregate.publishedPerSec, 4600 / 1.4, 1e-9, 'published/s');
  });

  it('uses the wall clock the runner measured when given', () => {
    const { aggregate } = stresserFigures(clients, { startMs: -600, endMs: 1600 });
    assert.equal(aggregate.wallClockMs, 2200);
    assertClose(aggregate.deliveredPerSec, 2000, 1e-9, 'delivered/s'); // 4400 / 2.2
  });

  it('leaves failed clients out of the rates but not out of the totals', () => {
    const failed: StresserClientTiming = {
      publish: { count: 10, startMs: 0, endMs: 1 }, // 10 000 msg/s would be "fastest" if counted
      receive: { count: 0, startMs: 1, endMs: 2 },
      failed: true,
    };
    const figures = stresserFigures([...clients.slice(0, 3), failed]);
    // Three counted publish rates sorted 1000, 1500, 2000: odd length, median is the middle one.
    assert.deepEqual(figures.publish, { fastest: 2000, median: 1500, slowest: 1000 });
    assert.equal(figures.aggregate.published, 2610);
  });

  it('follows Go for zero-length phases: Inf rate, and NaN sorted first', () => {
    assert.equal(stresserRate({ count: 5, startMs: 10, endMs: 10 }), Number.POSITIVE_INFINITY);
    assert.ok(Number.isNaN(stresserRate({ count: 0, startMs: 10, endMs: 10 })));
    const spread = rateSpread([3, Number.NaN, 1, Number.POSITIVE_INFINITY]);
    assert.ok(Number.isNaN(spread.slowest));
    assert.equal(spread.fastest, Number.POSITIVE_INFINITY);
    assert.equal(spread.median, 2); // sorted NaN, 1, 3, Inf -> (1 + 3) / 2
  });

  it('median of one, two and no values', () => {
    assert.equal(stresserMedian([7]), 7);
    assert.equal(stresserMedian([1, 2]), 1.5);
    assert.ok(Number.isNaN(stresserMedian([])));
    assert.ok(Number.isNaN(stresserFigures([]).publish.median));
  });
});
