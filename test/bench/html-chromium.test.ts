/**
 * Opens the bench HTML report in headless Chromium (Debian package `chromium`, driven by playwright-core)
 * and checks that its charts render: the three SVGs laid out with a size, one bar per histogram bucket,
 * lines drawn, no console error and no request but the file itself. Chromium missing is a failure, not a
 * skip: CI must install it. Set STARLING_SCREENSHOT_DIR to keep the screenshot for a look.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { renderHtmlReport } from '../../src/bench/report-html.js';
import { sampleResult } from './bench-fixtures.js';

const CHROMIUM = '/usr/bin/chromium';
const CHART_IDS = ['latency-histogram', 'percentile-curve', 'throughput-timeseries'] as const;
const BUCKETS = 16;

/** The part of the browser's SVGGraphicsElement used here (the project compiles without the DOM lib). */
interface SvgShape {
  getBoundingClientRect(): { readonly height: number };
  getBBox(): { readonly width: number };
}

test('the HTML report renders its charts in headless Chromium, offline and without errors', async (t) => {
  assert.ok(
    existsSync(CHROMIUM),
    `Chromium not found at ${CHROMIUM}: install the Debian package "chromium" (apt-get install -y chromium)`,
  );
  const result = sampleResult(BUCKETS);
  assert.equal(result.latency?.buckets.length, BUCKETS);
  const dir = mkdtempSync(join(tmpdir(), 'starling-html-'));
  const htmlFile = join(dir, 'report.html');
  writeFileSync(htmlFile, renderHtmlReport(result));
  const fileUrl = pathToFileURL(htmlFile).href;
  const shotDir = process.env.STARLING_SCREENSHOT_DIR ?? dir;
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    timeout: 20_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  t.after(async () => {
    await browser.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  const requests: string[] = [];
  const consoleErrors: string[] = [];
  page.on('request', (request) => requests.push(request.url()));
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(error.message));
  // Anything but the page itself is refused, so a stray fetch cannot succeed even once.
  await context.route('**/*', (route) =>
    route.request().url() === fileUrl ? route.continue() : route.abort('blockedbyclient'),
  );

  await page.goto(fileUrl, { waitUntil: 'load', timeout: 15_000 });

  for (const id of CHART_IDS) {
    const box = await page.locator(`svg#${id}`).boundingBox();
    assert.ok(box !== null, `${id} is laid out`);
    assert.ok(box.width > 100 && box.height > 100, `${id} has a size: ${box.width}x${box.height}`);
  }
  const bars = page.locator('svg#latency-histogram rect.bar');
  assert.equal(await bars.count(), BUCKETS);
  const barHeights = await bars.evaluateAll((rects) =>
    rects.map((rect) => (rect as unknown as SvgShape).getBoundingClientRect().height),
  );
  const counts = result.latency?.buckets.map((bucket) => bucket.count) ?? [];
  barHeights.forEach((height, i) => {
    if ((counts[i] ?? 0) > 0) assert.ok(height > 0, `bar ${i} (count ${counts[i]}) is drawn`);
  });
  // The tallest bar is the bucket with the most samples.
  const tallest = barHeights.indexOf(Math.max(...barHeights));
  assert.equal(counts[tallest], Math.max(...counts));
  for (const [id, lines] of [
    ['percentile-curve', 1],
    ['throughput-timeseries', 2],
  ] as const) {
    const widths = await page
      .locator(`svg#${id} polyline.series`)
      .evaluateAll((polylines) => polylines.map((line) => (line as unknown as SvgShape).getBBox().width));
    assert.equal(widths.length, lines, `${id} has ${lines} line(s)`);
    for (const width of widths) assert.ok(width > 50, `${id} line spans the chart (${width})`);
  }

  const screenshot = join(shotDir, 'bench-report.png');
  await page.screenshot({ path: screenshot, fullPage: true });
  assert.ok(statSync(screenshot).size > 10_000, 'the screenshot holds a rendered page');
  t.diagnostic(`screenshot: ${screenshot}`);

  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(requests, [fileUrl], 'the page fetches nothing but itself');
});
