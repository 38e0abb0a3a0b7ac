import { writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { splitEvenly } from '../bench/bench-plan.js';
import { serializeBenchResult } from '../bench/bench-result-json.js';
import { type EmbeddedBroker, startEmbeddedBroker } from '../bench/embedded-broker.js';
import { keepaliveBenchResult, renderKeepaliveText } from '../bench/keepalive-report.js';
import { KeepaliveBench, type KeepaliveLiveProgress } from '../bench/keepalive-run.js';
import type { KeepaliveResult } from '../bench/keepalive-types.js';
import { renderHtmlReport } from '../bench/report-html.js';
import { describePlan, planConnections, readSystemLimits } from '../bench/system-limits.js';
import { parseEndpoint } from '../client/options.js';
import { AGENT_FLAGS, AGENT_FLAGS_HELP, agentsFrom } from './bench-flags.js';
import { DASHBOARD_FLAG, DASHBOARD_FLAG_HELP, liveDashboard } from './bench-live-dashboard.js';
import { UsageError } from './usage-error.js';
import { parseProtocolFlag } from './watch-command.js';

const HELP = `Usage: starling bench keepalive [options]

Opens N idle clients at a set connection rate, holds them for a duration with a keep alive, and reports
connect latency percentiles, failures by reason, unexpected disconnects and PINGRESP latency. Before
starting it checks ulimit -n and the local port range and says how to raise them. Without -H or --url
it runs against an embedded Starling broker in its own process, on a free loopback port.

Options:
  -H, --host HOST        broker host (default: embedded broker)
  -p, --port PORT        broker port (default 1883 with -H)
      --url URL[,URL..]  broker URL (mqtt:// or mqtts://); several (comma-separated or repeated):
                         connection n goes to URL number n mod their count (the nodes of a cluster)
  -n, --clients N        idle clients to open in all (default 100)
  -P, --processes N      generator processes the clients are split over (default 1)
      --source A[,A..]   local addresses to connect from, round-robin (default: the kernel's choice;
                         loopback runs beyond one address's ports spread over 127.0.0.x by themselves)
      --rate R           new connections per second, all processes together (default 100)
      --duration S       seconds to hold the clients once connected (default 10)
  -k, --keepalive S      keep alive in seconds; a PINGREQ goes out every period (default 10)
  -V, --protocol V       MQTT version: 31, 311 or 5 (default 311)
  -u, --username USER    user name
      --password PASS    password
      --insecure         mqtts: do not verify the server certificate
      --json FILE        write the result as JSON
      --html FILE        write a self-contained HTML report
      --help             show this help

${AGENT_FLAGS_HELP}
${DASHBOARD_FLAG_HELP}
Exit status: 0 when every client connected and stayed connected, 1 otherwise, 2 for bad options.
`;

const OPTIONS = {
  host: { type: 'string', short: 'H' },
  port: { type: 'string', short: 'p' },
  url: { type: 'string', multiple: true },
  clients: { type: 'string', short: 'n' },
  processes: { type: 'string', short: 'P' },
  source: { type: 'string' },
  rate: { type: 'string' },
  duration: { type: 'string' },
  keepalive: { type: 'string', short: 'k' },
  protocol: { type: 'string', short: 'V' },
  username: { type: 'string', short: 'u' },
  password: { type: 'string' },
  insecure: { type: 'boolean' },
  json: { type: 'string' },
  html: { type: 'string' },
  help: { type: 'boolean' },
  ...AGENT_FLAGS,
  ...DASHBOARD_FLAG,
} as const satisfies ParseArgsConfig['options'];

/** Where the command writes; the process streams by default, replaceable in tests. */
export interface BenchKeepaliveIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  /** Aborting stops the run as Ctrl-C does: the partial results are printed. */
  readonly signal?: AbortSignal;
}

/** Non-TTY progress: one line every this many ms. */
const PROGRESS_LINE_EVERY_MS = 5000;

function numberFlag(
  name: string,
  text: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!(text.trim() !== '' && Number.isFinite(value) && value >= min && value <= max)) {
    throw new UsageError(`--${name} must be a number from ${min} to ${max}, got '${text}'`);
  }
  return value;
}

function intFlag(name: string, text: string | undefined, fallback: number, min: number, max: number): number {
  const value = numberFlag(name, text, fallback, min, max);
  if (!Number.isInteger(value)) throw new UsageError(`--${name} must be an integer, got '${text}'`);
  return value;
}

/** The broker URLs of `--url` (repeatable, comma-separated) or -H/-p; empty for the embedded broker. */
export function targetUrls(values: { host?: string; port?: string; url?: readonly string[] }): string[] {
  if (values.url !== undefined) {
    if (values.host !== undefined || values.port !== undefined) {
      throw new UsageError('give either --url or -H/-p, not both');
    }
    const urls = values.url.flatMap((text) => text.split(',')).map((text) => text.trim());
    for (const url of urls) {
      try {
        parseEndpoint(url);
      } catch (err) {
        throw new UsageError(`--url ${url}: ${(err as Error).message}`);
      }
    }
    return urls;
  }
  if (values.host === undefined) {
    if (values.port !== undefined)
      throw new UsageError('-p needs -H (without -H an embedded broker is used)');
    return [];
  }
  const port = intFlag('port', values.port, 1883, 1, 65_535);
  const host = values.host.includes(':') ? `[${values.host}]` : values.host;
  return [`mqtt://${host}:${port}`];
}

function progressLine(p: KeepaliveLiveProgress): string {
  return (
    `[${(p.elapsedMs / 1000).toFixed(1)} s] ${p.attempted}/${p.requested} attempted, ` +
    `${p.connected} connected, ${p.open} open, ${p.errors} failed or dropped`
  );
}

/** `--source a,b`: local addresses to bind; each must be an IP address. */
function sourceFlag(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  const addresses = text.split(',').map((address) => address.trim());
  for (const address of addresses) {
    if (isIP(address) === 0) throw new UsageError(`--source: '${address}' is not an IP address`);
  }
  return addresses;
}

/** True when the run saw no failure at all. */
function clean(result: KeepaliveResult): boolean {
  return (
    !result.aborted &&
    result.failed === 0 &&
    result.unexpectedDisconnects === 0 &&
    result.connected === result.requested
  );
}

/**
 * `starling bench keepalive`: returns the exit code. Bad flags throw {@link UsageError} (exit 2 in `main`).
 */
export async function runBenchKeepaliveCommand(
  argv: readonly string[],
  io: BenchKeepaliveIo = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  let values: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; args: string[] }>>['values'];
  try {
    values = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: false, strict: true }).values;
  } catch (err) {
    throw new UsageError(`bench keepalive: ${(err as Error).message}`);
  }
  if (values.help === true) {
    io.stdout.write(HELP);
    return 0;
  }
  const given = targetUrls(values);
  const agents = agentsFrom(values);
  const clients = intFlag('clients', values.clients, 100, 1, 1_000_000);
  // On agents, -P counts the processes of the whole run; by default each agent runs one.
  const processes = intFlag('processes', values.processes, agents?.endpoints.length ?? 1, 1, 256);
  if (processes > clients)
    throw new UsageError(`-P ${processes} is more processes than the ${clients} clients`);
  if (agents !== undefined && processes < agents.endpoints.length) {
    throw new UsageError(`-P ${processes} is fewer processes than the ${agents.endpoints.length} agents`);
  }
  const rate = numberFlag('rate', values.rate, 100, 0.001, 1_000_000);
  const durationMs = numberFlag('duration', values.duration, 10, 0, 7 * 24 * 3600) * 1000;
  const keepalive = intFlag('keepalive', values.keepalive, 10, 0, 65_535);
  const protocolVersion = parseProtocolFlag(values.protocol);
  const sourceAddresses = sourceFlag(values.source);

  // Each process holds its own share of the connections, so the largest share is what must fit.
  const limits = readSystemLimits();
  const host = given[0] === undefined ? '127.0.0.1' : parseEndpoint(given[0]).host;
  const perProcess = Math.max(...splitEvenly(clients, processes));
  const plan = planConnections(
    { clients: perProcess, host, brokerInProcess: false, ...(sourceAddresses ? { sourceAddresses } : {}) },
    limits,
  );
  // Agents check their parts against their own limits before the start.
  if (agents === undefined) io.stderr.write(describePlan(limits, plan));
  if (agents === undefined && !plan.ok) {
    io.stderr.write('starling bench keepalive: refusing to start: the run does not fit the limits above\n');
    return 1;
  }

  let broker: EmbeddedBroker | undefined;
  let urls = given;
  if (urls.length === 0) {
    // The embedded broker runs in a process of its own, so the generator's CPU and memory are its own.
    broker = await startEmbeddedBroker({ sysIntervalSeconds: 0 });
    urls = [broker.url];
    io.stderr.write(`embedded Starling broker on ${broker.url} (pid ${broker.pid})\n`);
  }
  const bench = new KeepaliveBench({
    processes,
    ...(agents === undefined ? {} : { agents }),
    load: {
      url: urls[0]!,
      ...(urls.length > 1 ? { urls } : {}),
      clients,
      rate,
      durationMs,
      keepalive,
      protocolVersion,
      brokerInProcess: false,
      ...(sourceAddresses === undefined ? {} : { sourceAddresses }),
      ...(values.username === undefined ? {} : { username: values.username }),
      ...(values.password === undefined ? {} : { password: values.password }),
      ...(values.insecure === true ? { insecure: true } : {}),
    },
  });
  const onSigint = (): void => bench.abort('interrupted (SIGINT)');
  process.once('SIGINT', onSigint);
  io.signal?.addEventListener('abort', onSigint, { once: true });
  const tty = io.stderr.isTTY === true;
  let lastLineAt = 0;
  bench.on('progress', (progress) => {
    if (tty) {
      io.stderr.write(`\r\x1b[K${progressLine(progress)}`);
    } else if (progress.elapsedMs - lastLineAt >= PROGRESS_LINE_EVERY_MS) {
      lastLineAt = progress.elapsedMs;
      io.stderr.write(`${progressLine(progress)}\n`);
    }
  });
  bench.on('stage', (stage) => io.stderr.write(`${stage}\n`));
  const dashboard = await liveDashboard(values.dashboard, bench, 'starling bench keepalive');
  try {
    let result: KeepaliveResult;
    try {
      result = await bench.run();
    } catch (error) {
      if (tty) io.stderr.write('\r\x1b[K');
      io.stderr.write(`starling bench keepalive: ${(error as Error).message}\n`);
      return 1;
    }
    if (tty) io.stderr.write('\r\x1b[K');
    const label = broker === undefined ? undefined : 'embedded Starling';
    const text = renderKeepaliveText(result, {
      ...(label === undefined ? {} : { brokerLabel: label }),
      brokerInProcess: false,
    });
    io.stdout.write(text);
    dashboard?.finish(text);
    if (values.json !== undefined || values.html !== undefined) {
      const benchResult = keepaliveBenchResult(result, label);
      if (values.json !== undefined) writeFileSync(values.json, serializeBenchResult(benchResult));
      if (values.html !== undefined) writeFileSync(values.html, renderHtmlReport(benchResult));
    }
    if (result.connected === 0 && result.failed > 0) {
      io.stderr.write(`starling bench keepalive: no client could connect to ${urls.join(', ')}\n`);
    }
    return clean(result) ? 0 : 1;
  } finally {
    process.removeListener('SIGINT', onSigint);
    io.signal?.removeEventListener('abort', onSigint);
    await dashboard?.close();
    await broker?.stop();
  }
}
