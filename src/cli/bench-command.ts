/**
 * `starling bench publish | subscribe | stress`: a thin layer over {@link Bench}. Parses mqtt-malaria's and
 * mqtt-stresser's flags, runs, prints the text report and writes --json / --csv / --html files.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Bench, type BenchOptions, BenchSetupError } from '../bench/bench.js';
import type { BenchResult } from '../bench/bench-result.js';
import { serializeBenchResult } from '../bench/bench-result-json.js';
import { progressFor } from '../bench/progress.js';
import { renderAgentsText } from '../bench/report-agents.js';
import { renderClientsCsv } from '../bench/report-csv.js';
import { renderHtmlReport } from '../bench/report-html.js';
import { renderTextReport } from '../bench/report-text.js';
import type {
  ConnectionSettings,
  PublishScenario,
  StressScenario,
  SubscribeScenario,
} from '../bench/scenarios/common.js';
import { isValidTopicFilter } from '../packets/topic.js';
import { runBenchAgentCommand } from './bench-agent-command.js';
import { runBenchCompareCommand } from './bench-compare-command.js';
import {
  AGENT_FLAGS,
  AGENT_FLAGS_HELP,
  agentsFrom,
  normaliseSingleDashFlags,
  parseDuration,
} from './bench-flags.js';
import { runBenchKeepaliveCommand } from './bench-keepalive-command.js';
import { DASHBOARD_FLAG, DASHBOARD_FLAG_HELP, liveDashboard } from './bench-live-dashboard.js';
import { deliveryReport, stressTruth } from './bench-reports.js';
import { DEFAULT_PUBLISH_TOPIC, filterForTemplate, topicTemplateProblem } from './bench-topic-flags.js';
import { UsageError } from './usage-error.js';

const HELP = `Usage: starling bench <publish|subscribe|stress|keepalive|compare|agent> [options]

With no -H/--url, each command starts an embedded Starling broker on a free loopback port.

Connection (all commands):
  -H, --host HOST          broker host (default: embedded broker)
  -p, --port PORT          broker port (default 1883)
      --url URL[,URL..]    mqtt://, mqtts://, ws://, wss:// (overrides -H/-p); several (comma-separated
                           or repeated) spread the clients: client n connects to URL n mod count
  -V, --protocol-version   311 or 5 (default 5)
  -u, --username NAME      --password PASS
      --cafile F --cert F --key F --insecure      TLS files; --insecure skips verification
  -P, --processes N        generator processes (default 1)
      --duration T         stop after T (e.g. 30s, 2m)   --timeout T  global bound (default 10m)
      --json F --csv F --html F                   write the result
      --quiet              no progress display

bench publish (mqtt-malaria's load_publisher):
  -c, --clientid ID        client id prefix (default starling.loadr-<pid>)
  -q, --qos 0|1|2          (default 1)        -n, --msg-count N   messages per client (default 10)
  -s, --msg-size N         bytes, Gaussian at (N, N/20) (default 100)
  -T, --msgs-per-second R  per client (default unlimited)   --jitter F  0..1 gap variation
  -t, --timing             put the send time in the payload (for bench subscribe)
      --clients N          clients per process (default 1)
      --topic T            template with {client} {process} {n} (default mqtt-malaria/{client}/data/{n})
      --max-inflight N     unacknowledged QoS 1/2 messages per client (default 1000)

bench subscribe:
      --topic F            filter (default mqtt-malaria/#)   -q QoS (default 1)   --clients N subscribers
      --count N            stop after N messages per subscriber
      --abort-on-drops     stop when the broker's dropped-messages counter rises
      --publish            also run publishers (-n, -s, --publishers N, -T, -q) and measure end to end;
                           --topic is then the publishers' template (as for bench publish, no + or #)
                           and the filter is derived from it (mqtt-malaria/{client}/.. -> mqtt-malaria/#)

bench stress (mqtt-stresser; single-dash long flags accepted):
  -num-clients N (10) -num-messages N (10) -publisher-qos Q (0) -subscriber-qos Q (0)
  -rampup-size N (100) -rampup-delay T (500ms) -timeout T (5s) -global-timeout T (60s)
  -constant-payload        -broker URL (same as --url)   -s N payload bytes (default 100)

bench keepalive (N idle clients held open; own flags, see starling bench keepalive --help):
  -n, --clients N (100) -P N --rate R conn/s (100) --duration S (10) -k, --keepalive S (10) --source A,..

bench compare (one scenario against several brokers in turn; see starling bench compare --help):
  --broker NAME=URL ...    repeatable; --broker starling alone = the embedded broker
  --scenario stress|fan-out|fan-in|publish   --clients N -P N --messages N -q Q -s N --json F --csv F

bench agent (a load-generation agent for --agents; see starling bench agent --help):
  --listen HOST:PORT (127.0.0.1:7883) --token T --source A[,A..]

${AGENT_FLAGS_HELP}
${DASHBOARD_FLAG_HELP}
Exit status: 0 done, 1 cannot connect / every client failed / agents refused, 2 bad usage,
130 interrupted (partial results printed).
`;

const COMMON = {
  host: { type: 'string', short: 'H' },
  port: { type: 'string', short: 'p' },
  url: { type: 'string', multiple: true },
  broker: { type: 'string' },
  'protocol-version': { type: 'string', short: 'V' },
  username: { type: 'string', short: 'u' },
  password: { type: 'string' },
  cafile: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  insecure: { type: 'boolean' },
  processes: { type: 'string', short: 'P' },
  duration: { type: 'string' },
  timeout: { type: 'string' },
  json: { type: 'string' },
  csv: { type: 'string' },
  html: { type: 'string' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  clientid: { type: 'string', short: 'c' },
  qos: { type: 'string', short: 'q' },
  'msg-count': { type: 'string', short: 'n' },
  msg_count: { type: 'string' },
  'msg-size': { type: 'string', short: 's' },
  msg_size: { type: 'string' },
  clients: { type: 'string' },
  topic: { type: 'string' },
  'msgs-per-second': { type: 'string', short: 'T' },
  jitter: { type: 'string' },
  timing: { type: 'boolean', short: 't' },
  'max-inflight': { type: 'string' },
  count: { type: 'string' },
  'abort-on-drops': { type: 'boolean' },
  publish: { type: 'boolean' },
  publishers: { type: 'string' },
  'num-clients': { type: 'string' },
  'num-messages': { type: 'string' },
  'publisher-qos': { type: 'string' },
  'subscriber-qos': { type: 'string' },
  'rampup-size': { type: 'string' },
  'rampup-delay': { type: 'string' },
  'global-timeout': { type: 'string' },
  'constant-payload': { type: 'boolean' },
  ...AGENT_FLAGS,
  ...DASHBOARD_FLAG,
} as const;

type Flags = ReturnType<typeof parseFlags>;

function parseFlags(argv: readonly string[]) {
  try {
    return parseArgs({ args: [...argv], options: COMMON, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function int(name: string, text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text)) throw new UsageError(`--${name} must be an integer, got '${text}'`);
  const n = Number(text);
  if (n < min || n > max) throw new UsageError(`--${name} must be from ${min} to ${max}, got ${n}`);
  return n;
}

function qos(name: string, text: string | undefined, fallback: 0 | 1 | 2): 0 | 1 | 2 {
  return int(name, text, fallback, 0, 2) as 0 | 1 | 2;
}

function connectionFrom(flags: Flags): BenchOptions['connection'] {
  const version = flags['protocol-version'] ?? '5';
  const protocolVersion =
    version === '5'
      ? 5
      : version === '311' || version === '4'
        ? 4
        : version === '31' || version === '3'
          ? 3
          : undefined;
  if (protocolVersion === undefined) throw new UsageError(`-V must be 311 or 5, got '${version}'`);
  // Several URLs spread the clients over several brokers (the nodes of a cluster): client n to URL n mod count.
  const urls = [...(flags.url ?? []), ...(flags.broker === undefined ? [] : [flags.broker])]
    .flatMap((text) => text.split(','))
    .map((text) => text.trim())
    .filter((text) => text !== '');
  let url = urls[0];
  if (url === undefined && (flags.host !== undefined || flags.port !== undefined)) {
    const port = int('port', flags.port, 1883, 1, 65535);
    url = `mqtt://${flags.host ?? 'localhost'}:${port}`;
  }
  const settings: Omit<ConnectionSettings, 'url'> & { url?: string } = {
    protocolVersion,
    ...(url === undefined ? {} : { url }),
    ...(urls.length > 1 ? { urls } : {}),
    ...(flags.username === undefined ? {} : { username: flags.username }),
    ...(flags.password === undefined ? {} : { password: flags.password }),
    ...(flags.cafile === undefined ? {} : { caFile: flags.cafile }),
    ...(flags.cert === undefined ? {} : { certFile: flags.cert }),
    ...(flags.key === undefined ? {} : { keyFile: flags.key }),
    ...(flags.insecure === true ? { insecure: true } : {}),
  };
  return settings;
}

function publishScenarioFrom(
  flags: Flags,
  clientsFlag: string | undefined,
  bounded: boolean,
): PublishScenario {
  const jitter = flags.jitter === undefined ? 0 : Number(flags.jitter);
  if (!(jitter >= 0 && jitter <= 1))
    throw new UsageError(`--jitter must be from 0 to 1, got '${flags.jitter}'`);
  const rate = flags['msgs-per-second'] === undefined ? 0 : Number(flags['msgs-per-second']);
  if (!(rate >= 0 && Number.isFinite(rate))) throw new UsageError('-T must be a rate >= 0');
  // With only a time bound, -n's default would end the run long before it; the duration bounds it instead.
  const defaultCount = bounded ? 2 ** 31 : 10;
  return {
    kind: 'publish',
    clientId: flags.clientid ?? `starling.loadr-${process.pid}`,
    clientsPerProcess: int('clients', clientsFlag, 1, 1, 100_000),
    messagesPerClient: int('msg-count', flags['msg-count'] ?? flags.msg_count, defaultCount, 0, 2 ** 31),
    qos: qos('qos', flags.qos, 1),
    payloadBytes: int('msg-size', flags['msg-size'] ?? flags.msg_size, 100, 0, 256 * 1024 * 1024),
    ratePerClient: rate,
    jitter,
    timestamp: flags.timing === true,
    topic: flags.topic ?? DEFAULT_PUBLISH_TOPIC,
    maxInflight: int('max-inflight', flags['max-inflight'], 1000, 1, 65535),
  };
}

function benchOptionsFor(sub: string, argv: readonly string[]): { options: BenchOptions; flags: Flags } {
  const flags = parseFlags(sub === 'stress' ? normaliseSingleDashFlags(argv) : argv);
  const connection = connectionFrom(flags);
  const agents = agentsFrom(flags);
  // On agents, -P counts the processes of the whole run; by default each agent runs one.
  const processes = int('processes', flags.processes, agents?.endpoints.length ?? 1, 1, 256);
  if (agents !== undefined && processes < agents.endpoints.length) {
    throw new UsageError(`-P ${processes} is fewer processes than the ${agents.endpoints.length} agents`);
  }
  const durationMs = parseDuration('duration', flags.duration);
  const common = {
    connection,
    processes,
    ...(durationMs === undefined ? {} : { durationMs }),
    ...(agents === undefined ? {} : { agents }),
  };
  const timeoutMs = parseDuration('timeout', flags.timeout) ?? 600_000;
  switch (sub) {
    case 'publish': {
      const scenario = publishScenarioFrom(
        flags,
        flags.clients,
        durationMs !== undefined && flags['msg-count'] === undefined,
      );
      const problem = topicTemplateProblem(scenario.topic, scenario.clientId);
      if (problem !== undefined) throw new UsageError(problem);
      return { flags, options: { ...common, timeoutMs, scenario } };
    }
    case 'subscribe': {
      const template = flags.topic ?? DEFAULT_PUBLISH_TOPIC;
      const publisherId = `starling.loadr-${process.pid}`;
      if (flags.publish === true) {
        const problem = topicTemplateProblem(template, publisherId);
        if (problem !== undefined) {
          throw new UsageError(
            `${problem} (with --publish, --topic is the publishers' topic template, e.g. ${DEFAULT_PUBLISH_TOPIC}, and the subscription filter is derived from it)`,
          );
        }
      } else if (flags.topic !== undefined && !isValidTopicFilter(flags.topic)) {
        throw new UsageError(
          `--topic '${flags.topic}' is not a valid topic filter: not empty, '+' only as a whole level, '#' only as the whole last level`,
        );
      }
      const scenario: SubscribeScenario = {
        kind: 'subscribe',
        clientId: flags.clientid ?? `starling.sub-${process.pid}`,
        clientsPerProcess: int('clients', flags.clients, 1, 1, 10_000),
        topic: flags.publish === true ? filterForTemplate(template) : (flags.topic ?? 'mqtt-malaria/#'),
        qos: qos('qos', flags.qos, 1),
        count: int('count', flags.count, 0, 0, 2 ** 31),
        abortOnDrops: flags['abort-on-drops'] === true,
        idleTimeoutMs: 5000,
      };
      const publisher =
        flags.publish === true
          ? {
              ...publishScenarioFrom(flags, flags.publishers, false),
              clientId: publisherId,
              timestamp: true,
            }
          : undefined;
      return {
        flags,
        options: { ...common, timeoutMs, scenario, ...(publisher === undefined ? {} : { publisher }) },
      };
    }
    case 'stress': {
      const scenario: StressScenario = {
        kind: 'stress',
        clientId: flags.clientid ?? `starling.stress-${process.pid}`,
        clientsPerProcess: int('num-clients', flags['num-clients'], 10, 1, 100_000),
        messagesPerClient: int('num-messages', flags['num-messages'], 10, 0, 2 ** 31),
        publisherQos: qos('publisher-qos', flags['publisher-qos'], 0),
        subscriberQos: qos('subscriber-qos', flags['subscriber-qos'], 0),
        rampupSize: int('rampup-size', flags['rampup-size'], 100, 1, 100_000),
        rampupDelayMs: parseDuration('rampup-delay', flags['rampup-delay']) ?? 500,
        timeoutMs: parseDuration('timeout', flags.timeout) ?? 5000,
        constantPayload: flags['constant-payload'] === true,
        payloadBytes: int('msg-size', flags['msg-size'], 100, 0, 256 * 1024 * 1024),
        maxInflight: int('max-inflight', flags['max-inflight'], 1000, 1, 65535),
      };
      // -timeout is mqtt-stresser's per-worker wait; its -global-timeout bounds the run.
      return {
        flags,
        options: {
          ...common,
          timeoutMs: parseDuration('global-timeout', flags['global-timeout']) ?? 60_000,
          scenario,
        },
      };
    }
    default:
      throw new UsageError(
        `unknown bench command '${sub}' (publish, subscribe, stress, keepalive, compare, agent)`,
      );
  }
}

function writeOutputs(flags: Flags, result: BenchResult): void {
  if (flags.json !== undefined) writeFileSync(flags.json, serializeBenchResult(result));
  if (flags.csv !== undefined) writeFileSync(flags.csv, renderClientsCsv(result));
  if (flags.html !== undefined) writeFileSync(flags.html, renderHtmlReport(result));
}

/** `starling bench ...`: returns the exit code. */
export async function runBenchCommand(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  // These two have their own flags and help.
  if (sub === 'keepalive') return runBenchKeepaliveCommand(rest);
  if (sub === 'compare') return runBenchCompareCommand(rest);
  if (sub === 'agent') return runBenchAgentCommand(rest);
  if (
    sub === undefined ||
    sub === '-h' ||
    sub === '--help' ||
    sub === 'help' ||
    rest.includes('--help') ||
    rest.includes('-h')
  ) {
    process.stdout.write(HELP);
    return 0;
  }
  const { options, flags } = benchOptionsFor(sub, rest);
  const bench = new Bench(options);
  const dashboard = await liveDashboard(flags.dashboard, bench, `starling bench ${sub}`);
  const display = flags.quiet === true ? undefined : progressFor(process.stderr);
  if (display !== undefined) {
    bench.on('progress', (progress) => display.update(progress));
    bench.on('stage', (stage) => process.stderr.write(`${stage}\n`));
  }
  let interrupted = false;
  const onSigint = (): void => {
    if (interrupted) process.exit(130);
    interrupted = true;
    bench.abort('interrupted (SIGINT)');
  };
  process.on('SIGINT', onSigint);
  let result: BenchResult;
  try {
    result = await bench.run();
  } catch (error) {
    await dashboard?.close();
    if (error instanceof BenchSetupError) {
      process.stderr.write(`starling bench: ${error.message}\n`);
      return 1;
    }
    throw error;
  } finally {
    display?.stop();
    process.off('SIGINT', onSigint);
  }
  let report = '';
  if (interrupted) report += 'Interrupted: partial results\n';
  else if (bench.stopReason !== undefined) report += `Stopped early: ${bench.stopReason}\n`;
  report += renderTextReport(result);
  if (options.scenario.kind === 'subscribe') report += deliveryReport(bench, result);
  if (options.scenario.kind === 'stress') report += stressTruth(result);
  report += renderAgentsText(result);
  process.stdout.write(report);
  writeOutputs(flags, result);
  if (dashboard !== undefined) {
    dashboard.finish(report);
    await dashboard.close();
  }
  if (interrupted) return 130;
  const failed = result.clients.filter((client) => client.failed === true);
  if (failed.length === 0 || failed.length < result.clients.length) return 0;
  // Every client failed: say why once, after however many failed blocks the report printed.
  process.stderr.write(
    `starling bench: every client failed (${failed.length}); first error: ${failed[0]?.error ?? 'unknown error'}\n`,
  );
  return 1;
}
