import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BenchScenario } from '../../src/bench/bench-result.js';
import { renderHtmlReport } from '../../src/bench/report-html.js';
import { buildBenchResult } from '../../src/bench/result-builder.js';
import { sampleResult } from './bench-fixtures.js';

function svgById(html: string, id: string): string {
  const match = new RegExp(`<svg id="${id}"[\\s\\S]*?</svg>`).exec(html);
  assert.ok(match, `missing <svg id="${id}">`);
  return match[0];
}

/** Checks that every opened tag is closed in order (void HTML elements and self-closing tags excepted). */
function assertBalanced(markup: string): void {
  const voidElements = new Set(['meta', 'br', 'hr', 'img', 'input', 'link']);
  const stack: string[] = [];
  for (const [, closing, name, selfClosing] of markup.matchAll(/<(\/?)([a-zA-Z][\w-]*)[^>]*?(\/?)>/g)) {
    const tag = name!.toLowerCase();
    if (selfClosing || voidElements.has(tag)) continue;
    if (closing) assert.equal(stack.pop(), tag, `</${tag}> closes the wrong element`);
    else stack.push(tag);
  }
  assert.deepEqual(stack, [], 'unclosed elements');
}

function pointCount(svg: string, seriesClass: string): number {
  const match = new RegExp(`<polyline class="series ${seriesClass}"[^>]*points="([^"]*)"`).exec(svg);
  assert.ok(match, `missing series ${seriesClass}`);
  return match[1]!.trim().split(/\s+/).filter(Boolean).length;
}

describe('renderHtmlReport', () => {
  const result = sampleResult(12);
  const html = renderHtmlReport(result);

  it('is one self-contained page: no network reference, no script', () => {
    assert.ok(html.startsWith('<!doctype html>'));
    assert.ok(!/https?:\/\//i.test(html), 'found an http(s) reference');
    assert.ok(!/<script|<link|<img|\ssrc=|@import|url\(/i.test(html), 'found an external resource');
    assert.match(html, /<style>[\s\S]+<\/style>/);
    assertBalanced(html.replace(/<!doctype html>/i, ''));
  });

  it('has a latency histogram with one bar per bucket', () => {
    const svg = svgById(html, 'latency-histogram');
    const bars = svg.match(/<rect class="bar"/g) ?? [];
    assert.equal(bars.length, 12);
    assert.equal(result.latency?.buckets.length, 12);
    const values = [...svg.matchAll(/data-value="(\d+)"/g)].map((m) => Number(m[1]));
    assert.deepEqual(
      values,
      result.latency!.buckets.map((bucket) => bucket.count),
    );
  });

  it('has a percentile curve from 0 to 99.99 % on a log axis', () => {
    const svg = svgById(html, 'percentile-curve');
    assert.equal(pointCount(svg, 'latency'), 41);
    for (const label of ['0%', '90%', '99%', '99.9%', '99.99%'])
      assert.ok(svg.includes(`>${label}</text>`), label);
  });

  it('has throughput over time with sent and received lines', () => {
    const svg = svgById(html, 'throughput-timeseries');
    const intervals = result.timeseries!.sent.length;
    assert.equal(pointCount(svg, 'sent'), intervals);
    assert.equal(pointCount(svg, 'received'), intervals);
  });

  it('shows both aggregates and escapes user text', () => {
    assert.ok(html.includes('Pooled (correct)'));
    assert.ok(html.includes('Simple avg of clients (mqtt-malaria)'));
    assert.ok(html.includes('Starling &lt;dev&gt;'));
    assert.ok(!html.includes('<dev>'));
    assert.equal((html.match(/<tr><td>starling-bench-/g) ?? []).length, 3);
    assert.ok(html.includes('failed: ECONNREFUSED'));
  });

  it('labels a keepalive run in connections and connect latency', () => {
    // A keepalive run has no mqtt-stresser phases, hence no stresser table.
    const { stresser: _stresser, ...aggregate } = result.aggregate;
    const page = renderHtmlReport({ ...result, aggregate, scenario: BenchScenario.Keepalive });
    assert.ok(page.includes('<td>Connections completed</td>'));
    assert.ok(page.includes('<h2>Connect latency</h2>'));
    assert.ok(page.includes('<h2>Connections over time</h2>'));
    assert.ok(page.includes('conn/s'));
    const histogram = svgById(page, 'latency-histogram');
    assert.ok(histogram.includes('>connect latency (ms)</text>'));
    assert.ok(histogram.includes('>connections</text>'));
    const throughput = svgById(page, 'throughput-timeseries');
    assert.ok(throughput.includes('>attempted</text>') && throughput.includes('>connected</text>'));
    // The message words belong to message runs only.
    assert.ok(!page.includes('Messages completed') && !page.includes('msg/s'));
    assert.ok(html.includes('<td>Messages completed</td>'));
    assert.ok(html.includes('<h2>Throughput over time</h2>'));
  });

  it('keeps x labels inside the chart and the legend above the plot', () => {
    for (const id of ['percentile-curve', 'throughput-timeseries']) {
      const svg = svgById(html, id);
      const width = Number(/viewBox="0 0 (\d+) /.exec(svg)?.[1]);
      const plotTop = Math.min(
        ...[...svg.matchAll(/<line class="axis" x1="[\d.]+" y1="([\d.]+)"/g)].map((m) => Number(m[1])),
      );
      // A centred label about 7 px per character must end before the right edge of the SVG.
      for (const [, x, label] of svg.matchAll(/<text class="tick x" x="([\d.]+)"[^>]*>([^<]*)<\/text>/g))
        assert.ok(Number(x) + (label!.length * 7) / 2 <= width, `${id}: "${label}" at ${x} is clipped`);
      const legendYs = [...svg.matchAll(/<g class="legend[^"]*"><line[^>]* y1="([\d.]+)"/g)].map((m) =>
        Number(m[1]),
      );
      assert.ok(legendYs.length > 0, `${id} has a legend`);
      for (const y of legendYs)
        assert.ok(y < plotTop, `${id}: legend at y=${y} is inside the plot (top ${plotTop})`);
    }
  });

  it('renders a run where nothing completed', () => {
    const empty = buildBenchResult({
      scenario: BenchScenario.Keepalive,
      startedAt: '2024-01-01T00:00:00.000Z',
      config: { brokerUrl: 'mqtt://127.0.0.1:1', clients: 0 },
      clients: [],
      wallClockMs: 0,
    });
    const page = renderHtmlReport(empty);
    assert.ok(page.includes('No connection completed.'));
    assert.ok(page.includes('No time series recorded.'));
    assert.ok(!page.includes('<svg'));
    assertBalanced(page.replace(/<!doctype html>/i, ''));
  });
});
