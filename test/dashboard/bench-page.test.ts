/**
 * The load-run dashboard: samples pushed into `startBenchDashboard` show up in Chromium as curve points,
 * totals and agent rows, `finish` shows the summary; its JSON state and refusals; `close` ends open streams.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { syntheticRun } from '../../bench/dashboard-screenshots.js';
import { type BenchDashboard, startBenchDashboard } from '../../src/dashboard/bench-dashboard.js';
import type { BenchLiveSample, BenchState } from '../../src/dashboard/bench-live.js';
import { launchChromium } from './harness.js';

interface PageDocument {
  querySelector(selector: string): { getAttribute(name: string): string | null } | null;
}
declare const document: PageDocument;

function sample(second: number, agents: BenchLiveSample['agents']): BenchLiveSample {
  return {
    at: 1_700_000_000_000 + second * 500,
    elapsedMs: second * 500,
    intervalMs: 500,
    sent: 100 * second,
    received: 90 * second,
    errors: second === 3 ? 7 : 0,
    connected: 20,
    latencyMs:
      second === 2 ? undefined : { p50: 1, p90: 2, p99: 3 * second, p999: 5 * second, max: 9 * second },
    agents,
  };
}

describe('load-run dashboard', () => {
  let browser: Browser;
  let run: BenchDashboard;

  before(async () => {
    browser = await launchChromium();
    run = await startBenchDashboard({ title: 'publish test run' });
  });
  after(async () => {
    await browser.close();
    await run.close();
  });

  test('serves on loopback at a free port', () => {
    assert.match(run.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  });

  test('pushed samples become curve points, totals and agent rows; finish shows the summary', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(run.url, { waitUntil: 'load' });
    await page.waitForSelector('#run-state.on');
    assert.equal(await page.locator('header h1').textContent(), 'publish test run');
    for (let s = 1; s <= 4; s++) {
      run.push(
        sample(s, [
          { name: 'local', sent: 100 * s, received: 90 * s, errors: 0, connected: 10, state: 'running' },
          {
            name: 'agent-b',
            sent: 50 * s,
            received: 45 * s,
            errors: s,
            connected: 10,
            state: s === 4 ? 'lost' : 'running',
          },
        ]),
      );
    }
    await page.waitForFunction(
      () => document.querySelector('#chart-throughput')?.getAttribute('data-points') === '4',
    );
    // The 4th sample: 400 sent and 360 received in 500 ms are 800/s and 720/s.
    assert.equal(await page.locator('#chart-throughput').getAttribute('data-last'), '[800,720]');
    assert.equal(await page.locator('#chart-latency').getAttribute('data-last'), '[1,2,12,20,36]');
    assert.equal(await page.locator('#chart-errors').getAttribute('data-points'), '4');
    assert.equal(await page.locator('[data-tile="sent"]').textContent(), '1.00k');
    assert.equal(await page.locator('[data-tile="errors"]').textContent(), '7');
    const rows = await page
      .locator('#agents tbody tr')
      .evaluateAll((trs) => trs.map((tr) => (tr as unknown as { innerText: string }).innerText.split('\t')));
    // Rows carry each agent's totals over the four intervals.
    assert.deepEqual(rows, [
      ['local', 'running', '1.00k', '900', '0', '10'],
      ['agent-b', 'lost', '500', '450', '10', '10'],
    ]);
    assert.equal((await page.locator('canvas').count()) >= 4, true, 'every chart draws on a canvas');
    run.finish('1 000 messages, p99 12 ms');
    await page.waitForSelector('#run-state.done');
    assert.equal(await page.locator('#summary').textContent(), '1 000 messages, p99 12 ms');
    // A page opened afterwards gets the whole run from the snapshot.
    const late = await browser.newPage();
    await late.goto(run.url, { waitUntil: 'load' });
    await late.waitForSelector('#run-state.done');
    assert.equal(await late.locator('#chart-throughput').getAttribute('data-points'), '4');
    assert.deepEqual(errors, []);
    await page.close();
    await late.close();
  });

  test('the JSON state carries totals and curves; bad requests are refused', async () => {
    const state = (await (await fetch(`${run.url}api/state`)).json()) as {
      state: BenchState;
      history: { sentPerS: number[]; p99: (number | null)[] };
    };
    assert.deepEqual(state.state.totals, { sent: 1000, received: 900, errors: 7 });
    assert.deepEqual(state.history.sentPerS, [200, 400, 600, 800]);
    assert.deepEqual(state.history.p99, [3, null, 9, 12], 'a sample without latency leaves a gap');
    assert.equal((await fetch(`${run.url}nope`)).status, 404);
    assert.equal((await fetch(`${run.url}api/state`, { method: 'POST' })).status, 405);
    assert.throws(() => run.push({ ...sample(5, []), intervalMs: 0 }), RangeError);
    const url = new URL(run.url);
    const rebound = await new Promise<number>((resolve, reject) => {
      const req = request(
        { host: url.hostname, port: url.port, path: '/api/state', headers: { host: 'evil.example' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(rebound, 403, 'bound to loopback, a request naming another host is refused');
  });

  test('close ends live streams, so it returns while a page is still open', async () => {
    const other = await startBenchDashboard();
    for (const s of syntheticRun(5)) other.push(s);
    const page = await browser.newPage();
    await page.goto(other.url, { waitUntil: 'load' });
    await page.waitForSelector('#run-state.on');
    const started = Date.now();
    await other.close();
    assert.ok(Date.now() - started < 2_000, 'close did not wait for the page');
    await page.close();
  });
});
