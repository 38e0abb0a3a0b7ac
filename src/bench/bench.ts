/**
 * The `Bench` library class behind `starling bench`: configure a scenario, `run()` it against a broker (an
 * embedded Starling broker in its own process when no URL is given) across one or more processes, or
 * across the processes of several agents, and get one {@link BenchResult}. Processes and agents report
 * counters, encoded HDR histograms and time series; they are merged exactly (never averaged). While it
 * runs, a Bench emits `progress` for displays and one `interval` sample per interval for live dashboards.
 */
import { EventEmitter } from 'node:events';
import { DistributedBench } from './agent/distributed-bench.js';
import { mergeShares } from './bench-merge.js';
import type { BenchOptions } from './bench-options.js';

export type { BenchOptions } from './bench-options.js';

import { expectedTotal, planBench } from './bench-plan.js';
import type { BenchResult } from './bench-result.js';
import { BenchSetupError, probeBroker } from './bench-setup.js';
import { type EmbeddedBroker, startEmbeddedBroker } from './embedded-broker.js';
import { type BenchLiveSample, everyInterval, LiveSampler } from './live-sample.js';
import { LocalRunner } from './local-runner.js';
import { nowMillis } from './payload.js';
import type { BenchProgress } from './progress.js';
import type { ConnectionSettings, SubscriberDeliveries } from './scenarios/common.js';

export type { AgentRunOptions } from './agent/distributed-bench.js';
export { deliveryTotals } from './bench-merge.js';
export { BenchSetupError, describeConnectError, probeBroker } from './bench-setup.js';
export type { BenchLiveAgentRow, BenchLiveSample } from './live-sample.js';
export type { BenchProgress } from './progress.js';
export type * from './scenarios/common.js';

/** Events of a {@link Bench}. */
export interface BenchEvents {
  progress: [BenchProgress];
  /** Human-readable milestones: broker started, clients connected, run stopping. */
  stage: [string];
  /** Once per interval (and once at the end): what happened in it, over every process and agent. */
  interval: [BenchLiveSample];
}

const DEFAULT_TIMEOUT_MS = 600_000;

/** A load-generation run; one `run()` per instance. */
export class Bench extends EventEmitter<BenchEvents> {
  readonly options: BenchOptions;
  #started = false;
  #aborted = false;
  #runner: LocalRunner | undefined;
  #distributed: DistributedBench | undefined;
  #deliveries: readonly SubscriberDeliveries[] = [];
  #raw: number[] | undefined;
  #stopReason: string | undefined;

  constructor(options: BenchOptions) {
    super();
    const processes = options.processes ?? options.agents?.endpoints.length ?? 1;
    if (!Number.isInteger(processes) || processes < 1 || processes > 256) {
      throw new RangeError(`processes must be 1..256, got ${processes}`);
    }
    this.options = options;
  }

  /** Generator processes of the whole run. */
  get processes(): number {
    return this.options.processes ?? this.options.agents?.endpoints.length ?? 1;
  }

  /** Subscribe scenario: delivery accounting per subscriber and publisher, after `run()`. */
  get deliveries(): readonly SubscriberDeliveries[] {
    return this.#deliveries;
  }

  /** Every latency sample of the run (us) when `recordRawLatency` was set, after `run()`. */
  get rawLatencyUs(): readonly number[] | undefined {
    return this.#raw;
  }

  /** Why the run ended early (abort, drops, deadline, a lost agent), if it did. */
  get stopReason(): string | undefined {
    return this.#stopReason;
  }

  /** Stops the run (every agent too); `run()` then resolves with what was measured so far. */
  abort(reason = 'aborted'): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#stopReason = reason;
    this.emit('stage', `stopping: ${reason}`);
    this.#runner?.stop(reason);
    this.#distributed?.stop(reason);
  }

  /** Runs the scenario to its end and returns the merged result. Throws {@link BenchSetupError}. */
  async run(): Promise<BenchResult> {
    if (this.#started) throw new Error('a Bench runs once');
    this.#started = true;
    const startedAt = new Date();
    const cpuStart = process.cpuUsage();
    let broker: EmbeddedBroker | undefined;
    try {
      let url = this.options.connection.url ?? this.options.connection.urls?.[0];
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
      if (this.options.agents !== undefined) return await this.#runDistributed(connection, startedAt);
      await probeBroker(connection, this.options.scenario.clientId);
      return await this.#runLocal(connection, startedAt, cpuStart);
    } finally {
      await broker?.stop();
    }
  }

  async #runLocal(
    connection: ConnectionSettings,
    startedAt: Date,
    cpuStart: NodeJS.CpuUsage,
  ): Promise<BenchResult> {
    const { options } = this;
    const originMs = Math.floor(nowMillis());
    const intervalMs = options.intervalMs ?? 1000;
    const bound = Math.min(
      options.durationMs ?? Number.POSITIVE_INFINITY,
      options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    );
    const plan = planBench(
      {
        scenario: options.scenario,
        ...(options.publisher ? { publisher: options.publisher } : {}),
        processes: this.processes,
      },
      {
        connection,
        originMs,
        deadlineMs: originMs + bound,
        intervalMs,
        ...(options.recordRawLatency === true ? { recordRawLatency: true } : {}),
      },
    );
    const topic = options.scenario.kind === 'subscribe' ? options.scenario.topic : '';
    const runner = new LocalRunner(plan, {
      onStopRequest: (reason) => this.abort(reason),
      // Tells whoever starts publishers separately (another `bench publish`) that nothing sent from now on is lost.
      onSubscribed: (subscribers) =>
        this.emit('stage', `subscribed: ${subscribers} subscriber(s) on ${topic}`),
    });
    this.#runner = runner;
    if (this.#aborted) runner.stop(this.#stopReason ?? 'aborted');
    const total = expectedTotal(plan);
    const sampler = new LiveSampler(originMs, ['local']);
    const sample = (atMs: number): void => {
      sampler.update(0, runner.counters);
      runner.drainLatency(sampler.latency);
      this.emit('interval', sampler.sample(atMs));
    };
    const progress = (): void => {
      const { sent, done, connected } = runner.counters;
      this.emit('progress', { sent, done, connected, total, elapsedMs: Date.now() - startedAt.getTime() });
    };
    const progressTimer = setInterval(progress, options.progressIntervalMs ?? 250);
    const intervals = everyInterval(originMs, intervalMs, nowMillis, sample);
    let outcome: Awaited<ReturnType<LocalRunner['run']>>;
    try {
      outcome = await runner.run();
    } finally {
      clearInterval(progressTimer);
      intervals.stop();
    }
    sampler.setState(0, 'done');
    sample(nowMillis());
    progress();
    const cpu = process.cpuUsage(cpuStart);
    const merged = mergeShares(outcome.shares, {
      scenario: options.scenario,
      ...(options.publisher === undefined ? {} : { publisher: options.publisher }),
      processes: this.processes,
      connection,
      url: connection.url,
      startedAt,
      intervalMs,
      ...(options.durationMs === undefined ? {} : { durationMs: options.durationMs }),
      ...(options.brokerLabel === undefined ? {} : { brokerLabel: options.brokerLabel }),
      cpu: [{ user: cpu.user, system: cpu.system }, ...outcome.workerCpu],
      peakRssBytes: outcome.peakRssBytes,
      ...(this.#stopReason === undefined ? {} : { stopReason: this.#stopReason }),
    });
    this.#finish(merged, outcome.shares);
    return merged.result;
  }

  async #runDistributed(connection: ConnectionSettings, startedAt: Date): Promise<BenchResult> {
    const distributed = new DistributedBench(this.options, this.options.agents!, this.processes, {
      onStage: (stage) => this.emit('stage', stage),
      onProgress: (progress) => this.emit('progress', progress),
      onInterval: (sample) => this.emit('interval', sample),
      onStopRequest: (reason) => this.abort(reason),
    });
    this.#distributed = distributed;
    if (this.#aborted) distributed.stop(this.#stopReason ?? 'aborted');
    const outcome = await distributed.run(connection, startedAt);
    this.#finish(outcome.merged, outcome.shares);
    return outcome.merged.result;
  }

  #finish(
    merged: ReturnType<typeof mergeShares>,
    shares: readonly { rawLatencyUs?: readonly number[] }[],
  ): void {
    this.#deliveries = merged.deliveries;
    if (this.#stopReason === undefined) this.#stopReason = merged.stopReason;
    if (this.options.recordRawLatency === true)
      this.#raw = shares.flatMap((share) => share.rawLatencyUs ?? []);
  }
}
