/**
 * Idle connections held by several `starling bench agent` processes at once: each agent listens on its own
 * loopback address and connects from its own source address (so each has the whole ephemeral port range),
 * the controller splits the connections over them and starts them at one instant, and the report says how
 * many were held at once, how fast they connected, what each agent spent in memory and CPU, and what
 * stopped the rest when not all connected.
 *
 * Run: npm run build && node dist/bench/agents-keepalive.js [options]
 *   --urls URL[,URL..]   the brokers to load (e.g. the nodes of a cluster), connection n to URL n mod count;
 *                        without it: one Starling process, one Mosquitto, and three Starling processes
 *   --clients N          connections in all (default 19 500 per broker process, at most 45 000)
 *   --rate R             connections per second, all agents together (default 1500)
 *   --hold S             seconds to hold them once connected (default 10)
 *   --agents N           agent processes (default 3)
 *   --targets LIST       built-in targets to run: starling, mosquitto, starling-x3 (default all three)
 *   --sources N          source addresses per agent, 127.x.k.(agent) (default 4; 0: the kernel chooses)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { AgentSummary } from '../src/bench/bench-result.js';
import { KeepaliveBench } from '../src/bench/keepalive-run.js';
import type { KeepaliveResult } from '../src/bench/keepalive-types.js';
import { launchBroker, mosquittoPath, type RunningBroker } from './lib/brokers.js';
import { parseArgs } from './lib/cli-args.js';

const { values } = parseArgs({
  options: {
    urls: { type: 'string' },
    clients: { type: 'string' },
    rate: { type: 'string' },
    hold: { type: 'string' },
    agents: { type: 'string' },
    targets: { type: 'string' },
    sources: { type: 'string' },
  },
});
/**
 * Source addresses per agent; 0 leaves the choice of source port to the kernel (no bind). Binding stays
 * cheap up to about a quarter of the port range per address (see PORT_RANGE_BIND_SHARE), so 4 addresses
 * keep 15 000 connections per agent well below it.
 */
const SOURCES = Math.min(Math.max(0, Number(values.sources ?? 4)), 16);
const AGENTS = Math.min(Math.max(1, Number(values.agents ?? 3)), 9);
const RATE = Number(values.rate ?? 1500);
const HOLD_MS = Number(values.hold ?? 10) * 1000;
/** One broker process is capped by its own open-file limit; this leaves it room for its listeners. */
const PER_BROKER = 19_500;
const MAX_CLIENTS = 45_000;
const TOKEN = 'agents-keepalive-bench';
const ROOT = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '..' : '../..', import.meta.url));

/** RSS of a process in MiB, NaN when unreadable. */
function rssMiB(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? Number.NaN : Number(match[1]) / 1024;
  } catch {
    return Number.NaN;
  }
}

/** Open-file limit of a process, from /proc. */
function fileLimit(pid: number): string {
  try {
    const line = readFileSync(`/proc/${pid}/limits`, 'utf8')
      .split('\n')
      .find((row) => row.startsWith('Max open files'));
    return line?.split(/\s+/)[3] ?? '?';
  } catch {
    return '?';
  }
}

/** Starts agent `i` of run `run`, listening on 127.0.0.(i+1) and connecting from a source address of its own. */
async function startAgent(i: number, run: number): Promise<{ endpoint: string; child: ChildProcess }> {
  // Fresh source addresses per run: the previous run's ports may still be in TIME_WAIT.
  const source = Array.from({ length: SOURCES }, (_, k) => `127.${run + 10}.${k}.${i + 1}`).join(',');
  const child = spawn(
    process.execPath,
    [
      `${ROOT}/bin/starling.js`,
      'bench',
      'agent',
      '--listen',
      `127.0.0.${i + 1}:0`,
      '--token',
      TOKEN,
      ...(SOURCES > 0 ? ['--source', source] : []),
      '--quiet',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const endpoint = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('an agent did not start')), 20_000);
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const match = /listening on ws:\/\/(\S+)/.exec(out);
      if (match !== null) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
  });
  return { endpoint, child };
}

async function stopAgents(agents: readonly { child: ChildProcess }[]): Promise<void> {
  await Promise.all(
    agents.map(
      ({ child }) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
          setTimeout(() => child.kill('SIGKILL'), 5000).unref();
        }),
    ),
  );
}

function topReasons(table: Readonly<Record<string, number>>): string {
  const rows = Object.entries(table).sort((a, b) => b[1] - a[1]);
  return rows.length === 0
    ? 'none'
    : rows
        .slice(0, 3)
        .map(([reason, count]) => `${count} ${reason}`)
        .join('; ');
}

function agentLine(agent: AgentSummary): string {
  return (
    `    ${agent.name.padEnd(18)} ${String(agent.received).padStart(6)}/${agent.connections} connected, ` +
    `peak RSS ${(agent.peakRssBytes / 1024 / 1024).toFixed(1)} MiB, ` +
    `CPU ${agent.cpuPercentOfOneCore.toFixed(1)} % of one core, connect p50 ${agent.p50Ms.toFixed(2)} ms p99 ${agent.p99Ms.toFixed(2)} ms`
  );
}

/** One measurement: `clients` connections from the agents to `urls`. */
async function measure(
  label: string,
  urls: readonly string[],
  clients: number,
  run: number,
  brokers: readonly RunningBroker[],
): Promise<void> {
  const agents = await Promise.all(Array.from({ length: AGENTS }, (_, i) => startAgent(i, run)));
  const brokerRss: number[] = brokers.map(() => 0);
  try {
    const bench = new KeepaliveBench({
      agents: { endpoints: agents.map((agent) => agent.endpoint), token: TOKEN },
      load: {
        url: urls[0]!,
        ...(urls.length > 1 ? { urls } : {}),
        clients,
        rate: RATE,
        durationMs: HOLD_MS,
        keepalive: 60,
        clientIdPrefix: `ka-${run}-`,
        connectTimeoutMs: 15_000,
      },
    });
    const begun = Date.now();
    bench.on('stage', (stage) =>
      process.stderr.write(`  [${((Date.now() - begun) / 1000).toFixed(1)} s] ${stage}\n`),
    );
    bench.on('interval', () => {
      for (const [i, broker] of brokers.entries()) brokerRss[i] = Math.max(brokerRss[i]!, rssMiB(broker.pid));
    });
    const started = Date.now();
    const result: KeepaliveResult = await bench.run();
    const rampS = result.rampMs / 1000;
    console.log(`${label}: ${clients} connections over ${AGENTS} agents to ${urls.join(', ')}`);
    console.log(
      `  held at once ${result.heldAtOnce} of ${clients}; connected ${result.connected}, failed ${result.failed}, ` +
        `dropped ${result.unexpectedDisconnects}; run ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    console.log(
      `  connect rate ${(result.connected / rampS).toFixed(0)} connections/s over a ${rampS.toFixed(2)} s ramp (asked ${RATE}/s); ` +
        `connect latency p50 ${(result.connectLatency.percentile(50) / 1000).toFixed(2)} ms, p99 ${(result.connectLatency.percentile(99) / 1000).toFixed(2)} ms`,
    );
    console.log(`  failures: ${topReasons(result.failures)}; disconnects: ${topReasons(result.disconnects)}`);
    console.log(
      `  generator RSS growth ${(result.memory.bytesPerConnection / 1024).toFixed(2)} KiB per held connection (each process: RSS at the hold minus before)`,
    );
    for (const agent of result.agents ?? []) console.log(agentLine(agent));
    for (const [i, broker] of brokers.entries()) {
      console.log(
        `    broker ${broker.name} pid ${broker.pid}: peak RSS ${brokerRss[i]!.toFixed(1)} MiB, ulimit -n ${fileLimit(broker.pid)}` +
          (broker.crashed() === undefined ? '' : `, CRASHED: ${broker.crashed()}`),
      );
    }
  } finally {
    await stopAgents(agents);
  }
}

const given = values.urls
  ?.split(',')
  .map((url) => url.trim())
  .filter((url) => url !== '');
if (given !== undefined && given.length > 0) {
  const clients = Math.min(Number(values.clients ?? PER_BROKER * given.length), MAX_CLIENTS);
  await measure('given brokers', given, clients, 0, []);
} else {
  const targets = (values.targets ?? 'starling,mosquitto,starling-x3').split(',');
  for (const [run, target] of targets.entries()) {
    const names =
      target === 'starling-x3'
        ? (['starling', 'starling', 'starling'] as const)
        : target === 'mosquitto' && mosquittoPath() !== undefined
          ? (['mosquitto'] as const)
          : target === 'starling'
            ? (['starling'] as const)
            : [];
    if (names.length === 0) {
      console.log(`${target}: skipped (unknown target or broker not installed)`);
      continue;
    }
    const brokers = await Promise.all(names.map((name) => launchBroker(name)));
    try {
      const urls = brokers.map((broker) => `mqtt://127.0.0.1:${broker.port}`);
      const clients = Math.min(Number(values.clients ?? PER_BROKER * brokers.length), MAX_CLIENTS);
      const label =
        target === 'starling-x3' ? 'three Starling processes (not clustered)' : `one ${target} process`;
      await measure(label, urls, clients, run, brokers);
    } finally {
      await Promise.all(brokers.map((broker) => broker.stop()));
    }
  }
}
