/**
 * The `Bench` library class behind `starling bench`: configure a scenario, `run()` it against a broker (an
 * embedded Starling broker in its own process when no URL is given) across one or more processes, and get
 * one {@link BenchResult}. Worker processes report counters, encoded HDR histograms and time series; this
 * class merges them exactly (never averaging) and adds the generator's own CPU use.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { connect } from '../client/index.js';
import { MqttError } from '../packets/errors.js';
import type { BenchConfig, BenchResult, ClientResult, DeliveryTotals } from './bench-result.js';
import { type EmbeddedBroker, siblingModule, startEmbeddedBroker } from './embedded-broker.js';
import { LatencyHistogram } from './histogram.js';
import { nowMillis } from './payload.js';
import type { BenchProgress } from './progress.js';
import { buildBenchResult, type CpuSample, generatorUsage } from './result-builder.js';
import {
  type ConnectionSettings,
  clientOptions,
  type PublishScenario,
  type Scenario,
  type ShareControl,
  type ShareCounters,
  type ShareResult,
  type ShareTask,
  type SubscriberDeliveries,
} from './scenarios/common.js';
import { runShare } from './scenarios/run-share.js';
import { ThroughputTimeSeries } from './timeseries.js';
import type { FromWorker, ToWorker } from './worker.js';

export type { BenchProgress } from './progress.js';
export type * from './scenarios/common.js';

/** Options of a {@link Bench}. */
export interface BenchOptions {
  readonly scenario: Scenario;
  /** Broker connection; without `url` an embedded Starling broker is started for the run. */
  readonly connection: Omit<ConnectionSettings, 'url'> & { readonly url?: string };
  /** Generator processes: 1 runs in this process, N > 1 forks N workers. Default 1. */
  readonly processes?: number;
  /** Stop after this long (a normal end for time-bounded runs). */
  readonly durationMs?: number;
  /** Global bound on the whole run, default 10 minutes. */
  readonly timeoutMs?: number;
  /** Subscribe scenario only: also run these publishers (spread over the processes) to measure end to end. */
  readonly publisher?: PublishScenario;
  /** Time series bucket width, default 1000 ms. */
  readonly intervalMs?: number;
  /** How often `progress` is emitted, default 250 ms. */
  readonly progressIntervalMs?: number;
  readonly brokerLabel?: string;
}

/** Events of a {@link Bench}. */
export interface BenchEvents {
  progress: [BenchProgress];
  /** Human-readable milestones: broker started, clients connected, run stopping. */
  stage: [string];
}

/** The run could not start: broker unreachable, connection refused, authentication failed. */
export class BenchSetupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BenchSetupError';
  }
}

const DEFAULT_TIMEOUT_MS = 600_000;
/** How long the subscriber waits for stragglers once the publishers are done (--publish mode). */
const PUBLISH_MODE_IDLE_MS = 2000;

/** Says in one line why a connection attempt failed. */
export function describeConnectError(url: string, error: unknown): string {
  if (error instanceof MqttError) {
    const code = `0x${error.reasonCode.toString(16).padStart(2, '0')}`;
    return `broker ${url} refused the connection: ${error.message} (reason code ${code})`;
  }
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'ECONNREFUSED') return `cannot connect to ${url}: connection refused`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `cannot connect to ${url}: unknown host`;
  return `cannot connect to ${url}: ${message}`;
}

function emptyCounters(): ShareCounters {
  return { sent: 0, done: 0, connected: 0 };
}

function totalOf(scenario: Scenario, processes: number): number | undefined {
  switch (scenario.kind) {
    // fan-out: each of the subscribers receives all messages of its process's one publisher.
    case 'publish':
    case 'stress':
    case 'fan-in':
    case 'fan-out':
      return scenario.clientsPerProcess * scenario.messagesPerClient * processes;
    case 'subscribe':
      return scenario.count > 0 ? scenario.count * scenario.clientsPerProcess * processes : undefined;
  }
}

/** A load-generation run; one `run()` per instance. */
export class Bench extends EventEmitter<BenchEvents> {
  readonly options: BenchOptions;
  readonly #controller = new AbortController();
  readonly #workers = new Set<ChildProcess>();
  readonly #counters: ShareCounters[] = [];
  #started = false;
  #deliveries: SubscriberDeliveries[] = [];
  #stopReason: string | undefined;

  constructor(options: BenchOptions) {
    super();
    const processes = options.processes ?? 1;
    if (!Number.isInteger(processes) || processes < 1 || processes > 256) {
      throw new RangeError(`processes must be 1..256, got ${processes}`);
    }
    this.options = options;
  }

  /** Subscribe scenario: delivery accounting per subscriber and publisher, after `run()`. */
  get deliveries(): readonly SubscriberDeliveries[] {
    return this.#deliveries;
  }

  /** Why the run ended early (abort, drops, deadline), if it did. */
  get stopReason(): string | undefined {
    return this.#stopReason;
  }

  /** Stops the run; `run()` then resolves with what was measured so far. */
  abort(reason = 'aborted'): void {
    if (this.#controller.signal.aborted) return;
    this.#stopReason = reason;
    this.#controller.abort(reason);
    this.emit('stage', `stopping: ${reason}`);
    for (const worker of this.#workers) {
      if (worker.connected) worker.send({ type: 'stop', reason } satisfies ToWorker);
    }
  }

  /** Runs the scenario to its end and returns the merged result. Throws {@link BenchSetupError}. */
  async run(): Promise<BenchResult> {
    if (this.#started) throw new Error('a Bench runs once');
    this.#started = true;
    const startedAt = new Date();
    const cpuStart = process.cpuUsage();
    let broker: EmbeddedBroker | undefined;
    const progressTimer = setInterval(
      () => this.#emitProgress(startedAt),
      this.options.progressIntervalMs ?? 250,
    );
    try {
      let url = this.options.connection.url;
      if (url === undefined) {
        try {
          broker = await startEmbeddedBroker();
        } catch (error) {
          throw new BenchSetupError(`cannot start the embedded broker: ${(error as Error).message}`, {
            cause: error,
          });
        }
        url = broker.url;
        this.emit('stage', `embedded Starling broker on ${url} (pid ${broker.pid})`);
      }
      const connection: ConnectionSettings = { ...this.options.connection, url };
      await this.#probe(connection);
      const originMs = Math.floor(nowMillis());
      const bound = Math.min(
        this.options.durationMs ?? Number.POSITIVE_INFINITY,
        this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      );
      const base = {
        connection,
        originMs,
        deadlineMs: originMs + bound,
        intervalMs: this.options.intervalMs ?? 1000,
      };
      const shares = await this.#runScenario(base);
      clearInterval(progressTimer);
      this.#emitProgress(startedAt);
      const cpu = process.cpuUsage(cpuStart);
      return this.#merge(shares, startedAt, url, { user: cpu.user, system: cpu.system });
    } finally {
      clearInterval(progressTimer);
      await broker?.stop();
    }
  }

  async #probe(connection: ConnectionSettings): Promise<void> {
    const base = this.options.scenario.clientId;
    try {
      const client = await connect(connection.url, clientOptions(connection, `${base}-probe`));
      await client.end({ timeoutMs: 2000 });
    } catch (error) {
      throw new BenchSetupError(describeConnectError(connection.url, error), { cause: error });
    }
  }

  async #runScenario(base: Omit<ShareTask, 'scenario' | 'processIndex'>): Promise<ShareResult[]> {
    const { scenario, publisher } = this.options;
    const processes = this.options.processes ?? 1;
    if (scenario.kind !== 'subscribe' || publisher === undefined) {
      return this.#runShares({ ...base, scenario }, processes);
    }
    // End-to-end mode: the subscribers run here so we know when they are subscribed; publishers start
    // only then, and the subscribers stop once publishers are done and the stream has gone quiet.
    let ready: () => void = () => undefined;
    const subscribed = new Promise<void>((resolve) => (ready = resolve));
    let publishersDone = false;
    const expected = publisher.messagesPerClient;
    const subscriberScenario = {
      ...scenario,
      expectedPerPublisher: scenario.expectedPerPublisher ?? expected,
      idleTimeoutMs: Math.min(scenario.idleTimeoutMs, PUBLISH_MODE_IDLE_MS),
      count: scenario.count > 0 ? scenario.count : expected * publisher.clientsPerProcess * processes,
    };
    const subscribers = this.#runLocal(
      { ...base, scenario: subscriberScenario, processIndex: 0 },
      {
        onReady: ready,
        publishersDone: () => publishersDone,
      },
    );
    await Promise.race([subscribed, subscribers]);
    const publishers = await this.#runShares(
      { ...base, scenario: { ...publisher, timestamp: true } },
      processes,
    );
    publishersDone = true;
    const subscriberResult = await subscribers;
    // Only the subscribers' view is the result; the publishers' CPU still counts as generator use.
    return [
      subscriberResult,
      ...publishers.map((share) => ({ ...share, clients: [], histogramUs: emptyHistogram() })),
    ];
  }

  #runShares(task: Omit<ShareTask, 'processIndex'>, processes: number): Promise<ShareResult[]> {
    if (processes === 1) return this.#runLocal({ ...task, processIndex: 0 }, {}).then((share) => [share]);
    return Promise.all(
      Array.from({ length: processes }, (_, i) => this.#runWorker({ ...task, processIndex: i })),
    );
  }

  #runLocal(task: ShareTask, extra: Pick<ShareControl, 'onReady' | 'publishersDone'>): Promise<ShareResult> {
    const counters = emptyCounters();
    this.#counters.push(counters);
    const { scenario } = task;
    // Tells whoever starts publishers separately (another `bench publish`) that nothing sent from now on is lost.
    const onReady =
      scenario.kind === 'subscribe'
        ? () => {
            this.emit(
              'stage',
              `subscribed: ${scenario.clientsPerProcess} subscriber(s) on ${scenario.topic}`,
            );
            extra.onReady?.();
          }
        : extra.onReady;
    return runShare(task, {
      signal: this.#controller.signal,
      counters,
      requestStop: (reason) => this.abort(reason),
      ...extra,
      ...(onReady === undefined ? {} : { onReady }),
    });
  }

  #runWorker(task: ShareTask): Promise<ShareResult> {
    const { path, execArgv } = siblingModule('worker');
    const counters = emptyCounters();
    this.#counters.push(counters);
    const child = fork(path, [], {
      execArgv,
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.#workers.add(child);
    return new Promise<ShareResult>((resolve) => {
      let result: ShareResult | undefined;
      let failure = 'worker exited without a result';
      child.on('message', (message: FromWorker) => {
        if (message.type === 'progress') Object.assign(counters, message.counters);
        else if (message.type === 'stop-request') this.abort(message.reason);
        else if (message.type === 'result') result = message.result;
        else failure = `worker failed: ${message.message}`;
      });
      child.once('exit', () => {
        this.#workers.delete(child);
        resolve(result ?? failedShare(task, failure));
      });
      child.send({ type: 'run', task } satisfies ToWorker);
      if (this.#controller.signal.aborted)
        child.send({ type: 'stop', reason: this.#stopReason ?? 'aborted' } satisfies ToWorker);
    });
  }

  #emitProgress(startedAt: Date): void {
    let sent = 0;
    let done = 0;
    let connected = 0;
    for (const counters of this.#counters) {
      sent += counters.sent;
      done += counters.done;
      connected += counters.connected;
    }
    const processes = this.options.processes ?? 1;
    const total =
      totalOf(this.options.scenario, processes) ??
      (this.options.publisher ? totalOf(this.options.publisher, processes) : undefined);
    this.emit('progress', { sent, done, connected, total, elapsedMs: Date.now() - startedAt.getTime() });
  }

  #merge(shares: readonly ShareResult[], startedAt: Date, url: string, parentCpu: CpuSample): BenchResult {
    const histogram = new LatencyHistogram();
    const timeseries = new ThroughputTimeSeries(
      shares[0]?.timeseries.originMs ?? startedAt.getTime(),
      this.options.intervalMs ?? 1000,
    );
    const clients: ClientResult[] = [];
    const cpu: CpuSample[] = [parentCpu];
    let first = Number.POSITIVE_INFINITY;
    let last = Number.NEGATIVE_INFINITY;
    let peakRss = process.resourceUsage().maxRSS * 1024;
    const deliveries: SubscriberDeliveries[] = [];
    for (const share of shares) {
      clients.push(...share.clients);
      histogram.merge(LatencyHistogram.decode(share.histogramUs));
      timeseries.merge(share.timeseries);
      if (share.deliveries) deliveries.push(...share.deliveries);
      if (Number.isFinite(share.firstStartMs)) first = Math.min(first, share.firstStartMs);
      if (Number.isFinite(share.lastEndMs)) last = Math.max(last, share.lastEndMs);
      // In-process shares are already inside the parent's own CPU figure.
      if (share.processIndex >= 0 && this.#isWorkerShare(share)) cpu.push(share.cpu);
      peakRss = Math.max(peakRss, share.peakRssBytes);
      if (share.stopReason !== undefined && this.#stopReason === undefined)
        this.#stopReason = share.stopReason;
    }
    this.#deliveries = deliveries;
    const wallClockMs = Number.isFinite(first) && last >= first ? last - first : 0;
    return buildBenchResult({
      scenario: this.options.scenario.kind,
      startedAt,
      config: this.#config(url),
      clients,
      wallClockMs,
      latencyHistogram: histogram,
      timeseries,
      generator: generatorUsage(cpu, Date.now() - startedAt.getTime(), peakRss),
      ...(this.options.scenario.kind === 'subscribe' ? { delivery: deliveryTotals(deliveries) } : {}),
    });
  }

  #isWorkerShare(share: ShareResult): boolean {
    return (
      (this.options.processes ?? 1) > 1 &&
      !(this.options.publisher !== undefined && share.deliveries !== undefined)
    );
  }

  #config(url: string): BenchConfig {
    const { scenario, publisher } = this.options;
    const processes = this.options.processes ?? 1;
    const options: Record<string, string | number | boolean> = { processes };
    if (this.#stopReason !== undefined) options.stopReason = this.#stopReason;
    let messagesPerClient: number | undefined;
    let qos: 0 | 1 | 2 | undefined;
    let payloadBytes: number | undefined;
    switch (scenario.kind) {
      case 'publish':
        messagesPerClient = scenario.messagesPerClient;
        qos = scenario.qos;
        payloadBytes = scenario.payloadBytes;
        options.topic = scenario.topic;
        options.timestamp = scenario.timestamp;
        if (scenario.ratePerClient > 0) options.ratePerClient = scenario.ratePerClient;
        break;
      case 'stress':
        messagesPerClient = scenario.messagesPerClient;
        qos = scenario.publisherQos;
        payloadBytes = scenario.payloadBytes;
        options.subscriberQos = scenario.subscriberQos;
        break;
      case 'fan-out':
      case 'fan-in':
        messagesPerClient = scenario.messagesPerClient;
        qos = scenario.publisherQos;
        payloadBytes = scenario.payloadBytes;
        options.subscriberQos = scenario.subscriberQos;
        if (scenario.kind === 'fan-out') options.publishers = processes;
        else options.subscribers = processes;
        break;
      case 'subscribe':
        qos = scenario.qos;
        options.topic = scenario.topic;
        if (publisher !== undefined) options.publishers = publisher.clientsPerProcess * processes;
        break;
    }
    const clients =
      scenario.clientsPerProcess * (scenario.kind === 'subscribe' && publisher !== undefined ? 1 : processes);
    return {
      brokerUrl: url,
      ...(this.options.brokerLabel === undefined ? {} : { brokerLabel: this.options.brokerLabel }),
      clients,
      ...(messagesPerClient === undefined ? {} : { messagesPerClient }),
      ...(payloadBytes === undefined ? {} : { payloadBytes }),
      ...(qos === undefined ? {} : { qos }),
      protocolVersion: this.options.connection.protocolVersion,
      ...(this.options.durationMs === undefined ? {} : { durationMs: this.options.durationMs }),
      options,
    };
  }
}

/** Sums the subscribers' per-publisher accounting into the result's delivery totals. */
export function deliveryTotals(deliveries: readonly SubscriberDeliveries[]): DeliveryTotals {
  let streams = 0;
  let received = 0;
  let unique = 0;
  let missing = 0;
  let duplicated = 0;
  let outOfOrder = 0;
  let foreign = 0;
  for (const subscriber of deliveries) {
    foreign += subscriber.foreign;
    for (const p of subscriber.publishers) {
      streams++;
      received += p.received;
      unique += p.unique;
      missing += p.missing;
      duplicated += p.duplicates;
      outOfOrder += p.outOfOrder;
    }
  }
  return { streams, received, unique, missing, duplicated, outOfOrder, foreign };
}

function emptyHistogram(): string {
  return new LatencyHistogram().encode();
}

function failedShare(task: ShareTask, error: string): ShareResult {
  const nan = Number.NaN;
  const client: ClientResult = {
    clientId: `process-${task.processIndex}`,
    messagesOk: 0,
    messagesTotal: 0,
    timingMs: { count: 0, mean: nan, stddev: nan, min: nan, max: nan },
    failed: true,
    error,
  };
  return {
    processIndex: task.processIndex,
    clients: [client],
    histogramUs: emptyHistogram(),
    timeseries: new ThroughputTimeSeries(task.originMs, task.intervalMs).toJSON(),
    cpu: { user: 0, system: 0 },
    peakRssBytes: 0,
    firstStartMs: nan,
    lastEndMs: nan,
  };
}
