import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  renderClientsCsv,
  renderHistogramCsv,
  renderPercentilesCsv,
  renderSummaryCsv,
  renderTimeSeriesCsv,
  toCsv,
} from '../../src/bench/report-csv.js';
import { sampleResult } from './bench-fixtures.js';

function rows(csv: string): string[] {
  assert.ok(csv.endsWith('\r\n'), 'CRLF line ends');
  return csv.slice(0, -2).split('\r\n');
}

describe('CSV reports', () => {
  const result = sampleResult();

  it('one row per client with malaria figures and stresser rates', () => {
    const lines = rows(renderClientsCsv(result));
    assert.equal(
      lines[0],
      'client_id,messages_ok,messages_total,success_rate_pct,mean_ms,stddev_ms,min_ms,max_ms,publish_msgs_per_sec,receive_msgs_per_sec,failed,error',
    );
    assert.equal(lines.length, 4);
    // Client 0: 1..200 ms, mean 100.5, population sd sqrt((200^2 - 1) / 12) = 57.734305
    assert.equal(lines[1], 'starling-bench-0,200,200,100,100.5,57.734305,1,200,100,2000,false,');
    assert.equal(lines[2], 'starling-bench-1,20,25,80,500,0,500,500,1000,20,false,');
    // The failed client has no figures: empty cells, not "NaN".
    assert.equal(lines[3], 'starling-bench-2,0,0,,,,,,,,true,ECONNREFUSED');
  });

  it('quotes per RFC 4180 and keeps formula-like text as text', () => {
    const csv = toCsv(
      ['a', 'b', 'c'],
      [
        ['x,y', 'say "hi"', '=1+1'],
        [' pad', 'line\nbreak', -3],
      ],
    );
    assert.equal(csv, 'a,b,c\r\n"x,y","say ""hi""",\'=1+1\r\n" pad","line\nbreak",-3\r\n');
  });

  it('time series rows per interval with per-second rates', () => {
    const lines = rows(renderTimeSeriesCsv(result));
    assert.equal(lines[0], 'offset_s,sent,received,sent_per_sec,received_per_sec');
    // 99 sends in [0, 1 s) (at 10..990 ms), the rest of client 0's 200 in [1, 2 s) plus one at 2000 ms.
    assert.equal(lines[1], '0,99,90,99,90');
    const totalSent = lines.slice(1).reduce((sum, line) => sum + Number(line.split(',')[1]), 0);
    assert.equal(totalSent, 220);
  });

  it('percentile curve and histogram bars', () => {
    const curve = rows(renderPercentilesCsv(result));
    assert.equal(curve[0], 'percentile,latency_ms');
    assert.equal(curve.length, 42); // header + 41 points (0 .. 99.99 %)
    assert.match(curve[1]!, /^0,1$/);
    const bars = rows(renderHistogramCsv(result));
    assert.equal(bars[0], 'low_ms,high_ms,count');
    assert.equal(bars.length, 13);
    assert.equal(
      bars.slice(1).reduce((sum, line) => sum + Number(line.split(',')[2]), 0),
      220,
    );
  });

  it('one summary line per run', () => {
    const lines = rows(renderSummaryCsv([result, result]));
    assert.equal(lines.length, 3);
    const header = lines[0]!.split(',');
    const first = lines[1]!.split(',');
    const cell = (name: string): string => first[header.indexOf(name)]!;
    assert.equal(cell('broker'), 'Starling <dev>');
    assert.equal(cell('messages_ok'), '220');
    assert.equal(cell('throughput_msgs_per_sec'), '55');
    assert.equal(cell('publish_fastest'), '1000');
    assert.equal(cell('generator_cpu_pct'), '50');
    // Not a subscribe run: the delivery columns exist but stay empty.
    assert.equal(header.at(-1), 'out_of_order');
    assert.equal(cell('received'), '');
    assert.equal(cell('missing'), '');
  });

  it('summary carries the delivery totals of a subscribe run', () => {
    const delivery = {
      streams: 2,
      received: 203,
      unique: 198,
      missing: 2,
      duplicated: 5,
      outOfOrder: 3,
      foreign: 1,
    };
    const lines = rows(renderSummaryCsv([{ ...result, scenario: 'subscribe', delivery }]));
    const header = lines[0]!.split(',');
    const first = lines[1]!.split(',');
    const cell = (name: string): string => first[header.indexOf(name)]!;
    assert.equal(cell('received'), '203');
    assert.equal(cell('missing'), '2');
    assert.equal(cell('duplicated'), '5');
    assert.equal(cell('out_of_order'), '3');
  });
});
