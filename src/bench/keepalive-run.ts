/**
 * `bench keepalive` over several processes (`-P`) and agents: the connections are split into contiguous
 * ranges, one per process, every process opens its range at its share of the connection rate from one
 * instant, and the parts' results are merged exactly into one {@link KeepaliveResult}. Live figures come
 * as {@link BenchLiveSample}s (attempts as sent, CONNACKs as received, open connections as connected,
 * connect latency as latency), as for the other bench commands.
 */
import { EventEmitter } from 'node:events';
import { type AgentRunOptions, DistributedKeepalive } from './agent/distributed-keepalive.js';
import { type KeepaliveLoad, planKeepalive } from './bench-plan.js';
import { mergeKeepaliveParts } from './keepalive-part.js';
import type { KeepaliveResult } from './keepalive-types.js';
import { type BenchLiveSample, everyInterval, LiveSampler } from './live-sample.js';
import { LocalRunner } from './local-runner.js';
import { nowMillis } from './payload.js';

/** A live view of a keepalive run over all its processes. */
export interface KeepaliveLiveProgress {
  readonly elapsedMs: number;
  readonly requested: number;
  readonly attempted: number;
  /** CONNACKs received so far. */
  readonly connected: number;
  /** Connections open now. */
  readonly open: number;
  /** Failed attempts and unexpected disconnects. */
  readonly errors: number;
}

/** Events of a {@link KeepaliveBench}. */
export interface KeepaliveBenchEvents {
  progress: [KeepaliveLiveProgress];
  interval: [BenchLiveSample];
  stage: [string];
}

/** Options of a {@link KeepaliveBench}. */
export interface KeepaliveBenchOptions {
  /** The whole run: every connection and the whole connection rate. */
  readonly load: KeepaliveLoad;
  /** Processes the connections are split over (default 1: this process). */
  readonly processes?: number;
  /** Live sample interval, default 1000 ms. */
  readonly intervalMs?: number;
  /** Progress interval, default 1000 ms. */
  readonly progressIntervalMs?: number;
  /** Run on these agents (`starling bench agent`); `processes` then counts the whole run's, default one per agent. */
  readonly agents?: AgentRunOptions;
}

/** One keepalive run; one `run()` per instance. */
export class KeepaliveBench extends EventEmitter<KeepaliveBenchEvents> {
  readonly options: KeepaliveBenchOptions;
  #runner: LocalRunner | undefined;
  #distributed: DistributedKeepalive | undefined;
  #stopReason: string | undefined;
  #heldAtOnce = 0;

  constructor(options: KeepaliveBenchOptions) {
    super();
    const processes = options.processes ?? options.agents?.endpoints.length ?? 1;
    if (!Number.isInteger(processes) || processes < 1 || processes > 256) {
      throw new RangeError(`processes must be 1..256, got ${processes}`);
    }
    this.options = options;
  }

  /** Why the run was stopped early, if it was. */
  get stopReason(): string | undefined {
    return this.#stopReason;
  }

  /** Stops opening connections, ends the hold and closes everything; `run()` resolves with partial results. */
  abort(reason = 'aborted'): void {
    if (this.#stopReason !== undefined) return;
    this.#stopReason = reason;
    this.#runner?.stop(reason);
    this.#distributed?.stop(reason);
  }

  /** Runs to the end of the hold. Rejects when a part cannot run (bad options, system limits). */
  async run(): Promise<KeepaliveResult> {
    // The most connections held at one instant is read off the live samples, whoever emits them.
    this.on('interval', (sample) => {
      this.#heldAtOnce = Math.max(this.#heldAtOnce, sample.connected);
    });
    const result =
      this.options.agents === undefined
        ? await this.#runLocal()
        : await this.#runDistributed(this.options.agents);
    return { ...result, heldAtOnce: this.#heldAtOnce };
  }

  async #runDistributed(agents: AgentRunOptions): Promise<KeepaliveResult> {
    const startedAt = Date.now();
    const distributed = new DistributedKeepalive(agents, {
      onStage: (stage) => this.emit('stage', stage),
      onInterval: (sample) => this.emit('interval', sample),
      onCounters: (counters) =>
        this.emit('progress', {
          elapsedMs: Date.now() - startedAt,
          requested: this.options.load.clients,
          attempted: counters.sent,
          connected: counters.received,
          open: counters.connected,
          errors: counters.errors,
        }),
    });
    this.#distributed = distributed;
    if (this.#stopReason !== undefined) distributed.stop(this.#stopReason);
    const processes = this.options.processes ?? agents.endpoints.length;
    return distributed.run(this.options.load, processes, this.options.intervalMs ?? 1000);
  }

  async #runLocal(): Promise<KeepaliveResult> {
    const { load } = this.options;
    const processes = this.options.processes ?? 1;
    const startedAt = new Date();
    const cpuStart = process.cpuUsage();
    const originMs = Math.floor(nowMillis());
    const plan = planKeepalive(load, processes, originMs);
    const runner = new LocalRunner(plan);
    this.#runner = runner;
    if (this.#stopReason !== undefined) runner.stop(this.#stopReason);
    const sampler = new LiveSampler(originMs, ['local']);
    const sample = (atMs: number): void => {
      sampler.update(0, runner.counters);
      runner.drainLatency(sampler.latency);
      this.emit('interval', sampler.sample(atMs));
    };
    const progress = (): void => {
      const counters = runner.counters;
      this.emit('progress', {
        elapsedMs: Date.now() - startedAt.getTime(),
        requested: load.clients,
        attempted: counters.sent,
        connected: counters.received,
        open: counters.connected,
        errors: counters.errors,
      });
    };
    const progressTimer = setInterval(progress, this.options.progressIntervalMs ?? 1000);
    const intervals = everyInterval(originMs, this.options.intervalMs ?? 1000, nowMillis, sample);
    let outcome: Awaited<ReturnType<LocalRunner['run']>>;
    try {
      outcome = await runner.run();
    } finally {
      clearInterval(progressTimer);
      intervals.stop();
    }
    sampler.setState(0, 'done');
    sample(nowMillis());
    const own = process.cpuUsage(cpuStart);
    const { password: _password, insecure: _insecure, ...shown } = load;
    return mergeKeepaliveParts(outcome.keepalive, {
      options: shown,
      url: load.url,
      startedAt,
      wallClockMs: Date.now() - startedAt.getTime(),
      // With forked workers this process only coordinated; its CPU is part of the generator's all the same.
      ...(runner.forkedProcesses > 0 ? { coordinatorCpu: own } : {}),
    });
  }
}
