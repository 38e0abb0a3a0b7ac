/**
 * `npm run fuzz -- --frames N`: the long fuzz (see bench/lib/fuzz-run.ts). Prints one line per batch and a
 * summary with every distinct crash or hang; for each distinct crash it replays the sessions that were live
 * alone, and shrinks the first that crashes by itself to its shortest crashing prefix (printed in hex).
 * Exits 1 on a crash, a hang or a suspected leak. `--replay DIR` triages an existing dump.
 */
import { parseArgs } from './lib/cli-args.js';
import { triageDump } from './lib/fuzz-replay.js';
import { type BatchReport, type Finding, FUZZ_BROKER_DEFAULTS, runFuzz } from './lib/fuzz-run.js';
import type { ProbeBrokerOptions } from './lib/probe-launcher.js';
import { type RedisProc, startRedis } from './lib/redis-process.js';

const { values } = parseArgs({
  options: {
    frames: { type: 'string', default: '1000000' },
    batch: { type: 'string', default: '500000' },
    concurrency: { type: 'string', default: '48' },
    seed: { type: 'string' },
    'corpus-per-type': { type: 'string', default: '120' },
    'leak-threshold-mib': { type: 'string', default: '8' },
    'crash-dir': { type: 'string', default: 'fuzz-findings' },
    'no-triage': { type: 'boolean', default: false },
    replay: { type: 'string' },
    store: { type: 'string', default: 'sqlite' },
    nodes: { type: 'string', default: '1' },
    help: { type: 'boolean', short: 'h' },
  },
});

const HELP = `Usage: npm run fuzz -- [options]
  --frames N               frames to send in all (default 1000000)
  --batch N                frames per batch; liveness and memory are checked after each (default 500000)
  --concurrency N          sessions at once (default 48)
  --seed N                 generator seed (default: time); sessions are reproducible from their seeds
  --corpus-per-type N      valid packets sampled per type and protocol level (default 120)
  --leak-threshold-mib N   heap growth after GC counted as a leak (default 8)
  --crash-dir DIR          where crash/hang reproductions go (default fuzz-findings)
  --no-triage              do not replay crash dumps at the end
  --replay DIR             only triage an existing crash dump: which sessions crash alone, shortest prefix
  --store sqlite|memory|redis  where the broker keeps its state: the SQLite store in a fresh temporary
                           directory (what \`starling broker\` runs with, the default), memory only, or
                           Redis as a cluster node (a redis-server started on a free loopback port)
  --nodes 1|2              with --store redis: 2 runs a second node on the same Redis that takes every
                           other session, so fuzzed traffic crosses between the nodes (default 1)
`;
const STORES = ['sqlite', 'memory', 'redis'] as const;
type Store = (typeof STORES)[number];
const isStore = (text: string): text is Store => (STORES as readonly string[]).includes(text);

const mib = (bytes: number | undefined): string =>
  bytes === undefined ? '-' : (bytes / 1024 / 1024).toFixed(1);

function batchLine(b: BatchReport): string {
  return [
    `batch ${String(b.index + 1).padStart(3)}`,
    `broker #${b.lifetime}`,
    `${b.frames} frames`,
    `${b.sessions} sessions (${b.closedByBroker} closed by broker)`,
    `${Math.round((b.frames / b.elapsedMs) * 1000)} frames/s`,
    `heap ${mib(b.heapUsed)} MiB`,
    `rss ${mib(b.rss)} MiB`,
    `rt ${b.roundTripMs.map((ms) => ms.toFixed(1)).join('/') || '-'} ms`,
    ...(b.peerRoundTripMs.length > 0
      ? [`peer rt ${b.peerRoundTripMs.map((ms) => ms.toFixed(1)).join('/')} ms`]
      : []),
    `lag max ${b.lagMaxMs?.toFixed(0) ?? '-'} ms`,
    `logged errors ${b.errorsLogged ?? '-'}`,
  ].join('  ');
}

async function triage(dir: string, broker: ProbeBrokerOptions): Promise<void> {
  console.log(`triage ${dir}: replaying each session alone...`);
  const result = await triageDump(dir, { ...FUZZ_BROKER_DEFAULTS, ...broker });
  if (result.minimal === undefined) {
    console.log(
      '  no session crashes a fresh broker on its own (the crash needs several connections or timing)',
    );
    return;
  }
  console.log(`  crash alone: ${result.culprits.join(', ')}`);
  console.log(`  shortest crashing prefix (${result.minimal.length} bytes, in minimal.bin):`);
  console.log(`  ${result.minimal.toString('hex').replace(/(..)(?!$)/g, '$1 ')}`);
}

async function main(): Promise<number> {
  if (values.help === true) {
    process.stdout.write(HELP);
    return 0;
  }
  const store = values.store;
  if (!isStore(store)) {
    console.error(`fuzz: --store must be one of ${STORES.join(', ')}, not '${store}'`);
    return 2;
  }
  const nodes = values.nodes;
  if (nodes !== '1' && nodes !== '2') {
    console.error(`fuzz: --nodes must be 1 or 2, not '${nodes}'`);
    return 2;
  }
  if (nodes === '2' && store !== 'redis') {
    console.error('fuzz: --nodes 2 needs --store redis (the nodes of a cluster share a Redis)');
    return 2;
  }
  let redis: RedisProc | undefined;
  try {
    let broker: ProbeBrokerOptions = { store: 'memory' };
    if (store === 'sqlite') broker = { store };
    if (store === 'redis') {
      redis = await startRedis();
      broker = { cluster: { url: redis.url, nodeId: 'fuzz' } };
    }
    return await fuzz(broker, store, nodes === '2' ? 2 : 1);
  } finally {
    await redis?.stop();
  }
}

async function fuzz(broker: ProbeBrokerOptions, store: Store, nodes: 1 | 2): Promise<number> {
  if (values.replay !== undefined) {
    await triage(values.replay, broker);
    return 0;
  }
  const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);
  const frames = Number(values.frames);
  const batchFrames = Math.min(Number(values.batch), frames);
  console.log(
    `fuzz: ${frames} frames in batches of ${batchFrames}, ${values.concurrency} sessions at once, seed ${seed}, ` +
      `${store} store${nodes === 2 ? ', 2 nodes' : ''}`,
  );
  const report = await runFuzz({
    frames,
    batchFrames,
    concurrency: Number(values.concurrency),
    seed,
    corpusPerType: Number(values['corpus-per-type']),
    leakThresholdBytes: Number(values['leak-threshold-mib']) * 1024 * 1024,
    crashDir: values['crash-dir'],
    broker,
    nodes,
    onBatch: (batch) => console.log(batchLine(batch)),
    onFinding: (f) =>
      console.log(`  ${f.kind.toUpperCase()} in batch ${f.batch + 1}: ${f.signature} (dump: ${f.dumpDir})`),
  });
  console.log(`corpus: ${report.corpus}`);
  const seconds = report.elapsedMs / 1000;
  console.log(
    `frames ${report.frames}  bytes ${mib(report.bytes)} MiB  sessions ${report.sessions}  ` +
      `in ${seconds.toFixed(0)} s (${Math.round(report.frames / seconds)} frames/s)`,
  );
  const measured = report.batches.filter((b) => b.heapUsed !== undefined);
  const first = measured[0];
  const last = measured.at(-1);
  if (first !== undefined && last !== undefined) {
    console.log(
      `heap after GC: first batch ${mib(first.heapUsed)} MiB, last ${mib(last.heapUsed)} MiB; ` +
        `growth in the longest broker lifetime ${mib(report.heapGrowth)} MiB${report.leakSuspected ? '  LEAK SUSPECTED' : ''}; ` +
        `rss ${mib(first.rss)} -> ${mib(last.rss)} MiB`,
    );
  }
  const peerMeasured = report.batches.filter((b) => b.peerHeapUsed !== undefined);
  const peerFirst = peerMeasured[0];
  const peerLast = peerMeasured.at(-1);
  if (report.peerHeapGrowth !== undefined && peerFirst !== undefined && peerLast !== undefined) {
    console.log(
      `peer node heap after GC: first batch ${mib(peerFirst.peerHeapUsed)} MiB, last ${mib(peerLast.peerHeapUsed)} MiB; ` +
        `growth in its longest lifetime ${mib(report.peerHeapGrowth)} MiB`,
    );
  }
  const reload = report.reload;
  if (reload !== undefined) {
    console.log(
      `kill -9 in batch ${reload.batch + 1} after ${reload.framesBeforeKill} frames: restarted on its data in ` +
        `${reload.startMs.toFixed(0)} ms, ${reload.sessionsLoaded} sessions and ${reload.retainedLoaded} ` +
        'retained messages loaded',
    );
  }
  const crashes = report.findings.filter((f) => f.kind === 'crash');
  const hangs = report.findings.filter((f) => f.kind === 'hang');
  console.log(
    `crashes: ${crashes.length}  hangs: ${hangs.length}  errors the broker caught and logged: ${report.errorsLogged}`,
  );
  const distinct = new Map<string, Finding[]>();
  for (const f of report.findings) distinct.set(f.signature, [...(distinct.get(f.signature) ?? []), f]);
  for (const [signature, list] of distinct) {
    console.log(`  ${list.length} x ${list[0]?.kind}: ${signature}`);
  }
  for (const sample of report.errorSamples)
    console.log(`  logged: ${sample.split('\n').slice(0, 6).join('\n    ')}`);
  if (values['no-triage'] !== true) {
    for (const list of distinct.values()) {
      const dir = list[0]?.kind === 'crash' ? list[0].dumpDir : undefined;
      if (dir !== undefined) await triage(dir, broker);
    }
  }
  return report.findings.length > 0 || report.leakSuspected ? 1 : 0;
}

process.exitCode = await main();
