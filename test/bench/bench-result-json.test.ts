import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseBenchResult, serializeBenchResult } from '../../src/bench/bench-result-json.js';
import { LatencyHistogram } from '../../src/bench/histogram.js';
import { sampleResult } from './bench-fixtures.js';

describe('BenchResult JSON', () => {
  it('round-trips, NaN figures included', () => {
    const result = sampleResult();
    const text = serializeBenchResult(result);
    const back = parseBenchResult(text);
    // deepStrictEqual treats NaN as equal to NaN, so the failed client's empty figures must come back NaN.
    assert.deepEqual(back, result);
    assert.ok(Number.isNaN(back.clients[2]!.timingMs.mean));
    assert.equal(LatencyHistogram.decode(back.latency!.histogramUs).count, 220);
  });

  it('round-trips subscribe delivery totals and reads files without them', () => {
    const delivery = {
      streams: 3,
      received: 910,
      unique: 900,
      missing: 4,
      duplicated: 10,
      outOfOrder: 2,
      foreign: 0,
    };
    const result = { ...sampleResult(), scenario: 'subscribe' as const, delivery };
    const back = parseBenchResult(serializeBenchResult(result));
    assert.deepEqual(back.delivery, delivery);
    assert.equal(parseBenchResult(serializeBenchResult(sampleResult())).delivery, undefined);
    const damaged = JSON.parse(serializeBenchResult(result));
    damaged.delivery.missing = 'none';
    assert.throws(() => parseBenchResult(JSON.stringify(damaged)), /\$\.delivery\.missing/);
  });

  it('names the first bad field', () => {
    const good = JSON.parse(serializeBenchResult(sampleResult()));
    const cases: [string, (o: typeof good) => void, RegExp][] = [
      ['format', (o) => (o.format = 'other/1'), /\$\.format/],
      ['scenario', (o) => (o.scenario = 'flood'), /\$\.scenario/],
      ['client id', (o) => (o.clients[1].clientId = 7), /\$\.clients\[1\]\.clientId/],
      ['qos', (o) => (o.config.qos = 3), /\$\.config\.qos/],
      ['bucket count', (o) => (o.latency.buckets[2].count = 'x'), /\$\.latency\.buckets\[2\]\.count/],
      ['series', (o) => (o.timeseries.sent = {}), /\$\.timeseries\.sent/],
      ['stresser', (o) => delete o.aggregate.stresser.receive, /\$\.aggregate\.stresser\.receive/],
    ];
    for (const [what, damage, message] of cases) {
      const copy = structuredClone(good);
      damage(copy);
      assert.throws(() => parseBenchResult(JSON.stringify(copy)), message, what);
    }
    assert.throws(() => parseBenchResult('{'), TypeError);
  });
});
