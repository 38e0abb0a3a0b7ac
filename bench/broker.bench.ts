/**
 * Starling vs Mosquitto vs Aedes: the same workloads against each broker in one run, each broker in its
 * own process on loopback, the load generator in this one.
 *
 *   npm run bench                                   (build, then node dist/bench/broker.bench.js)
 *   node --import tsx bench/broker.bench.ts          (from source)
 *
 * Flags: `--quick` (a fifth of the messages), `--scale F` (F times the messages, for steadier figures), `--only <names>` (comma-separated workload names or
 * prefixes, e.g. `pairs-qos0,fanout`), `--brokers starling,mosquitto,aedes`, `--repeat N` (whole run N
 * times, brokers interleaved per workload, summary with min..max), `--time-limit S` (per workload,
 * default 60), `--profile DIR` (V8 CPU profile of the Starling process), `--mosquitto-nodelay` (Mosquitto
 * with `set_tcp_nodelay true`; default is its shipped config, Nagle on), `--out FILE` (JSON result,
 * default bench/results/latest.json). `--cluster` runs the cluster benchmark instead (bench/cluster.bench.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, resolve } from 'node:path';
import { type BrokerName, launchBroker, mosquittoPath, mosquittoVersion } from './lib/brokers.js';
import { parseArgs } from './lib/cli-args.js';
import { type RunLimits, runWorkload, type WorkloadResult } from './lib/load.js';
import { summaryTable, workloadTable } from './lib/report.js';
import { DURABLE_BROKERS, workloads } from './lib/workloads.js';

// `npm run bench -- --cluster`: the cluster benchmark instead (bench/cluster.bench.ts).
if (process.argv.includes('--cluster')) {
  const { runClusterBenchmark } = await import('./cluster.bench.js');
  await runClusterBenchmark(process.argv.slice(2).filter((arg) => arg !== '--cluster'));
  process.exit(0);
}

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    scale: { type: 'string', default: '1' },
    only: { type: 'string' },
    brokers: { type: 'string', default: 'starling,mosquitto,aedes' },
    repeat: { type: 'string', default: '1' },
    'time-limit': { type: 'string', default: '60' },
    profile: { type: 'string' },
    'mosquitto-nodelay': { type: 'boolean', default: false },
    out: { type: 'string', default: 'bench/results/latest.json' },
  },
});

// Exit through process.exit so the launcher's exit cleanups stop any broker still running.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

const quick = values.quick === true;
const factor = Number(values.scale);
if (!(factor > 0 && factor <= 100)) {
  console.error(`--scale must be a number above 0 and at most 100 (got ${values.scale})`);
  process.exit(2);
}
const repeat = Math.max(1, Math.min(20, Number(values.repeat) || 1));
const limits: RunLimits = {
  timeLimitMs: Math.max(1, Number(values['time-limit']) || 60) * 1000,
  stallMs: 5_000,
};
const known: readonly BrokerName[] = [
  'starling',
  'starling-sqlite',
  'mosquitto',
  'mosquitto-persist',
  'aedes',
];
const requested = (values.brokers ?? '').split(',').map((b) => b.trim());
const unknownBroker = requested.find((b) => !known.includes(b as BrokerName));
if (unknownBroker !== undefined)
  throw new Error(`unknown broker ${unknownBroker}; known: ${known.join(', ')}`);
let brokers = requested as BrokerName[];
const mosquittoBinary = mosquittoPath();
if (brokers.includes('mosquitto') && mosquittoBinary === undefined) {
  console.log('note: mosquitto is not installed (apt-get install -y mosquitto); skipping it');
  brokers = brokers.filter((b) => b !== 'mosquitto');
}

const filters = values.only?.split(',').map((f) => f.trim()) ?? [];
const allNames = workloads(quick, factor).map((w) => w.name);
// An exact name selects only that workload (`pairs-qos1-n10` is also a prefix of `pairs-qos1-n100`).
const selected = workloads(quick, factor).filter(
  (w) =>
    filters.length === 0 ||
    filters.some((f) => w.name === f || (!allNames.includes(f) && w.name.startsWith(f))),
);
if (selected.length === 0) {
  throw new Error(`--only matched no workload; workloads: ${allNames.join(', ')}`);
}

const profileDir = values.profile === undefined ? undefined : resolve(values.profile);
const launchOptions = {
  mosquittoNoDelay: values['mosquitto-nodelay'] === true,
  ...(profileDir === undefined ? {} : { profileDir }),
};
console.log(
  `broker benchmark: ${selected.length} workloads x ${brokers.join(', ')}${quick ? ' (quick)' : ''}, ` +
    `${repeat} run(s); node ${process.version}, ${os.cpus().length} cpus, load ${os.loadavg()[0]?.toFixed(2)}`,
);

const runs: WorkloadResult[][] = [];
for (let run = 0; run < repeat; run++) {
  const results: WorkloadResult[] = [];
  for (const workload of selected) {
    const row: WorkloadResult[] = [];
    // Persistent workloads compare Starling in memory, Starling with SQLite and Mosquitto with persistence.
    const against =
      workload.persistent === true
        ? DURABLE_BROKERS.filter((b) => b !== 'mosquitto-persist' || mosquittoBinary !== undefined)
        : workload.subscriberV5 !== undefined
          ? brokers.filter((b) => b !== 'aedes') // Aedes 1.2 speaks MQTT 3.1.1 only
          : brokers;
    for (const name of against) {
      const broker = await launchBroker(name, launchOptions);
      try {
        row.push(await runWorkload(workload, name, broker.port, broker.pid, limits, broker.crashed));
      } finally {
        await broker.stop();
      }
    }
    console.log(`\n${repeat > 1 ? `[run ${run + 1}] ` : ''}${workload.title}`);
    console.log(
      workloadTable('', row, workload.persistent === true ? 'starling-sqlite' : 'starling').trimStart(),
    );
    results.push(...row);
  }
  runs.push(results);
}

if (repeat > 1) {
  console.log(`\nsummary over ${repeat} runs`);
  console.log(
    summaryTable(
      runs,
      selected.some((w) => w.persistent === true) ? [...new Set([...brokers, ...DURABLE_BROKERS])] : brokers,
      selected.map((w) => w.name),
    ),
  );
}

const outPath = resolve(values.out ?? 'bench/results/latest.json');
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(
  outPath,
  `${JSON.stringify(
    {
      date: new Date().toISOString(),
      node: process.version,
      cpus: os.cpus().length,
      loadAverage: os.loadavg(),
      mosquitto: mosquittoBinary === undefined ? null : mosquittoVersion(mosquittoBinary),
      quick,
      mosquittoNoDelay: launchOptions.mosquittoNoDelay,
      workloads: selected,
      runs,
    },
    null,
    2,
  )}\n`,
);
console.log(`\nresults: ${outPath}`);
