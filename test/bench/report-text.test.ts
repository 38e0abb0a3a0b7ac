import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BenchScenario, type ClientResult } from '../../src/bench/bench-result.js';
import {
  COMPARE_TABLE_HEADER,
  compareRowFromResult,
  formatAsciiHistogram,
  formatFixed,
  formatThousands,
  renderCompareTable,
  renderTextReport,
} from '../../src/bench/report-text.js';
import { buildBenchResult } from '../../src/bench/result-builder.js';
import { sampleResult } from './bench-fixtures.js';

/** The per-client blocks of the mqtt-malaria seed output, verbatim. */
const SEED_CLIENT_BLOCKS = `Clientid: beem.loadr-5149-5150
Message succes rate: 100.00% (100/100 messages)
Message timing mean   985.87 ms
Message timing stddev 172.52 ms
Message timing min    7.00 ms
Message timing max    1033.22 ms
Clientid: beem.loadr-5149-5151
Message succes rate: 100.00% (100/100 messages)
Message timing mean   694.60 ms
Message timing stddev 468.93 ms
Message timing min    6.39 ms
Message timing max    1034.09 ms
Clientid: beem.loadr-5149-5152
Message succes rate: 100.00% (100/100 messages)
Message timing mean   1013.39 ms
Message timing stddev 11.32 ms
Message timing min    992.73 ms
Message timing max    1029.75 ms
Clientid: beem.loadr-5149-5153
Message succes rate: 100.00% (100/100 messages)
Message timing mean   47.12 ms
Message timing stddev 22.61 ms
Message timing min    8.61 ms
Message timing max    74.30 ms`;

function seedClient(id: number, mean: number, stddev: number, min: number, max: number): ClientResult {
  return {
    clientId: `beem.loadr-5149-${id}`,
    messagesOk: 100,
    messagesTotal: 100,
    timingMs: { count: 100, mean, stddev, min, max },
  };
}

const seedRun = buildBenchResult({
  scenario: BenchScenario.Publish,
  startedAt: '2013-11-01T12:00:00.000Z',
  config: { brokerUrl: 'mqtt://localhost:1883', clients: 4, messagesPerClient: 100, qos: 1 },
  clients: [
    seedClient(5150, 985.87, 172.52, 7.0, 1033.22),
    seedClient(5151, 694.6, 468.93, 6.39, 1034.09),
    seedClient(5152, 1013.39, 11.32, 992.73, 1029.75),
    seedClient(5153, 47.12, 22.61, 8.61, 74.3),
  ],
  wallClockMs: 12_000,
});

describe('text report, mqtt-malaria layout', () => {
  const lines = renderTextReport(seedRun).split('\n');

  it('prints the per-client blocks exactly as the seed', () => {
    assert.equal(lines.slice(0, 24).join('\n'), SEED_CLIENT_BLOCKS);
  });

  it('prints the "simple avg" aggregate labelled and laid out as the seed', () => {
    assert.equal(lines[24], 'Clientid: Aggregate stats (simple avg) for 4 processes');
    assert.equal(lines[25], 'Message succes rate: 100.00% (400/400 messages)');
    // From the rounded per-client means the average is 685.245; malaria averaged unrounded means and
    // printed 685.24. Both are the seed's figure to 0.01.
    assert.match(lines[26]!, /^Message timing mean {3}685\.2[45] ms$/);
    assert.equal(lines[27], 'Message timing stddev 168.85 ms');
    assert.equal(lines[28], 'Message timing min    253.68 ms');
    assert.equal(lines[29], 'Message timing max    792.84 ms');
  });

  it('follows with the pooled aggregate in the same layout, with the true min and max', () => {
    assert.equal(lines[30], 'Clientid: Aggregate stats (pooled, correct) for 4 clients');
    assert.equal(lines[31], 'Message succes rate: 100.00% (400/400 messages)');
    // Equal counts: the pooled mean equals the simple one, but min and max are real samples' values.
    assert.match(lines[32]!, /^Message timing mean {3}685\.2[45] ms$/);
    assert.equal(lines[34], 'Message timing min    6.39 ms');
    assert.equal(lines[35], 'Message timing max    1034.09 ms');
    // Equal counts: pooled variance = mean of the variances + variance of the means.
    // (172.52^2 + 468.93^2 + 11.32^2 + 22.61^2) / 4 = 62 574.46
    // ((985.87 - m)^2 + (694.60 - m)^2 + (1013.39 - m)^2 + (47.12 - m)^2) / 4 = 151 336.39, m = 685.245
    // sqrt(62 574.46 + 151 336.39) = 462.50, against malaria's 168.85.
    assert.equal(lines[33], 'Message timing stddev 462.50 ms');
  });

  it('ends with throughput over the wall clock', () => {
    assert.equal(lines[36], 'Throughput (wall clock) 400 msgs in 12.00 s = 33.33 msg/s');
  });
});

describe('text report, extended sections', () => {
  const text = renderTextReport(sampleResult());

  it('prints percentiles, histogram, stresser figures and generator CPU', () => {
    assert.match(text, /^Message timing p50 {4}\d+\.\d\d ms$/m);
    assert.match(text, /^Message timing p90 {4}/m);
    assert.match(text, /^Message timing p99 {4}/m);
    assert.match(text, /^Message timing p99\.9 {2}500\.\d\d ms$/m);
    assert.match(text, /^Latency histogram \(linear buckets, 220 messages\)$/m);
    assert.match(text, /^mqtt-stresser figures/m);
    // Client 0: publish 200 in 2 s = 100/s, client 1: 25 in 25 ms = 1000/s; failed client left out.
    assert.match(text, /^Publish fastest 1,000 \| median 550 \| slowest 100 msg\/s$/m);
    assert.match(text, /^Generator CPU 50\.0% of one core/m);
    assert.ok(text.includes('Clientid: Aggregate stats (simple avg) for 2 processes'));
    assert.match(text, /^Message timing max {4}nan ms\nClient failed: ECONNREFUSED$/m);
  });

  it('can cap the per-client blocks', () => {
    const capped = renderTextReport(sampleResult(), { maxClientBlocks: 1 });
    assert.ok(capped.includes('Clientid: starling-bench-0'));
    assert.ok(!capped.includes('Clientid: starling-bench-1'));
    assert.ok(capped.includes('(2 more clients not shown)'));
  });

  it('draws the ASCII histogram scaled to the fullest bar, keeping outliers visible', () => {
    const chart = formatAsciiHistogram(
      [
        { lowMs: 1, highMs: 2, count: 1000 },
        { lowMs: 2, highMs: 3, count: 0 },
        { lowMs: 3, highMs: 400, count: 1 },
      ],
      10,
    );
    assert.deepEqual(chart.split('\n'), [
      '1.000 -  2.000 ms | ########## 1000',
      '2.000 -  3.000 ms |            0',
      '3.000 - 400.00 ms | #          1',
    ]);
    assert.equal(formatAsciiHistogram([]), '(no samples)');
  });
});

describe('compare table', () => {
  it('prints the seed table layout with the two extra columns', () => {
    const table = renderCompareTable([
      {
        broker: 'Mochi v2.2.10',
        publish: { fastest: 124_772, median: 125_456, slowest: 124_614 },
        receive: { fastest: 314_461, median: 313_186, slowest: 311_910 },
        aggregateMsgsPerSec: 249_999.6,
        p99Ms: 1.5,
      },
    ]);
    assert.deepEqual(table.split('\n'), [
      'Broker | publish fastest | median | slowest | receive fastest | median | slowest | aggregate msg/s | p99 ms |',
      '---|---|---|---|---|---|---|---|---|',
      'Mochi v2.2.10 | 124,772 | 125,456 | 124,614 | 314,461 | 313,186 | 311,910 | 250,000 | 1.50 |',
      '',
    ]);
    assert.ok(
      COMPARE_TABLE_HEADER.startsWith(
        'Broker | publish fastest | median | slowest | receive fastest | median | slowest |',
      ),
    );
  });

  it('builds rows from results, with dashes where a run has no such figure', () => {
    const rows = [compareRowFromResult(sampleResult()), compareRowFromResult(seedRun, 'malaria seed')];
    const lines = renderCompareTable(rows).split('\n');
    // Publish: 200 in 2 s = 100/s, 25 in 25 ms = 1000/s. Receive: 200 in 100 ms = 2000/s, 20 in 1 s = 20/s.
    // Aggregate: 220 completed in 4 s = 55/s.
    assert.equal(lines[2], 'Starling <dev> | 1,000 | 550 | 100 | 2,000 | 1,010 | 20 | 55 | 500.22 |');
    assert.equal(lines[3], 'malaria seed | - | - | - | - | - | - | 33 | - |');
  });

  it('escapes pipes in broker labels', () => {
    const row = { ...compareRowFromResult(seedRun), broker: 'a|b' };
    assert.ok(renderCompareTable([row]).includes('a\\|b | '));
  });
});

describe('number formatting', () => {
  it('formats like Python %.2f and Go-style thousands', () => {
    assert.equal(formatFixed(7), '7.00');
    assert.equal(formatFixed(Number.NaN), 'nan');
    assert.equal(formatFixed(Number.POSITIVE_INFINITY), 'inf');
    assert.equal(formatThousands(1234567.4), '1,234,567');
    assert.equal(formatThousands(999), '999');
    assert.equal(formatThousands(-1234), '-1,234');
    assert.equal(formatThousands(Number.NaN), '-');
    assert.equal(formatThousands(Number.POSITIVE_INFINITY), '+Inf');
    assert.equal(formatThousands(Number.NEGATIVE_INFINITY), '-Inf');
  });
});
