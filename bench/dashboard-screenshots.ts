/**
 * Screenshots of both dashboards for the README, taken in headless Chromium:
 * - docs/dashboard-broker.png: a real broker (today's engine through the legacy AdminPort) with MQTT.js
 *   clients publishing at QoS 0 and 1 for a few seconds, sampled every 250 ms so the short run draws curves;
 * - docs/dashboard-bench.png: the load-run dashboard fed a synthetic run (a ramp-up, three agents, one lost),
 *   since this is a picture of the page, not of a measurement; its title says so.
 * Run: `npm run screenshots` (build, then `node dist/bench/dashboard-screenshots.js docs`). The dashboard
 * tests run it into a temporary directory with a shorter run.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { chromium } from 'playwright-core';
import { startBenchDashboard } from '../src/dashboard/bench-dashboard.js';
import type { BenchLiveSample } from '../src/dashboard/bench-live.js';
import { Broker } from '../src/index.js';

export interface ScreenshotOptions {
  /** How long the broker carries traffic before its picture is taken, ms. Default 8000. */
  readonly trafficMs?: number;
  readonly chromiumPath?: string;
}

const VIEWPORT = { width: 1400, height: 1000 };
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Take both screenshots into `outDir`; resolves to the PNG paths (broker first). */
export async function takeDashboardScreenshots(
  outDir: string,
  options: ScreenshotOptions = {},
): Promise<string[]> {
  mkdirSync(outDir, { recursive: true });
  const browser = await chromium.launch({
    executablePath: options.chromiumPath ?? '/usr/bin/chromium',
    timeout: 20_000,
    args: CHROMIUM_ARGS,
  });
  try {
    const broker = await brokerScreenshot(
      browser,
      join(outDir, 'dashboard-broker.png'),
      options.trafficMs ?? 8000,
    );
    const bench = await benchScreenshot(browser, join(outDir, 'dashboard-bench.png'));
    return [broker, bench];
  } finally {
    await browser.close();
  }
}

type Chromium = Awaited<ReturnType<typeof chromium.launch>>;

async function brokerScreenshot(browser: Chromium, file: string, trafficMs: number): Promise<string> {
  const broker = new Broker({ sysInterval: 0, dashboard: { stats: { intervalMs: 250 } } });
  const tcp = await broker.listen({ host: '127.0.0.1', port: 0 });
  const http = await broker.addListener({ type: 'http', host: '127.0.0.1', port: 0 });
  if (typeof tcp === 'string' || typeof http === 'string') throw new Error('expected TCP addresses');
  const clients: MqttClient[] = [];
  const timers: NodeJS.Timeout[] = [];
  try {
    const url = `mqtt://127.0.0.1:${tcp.port}`;
    for (let i = 0; i < 6; i++) {
      const client = await mqtt.connectAsync(url, {
        clientId: `sensor-${i + 1}`,
        reconnectPeriod: 0,
        protocolVersion: i % 2 === 0 ? 5 : 4,
      });
      await client.subscribeAsync(`plant/line-${(i % 3) + 1}/#`, { qos: 1 });
      await client.publishAsync(`plant/line-${(i % 3) + 1}/status`, 'running', { retain: true, qos: 1 });
      clients.push(client);
    }
    const page = await browser.newPage({ viewport: VIEWPORT });
    await page.goto(`http://127.0.0.1:${http.port}/`, { waitUntil: 'load' });
    const started = Date.now();
    // The load swells and ebbs over the run, so the curves have a shape.
    clients.forEach((client, i) => {
      timers.push(
        setInterval(() => {
          const phase = (Date.now() - started) / trafficMs;
          const burst = Math.round(2 + 6 * Math.sin(Math.PI * phase) ** 2);
          for (let n = 0; n < burst; n++)
            client.publish(`plant/line-${(i % 3) + 1}/temp`, String(20 + n), { qos: n % 3 === 0 ? 1 : 0 });
        }, 15),
      );
    });
    await new Promise((r) => setTimeout(r, trafficMs));
    for (const timer of timers) clearInterval(timer);
    await page.waitForSelector('#live-state.on');
    await page.screenshot({ path: file, fullPage: true });
    await page.close();
    return file;
  } finally {
    for (const timer of timers) clearInterval(timer);
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await broker.close();
  }
}

async function benchScreenshot(browser: Chromium, file: string): Promise<string> {
  const run = await startBenchDashboard({ title: 'fan-in, 3 agents (synthetic samples)' });
  try {
    const page = await browser.newPage({ viewport: VIEWPORT });
    await page.goto(run.url, { waitUntil: 'load' });
    for (const sample of syntheticRun(90)) run.push(sample);
    run.finish('90 s, 3 agents; agent-3 lost at 70 s. (Synthetic samples: a picture of the page.)');
    await page.waitForSelector('#run-state.done');
    await page.screenshot({ path: file, fullPage: true });
    await page.close();
    return file;
  } finally {
    await run.close();
  }
}

/** A made-up run: throughput ramps up over 10 s, latency rises with load, agent-3 drops out at 70 s. */
export function syntheticRun(seconds: number): BenchLiveSample[] {
  const start = Date.UTC(2025, 0, 1, 12, 0, 0);
  const totals = [0, 0, 0].map(() => ({ sent: 0, received: 0, errors: 0 }));
  const samples: BenchLiveSample[] = [];
  for (let s = 1; s <= seconds; s++) {
    const ramp = Math.min(1, s / 10);
    const wave = 1 + 0.08 * Math.sin(s / 4);
    const lost = s >= 70;
    const perAgent = Math.round(4000 * ramp * wave);
    let sent = 0;
    let received = 0;
    let errors = 0;
    totals.forEach((total, i) => {
      if (i === 2 && lost) return;
      const agentErrors = i === 2 && s === 69 ? 40 : s % 29 === 0 ? 3 : 0;
      total.sent += perAgent;
      total.received += perAgent - agentErrors;
      total.errors += agentErrors;
      sent += perAgent;
      received += perAgent - agentErrors;
      errors += agentErrors;
    });
    const load = sent / 12_000;
    samples.push({
      at: start + s * 1000,
      elapsedMs: s * 1000,
      intervalMs: 1000,
      sent,
      received,
      errors,
      connected: lost ? 200 : 300,
      latencyMs: {
        p50: 1.2 + 0.8 * load,
        p90: 2.5 + 2 * load,
        p99: 5 + 6 * load + (s % 17 === 0 ? 8 : 0),
        p999: 9 + 12 * load + (s % 17 === 0 ? 20 : 0),
        max: 14 + 20 * load + (s % 17 === 0 ? 35 : 0),
      },
      agents: totals.map((total, i) => ({
        name: `agent-${i + 1}`,
        ...total,
        connected: i === 2 && lost ? 0 : 100,
        state: i === 2 && lost ? 'lost' : s === seconds ? 'done' : 'running',
      })),
    });
  }
  return samples;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outDir = process.argv[2] ?? 'docs';
  takeDashboardScreenshots(outDir).then(
    (files) => process.stdout.write(`${files.join('\n')}\n`),
    (err: unknown) => {
      process.stderr.write(`screenshots failed: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
