/**
 * `npm run soak -- --minutes 30`: a broker in a child process under a mixed load (bench/lib/soak-load.ts)
 * for a long time. Every sample prints a row and appends it to a CSV: broker RSS and heap (and the heap
 * after a full GC once a minute), external memory (Buffers), event-loop lag, connections, sessions, retained messages, message rates,
 * drops, the store's size on disk, and the clients' end-to-end latency. The summary says whether memory
 * stayed flat. The broker keeps its state with the SQLite store by default, as `starling broker` does.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from './lib/cli-args.js';
import { quantile } from './lib/flood-run.js';
import { launchProbeBroker, type ProbeReport } from './lib/probe-launcher.js';
import { type SoakCounts, SoakLoad } from './lib/soak-load.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    'sample-seconds': { type: 'string', default: '10' },
    csv: { type: 'string' },
    publishers: { type: 'string', default: '20' },
    rate: { type: 'string', default: '40' },
    churn: { type: 'string', default: '5' },
    slow: { type: 'string', default: '2' },
    stalled: { type: 'string', default: '2' },
    seed: { type: 'string', default: '1' },
    store: { type: 'string', default: 'sqlite' },
    help: { type: 'boolean', short: 'h' },
  },
});

const HELP = `Usage: npm run soak -- [options]
  --minutes N          how long (default 30)
  --sample-seconds N   seconds between samples (default 10); the heap after GC is taken once a minute
  --csv FILE           where the samples go (default bench/results/soak-<time>.csv)
  --publishers N       publishing clients (default 20), each at --rate messages/s (default 40), QoS 0/1/2
  --churn N            short-lived clients per second (default 5)
  --slow N             readers that read in bursts (default 2)
  --stalled N          readers that stop reading until disconnected, then return (default 2)
  --seed N             load generator seed (default 1)
  --store sqlite|memory  the SQLite store in a temporary directory (default, as \`starling broker\`) or none
`;

interface Row {
  t: number;
  rssMiB: number;
  heapMiB: number;
  heapAfterGcMiB: number | undefined;
  /** Memory outside the V8 heap that V8 knows of: Buffers (payloads) and other external allocations. */
  externalMiB: number;
  lagP50: number;
  lagP99: number;
  lagMax: number;
  connections: number;
  sessions: number;
  retained: number;
  storeMiB: number | undefined;
  inPerS: number;
  outPerS: number;
  dropped: number;
  e2eP50: number;
  e2eP99: number;
  slowDisconnects: number;
  churnConnects: number;
}

const COLUMNS: (keyof Row)[] = [
  't',
  'rssMiB',
  'heapMiB',
  'heapAfterGcMiB',
  'externalMiB',
  'lagP50',
  'lagP99',
  'lagMax',
  'connections',
  'sessions',
  'retained',
  'storeMiB',
  'inPerS',
  'outPerS',
  'dropped',
  'e2eP50',
  'e2eP99',
  'slowDisconnects',
  'churnConnects',
];

const mib = (bytes: number): number => bytes / 1024 / 1024;
const fmt = (value: number | undefined, digits = 1): string =>
  value === undefined || Number.isNaN(value) ? '' : value.toFixed(digits);

/** Least-squares slope of y over x. */
function slope(points: readonly [number, number][]): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const num = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const den = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return den === 0 ? Number.NaN : num / den;
}

async function main(): Promise<number> {
  if (values.help === true) {
    process.stdout.write(HELP);
    return 0;
  }
  const minutes = Number(values.minutes);
  const sampleMs = Number(values['sample-seconds']) * 1000;
  const csv = values.csv ?? `bench/results/soak-${new Date().toISOString().replaceAll(':', '-')}.csv`;
  mkdirSync(dirname(csv), { recursive: true });
  writeFileSync(csv, `${COLUMNS.join(',')}\n`);
  const store = values.store;
  if (store !== 'sqlite' && store !== 'memory') {
    console.error(`soak: --store must be sqlite or memory, not '${store}'`);
    return 2;
  }
  const broker = await launchProbeBroker({ store });
  const load = new SoakLoad({
    port: broker.port,
    seed: Number(values.seed),
    publishers: Number(values.publishers),
    publishRate: Number(values.rate),
    churnPerSecond: Number(values.churn),
    slowReaders: Number(values.slow),
    stalledReaders: Number(values.stalled),
  });
  console.log(
    `soak: ${minutes} min; ${values.publishers} publishers x ${values.rate} msg/s (QoS 0/1/2, 5% retained), ` +
      `6 wildcard + 3 shared subscribers, ${values.churn} short-lived clients/s, ${values.slow} slow + ${values.stalled} stalled readers, ${store} store; samples in ${csv}`,
  );
  const rows: Row[] = [];
  let counts: SoakCounts | undefined;
  const started = performance.now();
  let previous: ProbeReport | undefined;
  let previousAt = started;
  let crashed = false;
  try {
    await load.start();
    broker.resetLag();
    console.log(COLUMNS.map((c) => c.padStart(c.length < 8 ? 8 : c.length)).join(' '));
    for (let i = 1; performance.now() - started < minutes * 60_000; i++) {
      await new Promise((resolve) => setTimeout(resolve, sampleMs));
      if (broker.crashed() !== undefined) {
        crashed = true;
        break;
      }
      const withGc = (i * sampleMs) % 60_000 < sampleMs;
      const probe = await broker.probe({ gc: withGc });
      const now = performance.now();
      const seconds = (now - previousAt) / 1000;
      const latencies = load.takeLatencies().sort((a, b) => a - b);
      const row: Row = {
        t: Math.round((now - started) / 1000),
        rssMiB: mib(probe.rss),
        heapMiB: mib(probe.heapUsed),
        heapAfterGcMiB: withGc ? mib(probe.heapUsed) : undefined,
        externalMiB: mib(probe.external),
        lagP50: probe.lagP50,
        lagP99: probe.lagP99,
        lagMax: probe.lagMax,
        connections: probe.connections,
        sessions: probe.sessions,
        retained: probe.retained,
        storeMiB: probe.storeBytes === undefined ? undefined : mib(probe.storeBytes),
        inPerS: (probe.messagesReceived - (previous?.messagesReceived ?? 0)) / seconds,
        outPerS: (probe.messagesSent - (previous?.messagesSent ?? 0)) / seconds,
        dropped: probe.dropped,
        e2eP50: quantile(latencies, 0.5),
        e2eP99: quantile(latencies, 0.99),
        slowDisconnects: load.counts.slowReaderDisconnects,
        churnConnects: load.counts.churnConnects,
      };
      rows.push(row);
      previous = probe;
      previousAt = now;
      const cells = COLUMNS.map((c) => {
        const v = row[c];
        return typeof v === 'number' ? (Number.isInteger(v) ? String(v) : fmt(v)) : '';
      });
      console.log(
        cells.map((cell, k) => cell.padStart(Math.max(8, (COLUMNS[k] as string).length))).join(' '),
      );
      writeFileSync(csv, `${cells.join(',')}\n`, { flag: 'a' });
    }
    // Counted before stopping: ending the clients fails their publishes still in flight.
    counts = structuredClone(load.counts);
  } finally {
    await load.stop();
    await broker.stop();
  }
  return summarize(rows, counts ?? load.counts, crashed, broker.crashed()?.stderr);
}

function summarize(
  rows: readonly Row[],
  c: SoakCounts,
  crashed: boolean,
  stderr: string | undefined,
): number {
  console.log('');
  if (crashed) {
    console.log(`BROKER CRASHED\n${stderr}`);
    return 1;
  }
  const gc = rows.filter((r) => r.heapAfterGcMiB !== undefined);
  // The first minute is warm-up (JIT, buffers, retained store filling up); judge from then on.
  const settled = rows.filter((r) => r.t >= 60);
  const rssSlope = slope(settled.map((r) => [r.t / 60, r.rssMiB]));
  const heapSlope = slope(gc.filter((r) => r.t >= 60).map((r) => [r.t / 60, r.heapAfterGcMiB as number]));
  const first = gc.find((r) => r.t >= 60) ?? gc[0];
  const last = gc.at(-1);
  console.log(
    `published ${c.published.join('/')} (QoS 0/1/2), publish errors ${c.publishErrors}, received ${c.received}, ` +
      `shared group split ${c.sharedReceived.join('/')}, churn ${c.churnConnects} connects (${c.churnFailures} failed), ` +
      `slow readers disconnected ${c.slowReaderDisconnects} times, client errors ${c.clientErrors}`,
  );
  if (first !== undefined && last !== undefined) {
    console.log(
      `heap after GC: ${fmt(first.heapAfterGcMiB)} MiB at ${first.t} s -> ${fmt(last.heapAfterGcMiB)} MiB at ${last.t} s ` +
        `(slope ${fmt(heapSlope * 1024, 0)} KiB/min)`,
    );
  }
  const rssFirst = settled[0];
  const rssLast = settled.at(-1);
  if (rssFirst !== undefined && rssLast !== undefined) {
    console.log(
      `RSS: ${fmt(rssFirst.rssMiB)} MiB at ${rssFirst.t} s -> ${fmt(rssLast.rssMiB)} MiB at ${rssLast.t} s ` +
        `(slope ${fmt(rssSlope * 1024, 0)} KiB/min), max ${fmt(Math.max(...rows.map((r) => r.rssMiB)))} MiB`,
    );
  }
  const stored = settled.filter((r) => r.storeMiB !== undefined);
  const storeFirst = stored[0];
  const storeLast = stored.at(-1);
  if (storeFirst !== undefined && storeLast !== undefined) {
    console.log(
      `store on disk: ${fmt(storeFirst.storeMiB)} MiB at ${storeFirst.t} s -> ${fmt(storeLast.storeMiB)} MiB at ` +
        `${storeLast.t} s, max ${fmt(Math.max(...stored.map((r) => r.storeMiB ?? 0)))} MiB`,
    );
  }
  console.log(
    `event-loop lag: worst p99 ${fmt(Math.max(...rows.map((r) => r.lagP99)))} ms, worst max ${fmt(Math.max(...rows.map((r) => r.lagMax)))} ms; ` +
      `end-to-end p99 worst ${fmt(Math.max(...rows.map((r) => r.e2eP99).filter((v) => !Number.isNaN(v))))} ms`,
  );
  const points = gc.filter((r) => r.t >= 60).length;
  if (points < 3) {
    console.log(
      `memory: too short to judge (${points} heap-after-GC samples past the first minute; 3 needed)`,
    );
    return 0;
  }
  const flat = heapSlope * 1024 < 256;
  console.log(flat ? 'memory: flat' : 'memory: GROWING (heap after GC rises more than 256 KiB/min)');
  return flat ? 0 : 1;
}

process.exitCode = await main();
