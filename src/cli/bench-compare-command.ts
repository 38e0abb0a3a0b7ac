/**
 * `starling bench compare`: one scenario against several brokers in turn, printed as the table that
 * mqtt-stresser comparisons are published in, with the aggregate throughput and p99 latency added.
 */
import { writeFileSync } from 'node:fs';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { BENCH_RESULT_FORMAT } from '../bench/bench-result.js';
import { type CompareBroker, type CompareOutcome, CompareScenario, runCompare } from '../bench/compare.js';
import { BarProgress, LineProgress, type ProgressDisplay } from '../bench/progress.js';
import { renderSummaryCsv } from '../bench/report-csv.js';
import { renderCompareTable } from '../bench/report-text.js';
import { parseEndpoint } from '../client/options.js';
import {
  AGENT_FLAGS,
  AGENT_FLAGS_HELP,
  agentsFrom,
  normaliseSingleDashFlags,
  parseDuration,
} from './bench-flags.js';
import { intFlag, UsageError } from './usage-error.js';
import { parseProtocolFlag } from './watch-command.js';

const HELP = `Usage: starling bench compare --broker NAME=URL [--broker NAME=URL ...] [options]

Runs one scenario against each broker in turn (never at the same time) and prints mqtt-stresser's
comparison table (per-client publish and receive rates: fastest, median, slowest) with two columns that
do compare brokers: aggregate delivered msg/s over the whole run and p99 end-to-end latency.

Brokers (in table order):
  --broker NAME=URL        a broker to compare: mqtt://, mqtts://, ws://, wss:// URL
  --broker starling        an embedded Starling broker started for its run (NAME=starling without URL)

Workload:
  --scenario S             stress (default): each client publishes to and receives its own topic
                           fan-out: 1 publisher -> N subscribers of one topic
                           fan-in: N publishers -> 1 subscriber of a wildcard
                           publish: N publishers, acknowledgement latency (no receive columns)
  --clients N, -num-clients N      clients per process (default 10)
  -P, --processes N        generator processes, each running --clients (default 1)
  --messages N, -num-messages N    messages per publisher (default 10)
  -q, --qos 0|1|2          publish and subscribe QoS (default 0)
  -s, --msg-size N         payload bytes, Gaussian at (N, N/20) (default 100); -constant-payload for exact
  --timeout T              wait for messages after publishing (default 5s)
  --global-timeout T       bound on each broker's run (default 60s)
  -V, --protocol V         31, 311 or 5 (default 311, as mqtt-stresser)
  -u, --username NAME      --password PASS     --insecure (mqtts/wss: skip certificate checks)

Output:
  --json F                 every broker's full result as JSON
  --csv F                  one summary line per broker
  --quiet                  no progress on stderr

${AGENT_FLAGS_HELP}
Exit status: 0 every broker ran, 1 a broker failed (its row says why), 2 bad usage, 130 interrupted.
`;

const OPTIONS = {
  broker: { type: 'string', multiple: true },
  scenario: { type: 'string' },
  clients: { type: 'string' },
  'num-clients': { type: 'string' },
  processes: { type: 'string', short: 'P' },
  messages: { type: 'string' },
  'num-messages': { type: 'string' },
  qos: { type: 'string', short: 'q' },
  'msg-size': { type: 'string', short: 's' },
  'constant-payload': { type: 'boolean' },
  timeout: { type: 'string' },
  'global-timeout': { type: 'string' },
  protocol: { type: 'string', short: 'V' },
  username: { type: 'string', short: 'u' },
  password: { type: 'string' },
  insecure: { type: 'boolean' },
  json: { type: 'string' },
  csv: { type: 'string' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  ...AGENT_FLAGS,
} as const satisfies ParseArgsConfig['options'];

/** Where the command writes; the process streams by default, replaceable in tests. */
export interface BenchCompareIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  /** Aborting stops the comparison as Ctrl-C does: what was measured so far is printed. */
  readonly signal?: AbortSignal;
}

/** The file format `--json` writes: every broker's name, URL and full result (or failure). */
export const COMPARE_RESULT_FORMAT = 'starling-bench-compare/1';

/** Name of the embedded broker on the command line. */
const EMBEDDED = 'starling';

/** Parses one `--broker` value: `NAME=URL`, or `starling` alone for the embedded broker. */
export function parseBrokerFlag(text: string): CompareBroker {
  const at = text.indexOf('=');
  if (at < 0) {
    if (text.trim().toLowerCase() === EMBEDDED) return { name: text.trim() };
    throw new UsageError(
      `--broker must be NAME=URL (or '${EMBEDDED}' for the embedded broker), got '${text}'`,
    );
  }
  const name = text.slice(0, at).trim();
  const url = text.slice(at + 1).trim();
  if (name === '') throw new UsageError(`--broker '${text}': the NAME before '=' is empty`);
  if (url === '') throw new UsageError(`--broker '${text}': the URL after '=' is empty`);
  try {
    parseEndpoint(url);
  } catch (error) {
    throw new UsageError(`--broker '${text}': ${(error as Error).message}`);
  }
  return { name, url };
}

function brokersFrom(values: readonly string[] | undefined): CompareBroker[] {
  if (values === undefined || values.length === 0) {
    throw new UsageError(`bench compare needs at least one --broker NAME=URL (or --broker ${EMBEDDED})`);
  }
  const brokers = values.map(parseBrokerFlag);
  const seen = new Set<string>();
  for (const broker of brokers) {
    // Rows are told apart by name only.
    if (seen.has(broker.name)) throw new UsageError(`--broker name '${broker.name}' is given twice`);
    seen.add(broker.name);
  }
  return brokers;
}

function scenarioFrom(text: string | undefined): CompareScenario {
  if (text === undefined) return CompareScenario.Stress;
  const all: readonly string[] = Object.values(CompareScenario);
  if (!all.includes(text)) throw new UsageError(`--scenario must be one of ${all.join(', ')}, got '${text}'`);
  return text as CompareScenario;
}

/** One line saying what ran, above the table. */
function caption(
  outcome: CompareOutcome,
  clients: number,
  messages: number,
  qos: number,
  processes: number,
): string {
  const what = {
    stress: `${clients} clients each publishing ${messages} messages to its own topic`,
    'fan-out': `1 publisher sending ${messages} messages to ${clients} subscribers`,
    'fan-in': `${clients} publishers sending ${messages} messages each to 1 wildcard subscriber`,
    publish: `${clients} publishers sending ${messages} messages each`,
  }[outcome.scenario];
  const times = processes > 1 ? ` (per process, ${processes} processes)` : '';
  return `bench compare: ${outcome.scenario}, ${what}${times}, QoS ${qos}\n`;
}

/** What the columns mean, below the table. */
function legend(outcome: CompareOutcome): string {
  const p99 = outcome.scenario === 'publish' ? 'publish acknowledgement latency' : 'end-to-end latency';
  return (
    'publish/receive: per-client msg/s as mqtt-stresser computes them (not broker throughput); ' +
    `aggregate: messages completed over each run's wall clock; p99: ${p99}\n`
  );
}

function writeOutputs(json: string | undefined, csv: string | undefined, outcome: CompareOutcome): void {
  if (json !== undefined) {
    const brokers = outcome.entries.map((entry) => ({
      name: entry.broker.name,
      url: entry.broker.url ?? null,
      error: entry.error ?? null,
      result: entry.result ?? null,
    }));
    writeFileSync(
      json,
      `${JSON.stringify({ format: COMPARE_RESULT_FORMAT, resultFormat: BENCH_RESULT_FORMAT, scenario: outcome.scenario, brokers }, null, 2)}\n`,
    );
  }
  if (csv !== undefined) writeFileSync(csv, renderSummaryCsv(outcome.results));
}

/**
 * `starling bench compare`: returns the exit code. Bad flags throw {@link UsageError} (exit 2 in `main`).
 */
export async function runBenchCompareCommand(
  argv: readonly string[],
  io: BenchCompareIo = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  let values: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; args: string[] }>>['values'];
  try {
    values = parseArgs({
      args: normaliseSingleDashFlags(argv),
      options: OPTIONS,
      allowPositionals: false,
      strict: true,
    }).values;
  } catch (error) {
    throw new UsageError(`bench compare: ${(error as Error).message}`);
  }
  if (values.help === true) {
    io.stdout.write(HELP);
    return 0;
  }
  const brokers = brokersFrom(values.broker);
  const scenario = scenarioFrom(values.scenario);
  const clients = intFlag('clients', values.clients ?? values['num-clients'], 1, 100_000) ?? 10;
  const agents = agentsFrom(values);
  const processes = intFlag('processes', values.processes, 1, 256) ?? agents?.endpoints.length ?? 1;
  if (agents !== undefined && processes < agents.endpoints.length) {
    throw new UsageError(`-P ${processes} is fewer processes than the ${agents.endpoints.length} agents`);
  }
  const messages = intFlag('messages', values.messages ?? values['num-messages'], 1, 2 ** 31) ?? 10;
  const qos = (intFlag('qos', values.qos, 0, 2) ?? 0) as 0 | 1 | 2;
  const payloadBytes = intFlag('msg-size', values['msg-size'], 0, 256 * 1024 * 1024) ?? 100;
  const receiveTimeoutMs = parseDuration('timeout', values.timeout) ?? 5000;
  const runTimeoutMs = parseDuration('global-timeout', values['global-timeout']) ?? 60_000;
  const protocolVersion = parseProtocolFlag(values.protocol);

  const stop = new AbortController();
  const onSigint = (): void => stop.abort();
  process.once('SIGINT', onSigint);
  io.signal?.addEventListener('abort', onSigint, { once: true });
  let display: ProgressDisplay | undefined;
  const quiet = values.quiet === true;
  let outcome: CompareOutcome;
  try {
    outcome = await runCompare(
      {
        brokers,
        scenario,
        clients,
        processes,
        ...(agents === undefined ? {} : { agents }),
        messages,
        qos,
        payloadBytes,
        constantPayload: values['constant-payload'] === true,
        receiveTimeoutMs,
        runTimeoutMs,
        connection: {
          protocolVersion,
          ...(values.username === undefined ? {} : { username: values.username }),
          ...(values.password === undefined ? {} : { password: values.password }),
          ...(values.insecure === true ? { insecure: true } : {}),
        },
      },
      {
        signal: stop.signal,
        onBrokerStart: (broker) => {
          if (quiet) return;
          io.stderr.write(
            `${scenario} against ${broker.name} (${broker.url ?? 'embedded Starling broker'})\n`,
          );
          display = io.stderr.isTTY === true ? new BarProgress(io.stderr) : new LineProgress(io.stderr);
        },
        onStage: (stage) => {
          if (!quiet) io.stderr.write(`${stage}\n`);
        },
        onProgress: (progress) => display?.update(progress),
        onBrokerDone: (entry) => {
          display?.stop();
          display = undefined;
          if (entry.error !== undefined)
            io.stderr.write(`starling bench compare: ${entry.broker.name}: ${entry.error}\n`);
        },
      },
    );
  } finally {
    display?.stop();
    process.removeListener('SIGINT', onSigint);
    io.signal?.removeEventListener('abort', onSigint);
  }
  let report = outcome.aborted ? 'Interrupted: partial results\n' : '';
  report += caption(outcome, clients, messages, qos, processes);
  report += renderCompareTable(outcome.rows);
  report += legend(outcome);
  io.stdout.write(report);
  writeOutputs(values.json, values.csv, outcome);
  if (outcome.aborted) return 130;
  return outcome.anyFailed ? 1 : 0;
}
