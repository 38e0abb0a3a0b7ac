/**
 * `bench compare`: one scenario against several brokers in turn, one {@link Bench} run each, so the rows
 * of the comparison table come from identical workloads. Runs are sequential on purpose: brokers on the
 * same machine must not compete with each other for CPU while being measured. A broker that cannot be
 * reached does not stop the comparison; it gets a row that says so.
 */
import { type AgentRunOptions, Bench, BenchSetupError } from './bench.js';
import type { BenchResult } from './bench-result.js';
import type { BenchProgress } from './progress.js';
import { type CompareRow, compareRowFromResult } from './report-text.js';
import type { ConnectionSettings, FanInScenario, FanOutScenario, Scenario } from './scenarios/common.js';

/** The scenarios `bench compare` can run. */
export const CompareScenario = {
  Stress: 'stress',
  FanOut: 'fan-out',
  FanIn: 'fan-in',
  Publish: 'publish',
} as const;
/** One of the {@link CompareScenario} values. */
export type CompareScenario = (typeof CompareScenario)[keyof typeof CompareScenario];

/** A broker to compare: a table label and where it is; no `url` means an embedded Starling broker. */
export interface CompareBroker {
  readonly name: string;
  readonly url?: string;
}

/** Connection settings shared by every broker of a comparison (the URL comes from each broker). */
export type CompareConnection = Omit<ConnectionSettings, 'url'>;

/** What to run against every broker. */
export interface CompareOptions {
  readonly brokers: readonly CompareBroker[];
  readonly scenario: CompareScenario;
  /** Workers (stress), subscribers (fan-out) or publishers (fan-in, publish), per process. Default 10. */
  readonly clients?: number;
  /**
   * Generator processes of each broker's run, each running `clients` (fan-out and fan-in: one group each).
   * Default 1, or one per agent.
   */
  readonly processes?: number;
  /** Run every broker's scenario on these agents (`starling bench agent`), `processes` spread over them. */
  readonly agents?: AgentRunOptions;
  /** Messages per publisher. Default 10. */
  readonly messages?: number;
  /** QoS of publishing and subscribing. Default 0. */
  readonly qos?: 0 | 1 | 2;
  /** Mean payload size in bytes. Default 100. */
  readonly payloadBytes?: number;
  /** Every payload exactly `payloadBytes` (no Gaussian spread). Default false. */
  readonly constantPayload?: boolean;
  /** How long subscribers wait for stragglers once publishing ended. Default 5000 ms. */
  readonly receiveTimeoutMs?: number;
  /** Bound on each broker's run. Default 60000 ms. */
  readonly runTimeoutMs?: number;
  /** QoS 1/2 messages a publisher keeps unacknowledged. Default 1000. */
  readonly maxInflight?: number;
  /** Client id prefix. Default `starling.compare-<pid>`. */
  readonly clientId?: string;
  /** Default MQTT 3.1.1 (what mqtt-stresser speaks) with no credentials. */
  readonly connection?: Partial<CompareConnection>;
}

/** Callbacks while a comparison runs; all optional. */
export interface CompareHooks {
  /** A broker's run is about to start. */
  readonly onBrokerStart?: (broker: CompareBroker, index: number) => void;
  /** Milestones of the current run (embedded broker started, stopping). */
  readonly onStage?: (stage: string) => void;
  readonly onProgress?: (progress: BenchProgress) => void;
  /** A broker's run ended, successfully or not. */
  readonly onBrokerDone?: (entry: CompareEntry, index: number) => void;
  /** Aborting ends the current run (its partial result is kept) and skips the brokers after it. */
  readonly signal?: AbortSignal;
}

/** One broker's outcome. */
export interface CompareEntry {
  readonly broker: CompareBroker;
  /** The table row; a failed broker's row names the failure and has no figures. */
  readonly row: CompareRow;
  /** Absent when the run could not start. */
  readonly result?: BenchResult;
  /** Why this broker failed: unreachable, refused, or no client completing. */
  readonly error?: string;
  /** Clients of the run that failed (timeouts, drops); they are left out of the per-client rates. */
  readonly failedClients: number;
}

/** What a comparison produced, brokers in the order given. */
export interface CompareOutcome {
  readonly scenario: CompareScenario;
  readonly entries: readonly CompareEntry[];
  readonly rows: readonly CompareRow[];
  /** Results of the brokers that ran, in order. */
  readonly results: readonly BenchResult[];
  /** True when any broker failed. */
  readonly anyFailed: boolean;
  /** True when the signal stopped the comparison early. */
  readonly aborted: boolean;
}

const NO_FIGURES = { fastest: Number.NaN, median: Number.NaN, slowest: Number.NaN } as const;

/** The table row of a broker that produced no figures. */
export function failedCompareRow(name: string, reason: string): CompareRow {
  return {
    broker: `${name} (failed: ${reason})`,
    publish: NO_FIGURES,
    receive: NO_FIGURES,
    aggregateMsgsPerSec: Number.NaN,
    p99Ms: Number.NaN,
  };
}

/** The {@link Scenario} a comparison runs against each broker. */
export function compareScenario(options: CompareOptions): Scenario {
  const clients = options.clients ?? 10;
  const messages = options.messages ?? 10;
  const qos = options.qos ?? 0;
  const payloadBytes = options.payloadBytes ?? 100;
  const constantPayload = options.constantPayload ?? false;
  const maxInflight = options.maxInflight ?? 1000;
  const clientId = options.clientId ?? `starling.compare-${process.pid}`;
  const timeoutMs = options.receiveTimeoutMs ?? 5000;
  const fan = {
    clientId,
    clientsPerProcess: clients,
    messagesPerClient: messages,
    publisherQos: qos,
    subscriberQos: qos,
    timeoutMs,
    constantPayload,
    payloadBytes,
    maxInflight,
  };
  switch (options.scenario) {
    case 'stress':
      return {
        ...fan,
        kind: 'stress',
        // All workers at once: a ramp-up would stretch the wall clock differently per broker.
        rampupSize: clients,
        rampupDelayMs: 0,
      };
    case 'fan-out':
      return { ...fan, kind: 'fan-out' } satisfies FanOutScenario;
    case 'fan-in':
      return { ...fan, kind: 'fan-in' } satisfies FanInScenario;
    case 'publish':
      return {
        kind: 'publish',
        clientId,
        clientsPerProcess: clients,
        messagesPerClient: messages,
        qos,
        payloadBytes,
        ratePerClient: 0,
        jitter: 0,
        timestamp: false,
        topic: `internal/starling-compare/{client}`,
        maxInflight,
      };
  }
}

function failureOf(result: BenchResult): string | undefined {
  const failed = result.clients.filter((client) => client.failed === true);
  if (result.clients.length > 0 && failed.length === result.clients.length) {
    return `every client failed: ${failed[0]?.error ?? 'unknown error'}`;
  }
  if (result.aggregate.messagesOk === 0) return 'no message completed';
  return undefined;
}

/** The row of a run: the broker's name, with the failed clients counted when some failed. */
function rowOf(broker: CompareBroker, result: BenchResult, failedClients: number): CompareRow {
  const label =
    failedClients > 0
      ? `${broker.name} (${failedClients} of ${result.clients.length} clients failed)`
      : broker.name;
  return compareRowFromResult(result, label);
}

async function runOne(
  broker: CompareBroker,
  scenario: Scenario,
  options: CompareOptions,
  hooks: CompareHooks,
): Promise<CompareEntry> {
  const bench = new Bench({
    scenario,
    connection: {
      protocolVersion: 4,
      ...options.connection,
      ...(broker.url === undefined ? {} : { url: broker.url }),
    },
    timeoutMs: options.runTimeoutMs ?? 60_000,
    brokerLabel: broker.name,
    ...(options.processes === undefined ? {} : { processes: options.processes }),
    ...(options.agents === undefined ? {} : { agents: options.agents }),
  });
  if (hooks.onStage) bench.on('stage', hooks.onStage);
  if (hooks.onProgress) bench.on('progress', hooks.onProgress);
  const onAbort = (): void => bench.abort('interrupted');
  hooks.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const result = await bench.run();
    const failedClients = result.clients.filter((client) => client.failed === true).length;
    const error = failureOf(result);
    return error === undefined
      ? { broker, row: rowOf(broker, result, failedClients), result, failedClients }
      : { broker, row: failedCompareRow(broker.name, error), result, error, failedClients };
  } catch (error) {
    if (!(error instanceof BenchSetupError)) throw error;
    return {
      broker,
      row: failedCompareRow(broker.name, error.message),
      error: error.message,
      failedClients: 0,
    };
  } finally {
    hooks.signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Runs `options.scenario` against each broker in the order given and collects one row per broker.
 * Setup failures (unreachable, refused, authentication) become failed rows; other errors propagate.
 */
export async function runCompare(options: CompareOptions, hooks: CompareHooks = {}): Promise<CompareOutcome> {
  if (options.brokers.length === 0) throw new RangeError('bench compare needs at least one broker');
  const scenario = compareScenario(options);
  const entries: CompareEntry[] = [];
  for (const [index, broker] of options.brokers.entries()) {
    if (hooks.signal?.aborted === true) break;
    hooks.onBrokerStart?.(broker, index);
    const entry = await runOne(broker, scenario, options, hooks);
    entries.push(entry);
    hooks.onBrokerDone?.(entry, index);
  }
  const results = entries.flatMap((entry) => (entry.result === undefined ? [] : [entry.result]));
  return {
    scenario: options.scenario,
    entries,
    rows: entries.map((entry) => entry.row),
    results,
    anyFailed: entries.some((entry) => entry.error !== undefined),
    aborted: hooks.signal?.aborted === true,
  };
}
