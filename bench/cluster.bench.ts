/**
 * The cluster benchmark: one plain broker (no cluster), then 1, 2 and 3 cluster nodes on one Redis, each
 * node and Redis in its own process, the load generator in this one. Workloads: cross-node fan-in and
 * fan-out at QoS 0 and 1, as fast as a window allows (throughput), and fan-in at a fixed rate (latency at
 * that rate). Reports delivered msgs/s, p50/p99 end-to-end latency (at a fixed rate, after the first second,
 * as the broker benchmark's paced row; the whole run's p99 beside it), the CPU of Redis and of the nodes, and the
 * commands Redis ran per message published (`INFO commandstats`; the JSON result has them by command).
 *
 *   npm run bench -- --cluster [--nodes 1,2,3] [--quick] [--scale F] [--rate 10000] [--window 1000]
 *                              [--only NAMES] [--links on|off] [--out FILE]
 *
 * `--links off`: the nodes run without their direct links (`cluster.link: false`), every cross-node message
 * through Redis, to compare.
 *
 * `--window N`: messages a publisher of the throughput rows has sent and not yet seen delivered (default
 * 1000, about the broker's Receive Maximum of 1024: what one v5 client may have in flight). A window too
 * small for the path measures its latency instead (Little's law: one fan-out publisher with 200 in flight
 * and 2.3 ms from publish to delivery across nodes cannot pass 85 000 msg/s, whatever the nodes could take).
 *
 * `--scale F` multiplies the message counts: the default, 5, runs 500 000 messages per throughput row and
 * 25 s per rate row (at scale 1 a row lasts about a second, mostly warm-up); `--quick` alone means scale 1,
 * at a fifth of the messages.
 *   node --import tsx bench/cluster.bench.ts    (from source)
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BROKER_NODE_FLAGS } from '../src/server/node-flags.js';
import { processCpuMs } from './lib/brokers.js';
import { parseArgs } from './lib/cli-args.js';
import { type ClusterRunResult, type ClusterWorkload, runClusterWorkload } from './lib/cluster-load.js';
import { type Proc, startRedis, stopChild } from './lib/redis-process.js';

const FROM_SOURCE = import.meta.url.endsWith('.ts');

interface Row extends ClusterRunResult {
  setup: string;
  workload: string;
  redisCpuPct: number;
  nodesCpuPct: number;
  /** Commands Redis ran per message published (each crossing nodes once or more), and the busiest ones. */
  redisCommandsPerMessage: number;
  redisCommands: Record<string, number>;
}

/** Run the benchmark with these arguments (those of `npm run bench -- --cluster ...`, `--cluster` removed). */
export async function runClusterBenchmark(args: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      nodes: { type: 'string', default: '1,2,3' },
      quick: { type: 'boolean', default: false },
      scale: { type: 'string' },
      only: { type: 'string' },
      rate: { type: 'string', default: '10000' },
      window: { type: 'string', default: '1000' },
      links: { type: 'string', default: 'on' },
      out: { type: 'string', default: 'bench/results/cluster-latest.json' },
    },
  });
  const quick = values.quick === true;
  if (values.links !== 'on' && values.links !== 'off') {
    console.error(`--links must be on or off (got ${values.links})`);
    process.exit(2);
  }
  // The nodes' direct links (default on); off: every cross-node message through Redis, as before them.
  if (values.links === 'off') process.env.STARLING_BENCH_LINK = 'off';
  const rate = Math.max(100, Number(values.rate) || 10_000);
  const window = Number(values.window);
  if (!Number.isInteger(window) || window < 1 || window > 65_535) {
    console.error(`--window must be an integer from 1 to 65535 (got ${values.window})`);
    process.exit(2);
  }
  const counts = (values.nodes ?? '1,2,3')
    .split(',')
    .map(Number)
    .filter((n) => n >= 1 && n <= 8);
  const factor = values.scale === undefined ? (quick ? 1 : 5) : Number(values.scale);
  if (!(factor > 0 && factor <= 100)) {
    console.error(`--scale must be a number above 0 and at most 100 (got ${values.scale})`);
    process.exit(2);
  }
  const scale = (n: number): number => Math.max(100, Math.round((quick ? n / 5 : n) * factor));
  const workloads: ClusterWorkload[] = [];
  for (const qos of [0, 1] as const) {
    workloads.push({
      name: `fanin-q${qos}`,
      kind: 'fanin',
      qos,
      publishers: 4,
      subscribers: 1,
      messages: scale(25_000),
      rate: undefined,
      window,
    });
    workloads.push({
      name: `fanout-q${qos}`,
      kind: 'fanout',
      qos,
      publishers: 1,
      subscribers: 4,
      messages: scale(25_000),
      rate: undefined,
      window,
    });
    workloads.push({
      name: `fanin-q${qos}@${rate}/s`,
      kind: 'fanin',
      qos,
      publishers: 4,
      subscribers: 1,
      messages: Math.round((rate * (quick ? 2 : 5) * factor) / 4),
      rate,
      window: 10_000,
    });
  }
  const only = values.only?.split(',').map((n) => n.trim());
  if (only !== undefined) {
    const names = workloads.map((w) => w.name);
    const unknown = only.filter((n) => !names.includes(n));
    if (unknown.length > 0) {
      console.error(`--only: no workload ${unknown.join(', ')}; workloads: ${names.join(', ')}`);
      process.exit(2);
    }
    workloads.splice(0, workloads.length, ...workloads.filter((w) => only.includes(w.name)));
  }
  console.log(
    `cluster benchmark: node ${process.version}, ${os.cpus().length} cpus, load ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}; throughput rows with ${window} messages in flight per publisher`,
  );
  const rows: Row[] = [];
  const setups: { name: string; nodes: number; cluster: boolean }[] = [
    { name: 'plain (no cluster)', nodes: 1, cluster: false },
    ...counts.map((n) => ({ name: `${n} node${n > 1 ? 's' : ''}`, nodes: n, cluster: true })),
  ];
  for (const setup of setups) {
    for (const workload of workloads) {
      // A fresh Redis and fresh nodes per run: nothing left from the previous workload.
      const redis = setup.cluster ? await startRedis() : undefined;
      const nodes = await Promise.all(
        Array.from({ length: setup.nodes }, (_, i) => startNode(redis?.url, `n${i}`)),
      );
      try {
        const cpu0 = [redis?.pid, ...nodes.map((n) => n.pid)].map((pid) =>
          pid === undefined ? 0 : processCpuMs(pid),
        );
        await redis?.resetStats();
        const wall0 = performance.now();
        const result = await runClusterWorkload(
          nodes.map((n) => n.port),
          workload,
        );
        const wall = performance.now() - wall0;
        const cpu1 = [redis?.pid, ...nodes.map((n) => n.pid)].map((pid) =>
          pid === undefined ? 0 : processCpuMs(pid),
        );
        const pct = (i: number): number => (((cpu1[i] as number) - (cpu0[i] as number)) / wall) * 100;
        const commands = (await redis?.commandCounts()) ?? {};
        const published = result.delivered / workload.subscribers;
        const total = Object.values(commands).reduce((sum, n) => sum + n, 0);
        const row: Row = {
          setup: setup.name,
          workload: workload.name,
          ...result,
          redisCpuPct: redis === undefined ? 0 : pct(0),
          nodesCpuPct: nodes.reduce((sum, _, i) => sum + pct(i + 1), 0),
          redisCommandsPerMessage: published > 0 ? total / published : 0,
          redisCommands: commands,
        };
        rows.push(row);
        console.log(format(row));
      } finally {
        await Promise.all(nodes.map((n) => n.stop()));
        await redis?.stop();
      }
    }
  }
  printRatios(rows);
  const outPath = resolve(values.out ?? 'bench/results/cluster-latest.json');
  mkdirSync(dirname(outPath), { recursive: true });
  writeFileSync(
    outPath,
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, loadAverage: os.loadavg(), rows }, null, 2)}\n`,
  );
  console.log(`\nresults: ${outPath}`);
}

function format(r: Row): string {
  const cells = [
    r.setup.padEnd(18),
    r.workload.padEnd(18),
    `${Math.round(r.throughput).toString().padStart(7)} msg/s`,
    `p50 ${r.p50Ms.toFixed(2).padStart(6)} ms`,
    `p99 ${r.p99Ms.toFixed(2).padStart(7)} ms`,
    r.p99WholeRunMs === undefined ? '' : `(whole run ${r.p99WholeRunMs.toFixed(2)} ms)`,
    `redis ${r.redisCpuPct.toFixed(0).padStart(3)}%`,
    `nodes ${r.nodesCpuPct.toFixed(0).padStart(3)}%`,
    r.setup.includes('node') ? `redis cmds/msg ${r.redisCommandsPerMessage.toFixed(2)}` : '',
    r.complete ? '' : `INCOMPLETE ${r.delivered}/${r.expected}`,
  ];
  return cells.join('  ');
}

/**
 * What the issue's aims compare: each multi-node row's throughput against the plain broker and against the
 * 1-node setup of the same workload, and the p99 of the fixed-rate rows against 2 ms.
 */
function printRatios(rows: readonly Row[]): void {
  const lines: string[] = [];
  for (const r of rows) {
    if (!/^[2-8] nodes$/.test(r.setup)) continue;
    const base = (setup: string): string => {
      const b = rows.find((x) => x.setup === setup && x.workload === r.workload);
      return b === undefined || b.throughput === 0 ? '-' : `x${(r.throughput / b.throughput).toFixed(2)}`;
    };
    const paced = r.workload.includes('@');
    lines.push(
      `${r.workload.padEnd(18)} ${r.setup.padEnd(8)} ${
        paced
          ? `p99 ${r.p99Ms.toFixed(2)} ms (aim < 2 ms: ${r.p99Ms < 2 ? 'met' : 'not met'})`
          : `throughput ${base('plain (no cluster)')} of plain, ${base('1 node')} of 1 node`
      }`,
    );
  }
  if (lines.length > 0) console.log(`\ncross-node against single-node\n${lines.join('\n')}`);
}

async function startNode(url: string | undefined, nodeId: string): Promise<Proc> {
  const script = fileURLToPath(
    new URL(`./lib/starling-server${FROM_SOURCE ? '.ts' : '.js'}`, import.meta.url),
  );
  const args = [
    ...(FROM_SOURCE ? ['--import', 'tsx'] : []),
    // The V8 flags `starling broker` runs with (bin/starling.js): measure what users run.
    ...BROKER_NODE_FLAGS,
    // As in the broker benchmark: extra node flags for each node (a CPU profile, GC tracing), space-separated.
    ...(process.env.BENCH_STARLING_NODE_ARGS ?? '').split(' ').filter(Boolean),
    script,
    ...(url === undefined ? [] : [url, nodeId]),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((done, fail) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`node ${nodeId} did not start`)), 15_000);
    child.once('exit', (code) => fail(new Error(`node ${nodeId} exited (${code})`)));
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const newline = out.indexOf('\n');
      if (newline < 0) return;
      clearTimeout(timer);
      done((JSON.parse(out.slice(0, newline)) as { port: number }).port);
    });
  });
  return { pid: child.pid as number, port, stop: () => stopChild(child) };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  await runClusterBenchmark(process.argv.slice(2));
}
