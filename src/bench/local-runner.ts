/**
 * Runs the processes of one machine: a local `starling bench` run, or an agent's part of a distributed one.
 * One share runs in this process; several run in forked workers (`-P`), forked ahead so they can all start
 * at one instant. While they run, {@link LocalRunner.counters} sums their live counters and
 * {@link LocalRunner.drainLatency} hands over the latency samples recorded since the last call.
 */
import type { ClientResult } from './bench-result.js';
import { LatencyHistogram } from './histogram.js';
import { type KeepalivePartResult, type KeepalivePartTask, runKeepalivePart } from './keepalive-part.js';
import {
  type ClockTable,
  emptyCounters,
  onAbort,
  type ShareControl,
  type ShareCounters,
  type ShareResult,
  type ShareTask,
} from './scenarios/common.js';
import { runShare } from './scenarios/run-share.js';
import { ShareLatencySink } from './share-live.js';
import { ThroughputTimeSeries } from './timeseries.js';
import { type WorkerOutcome, WorkerProcess } from './worker-process.js';

/** A bench scenario's processes on this machine. */
export interface BenchPlan {
  readonly kind: 'bench';
  /** One share per process; in end-to-end mode these are the publishers. */
  readonly shares: readonly ShareTask[];
  /** Subscribe with --publish: the subscribers run first, in this process; the shares publish once they are ready. */
  readonly endToEnd?: boolean;
  /** End-to-end mode: this machine's subscribers (absent when another machine holds them all). */
  readonly subscribers?: ShareTask;
}

/** A keepalive run's processes on this machine. */
export interface KeepalivePlan {
  readonly kind: 'keepalive';
  readonly parts: readonly KeepalivePartTask[];
}

/** What this machine runs. Plain JSON. */
export type LocalPlan = BenchPlan | KeepalivePlan;

/** How the runner talks to whoever coordinates the run. All optional. */
export interface LocalRunnerHooks {
  /** End-to-end mode: this machine's subscribers are subscribed; resolves when the publishers may start. */
  readonly subscribed?: () => Promise<{ readonly startAtMs?: number } | undefined>;
  /** End-to-end mode: this machine's publishers are done; resolves once the whole run's are. */
  readonly publishersFinished?: () => Promise<void>;
  /** A share asked the whole run to stop (the broker dropped messages). */
  readonly onStopRequest?: (reason: string) => void;
  /** Every subscribe share of this machine is subscribed: `subscribers` clients in all. */
  readonly onSubscribed?: (subscribers: number) => void;
}

/** What the processes measured. */
export interface LocalOutcome {
  readonly shares: readonly ShareResult[];
  readonly keepalive: readonly KeepalivePartResult[];
  /** CPU of the forked workers (this process's own is the caller's to measure). */
  readonly workerCpu: readonly { readonly user: number; readonly system: number }[];
  readonly peakRssBytes: number;
}

/** Live state of one process of the plan. */
interface Slot {
  readonly counters: ShareCounters;
  /** Publishers of an end-to-end run: their acknowledgements are not the run's completions. */
  readonly countsDone: boolean;
  readonly sink?: ShareLatencySink;
  readonly worker?: WorkerProcess;
  readonly control?: ShareControl;
}

/** Runs one machine's processes; one `run()` per instance. */
export class LocalRunner {
  readonly plan: LocalPlan;
  readonly #hooks: LocalRunnerHooks;
  readonly #abort = new AbortController();
  readonly #slots: Slot[] = [];
  #workers: WorkerProcess[] | undefined;
  #clock: ClockTable | undefined;
  #ready = 0;
  #publishersDone = false;

  constructor(plan: LocalPlan, hooks: LocalRunnerHooks = {}) {
    this.plan = plan;
    this.#hooks = hooks;
  }

  /** Processes this plan forks (0 when its one process is this one). */
  get forkedProcesses(): number {
    const count = this.plan.kind === 'bench' ? this.plan.shares.length : this.plan.parts.length;
    return count > 1 ? count : 0;
  }

  /** Live counters summed over the processes. */
  get counters(): ShareCounters {
    const total = emptyCounters();
    for (const slot of this.#slots) {
      total.sent += slot.counters.sent;
      if (slot.countsDone) total.done += slot.counters.done;
      total.connected += slot.counters.connected;
      total.received += slot.counters.received;
      total.errors += slot.counters.errors;
    }
    return total;
  }

  /** True once stopped. */
  get stopped(): boolean {
    return this.#abort.signal.aborted;
  }

  /** Adds the latency samples recorded since the last call to `target`. */
  drainLatency(target: LatencyHistogram): void {
    for (const slot of this.#slots) {
      slot.sink?.drainInto(target);
      if (slot.worker !== undefined && slot.worker.pendingLatency.count > 0) {
        target.merge(slot.worker.pendingLatency);
        slot.worker.pendingLatency.reset();
      }
    }
  }

  /** Forks the worker processes and waits until they are up. Called by `run()` when not called before. */
  async prepare(): Promise<void> {
    if (this.#workers !== undefined) return;
    this.#workers = Array.from({ length: this.forkedProcesses }, () => WorkerProcess.fork());
    await Promise.all(this.#workers.map((worker) => worker.up));
  }

  /** Ends forked workers that will get no job (the run was called off before it started). */
  async dismiss(): Promise<void> {
    await Promise.all((this.#workers ?? []).map((worker) => worker.dismiss()));
  }

  /** Stops every process; `run()` then resolves with what was measured so far. */
  stop(reason: string): void {
    if (this.#abort.signal.aborted) return;
    this.#abort.abort(reason);
    for (const slot of this.#slots) slot.worker?.stop(reason);
  }

  /** A newer clock table for the subscribers' cross-agent correction. */
  setClock(clock: ClockTable): void {
    this.#clock = clock;
    for (const slot of this.#slots) {
      if (slot.control !== undefined) slot.control.clock = clock;
      slot.worker?.setClock(clock);
    }
  }

  /**
   * Runs the plan to its end. With `startAtMs` (epoch ms on this machine's bench clock) every process
   * starts its load at that instant rather than as soon as it can.
   */
  async run(startAtMs?: number): Promise<LocalOutcome> {
    await this.prepare();
    const workers = [...(this.#workers ?? [])];
    const plan = withStart(this.plan, startAtMs);
    if (plan.kind === 'keepalive') {
      const outcomes = await Promise.all(plan.parts.map((part) => this.#runKeepalive(part, workers.shift())));
      return this.#outcome(outcomes);
    }
    if (plan.endToEnd !== true) {
      const outcomes = await Promise.all(
        plan.shares.map((task) => this.#runShare(task, workers.shift(), true)),
      );
      return this.#outcome(outcomes);
    }
    return this.#runEndToEnd(plan, workers);
  }

  async #runEndToEnd(plan: BenchPlan, workers: WorkerProcess[]): Promise<LocalOutcome> {
    const signal = this.#abort.signal;
    let subscriberRun: Promise<WorkerOutcome> | undefined;
    if (plan.subscribers !== undefined) {
      let subscribed: () => void = () => undefined;
      const ready = new Promise<void>((resolve) => (subscribed = resolve));
      subscriberRun = this.#runShare(plan.subscribers, undefined, true, subscribed);
      await Promise.race([ready, subscriberRun]);
    }
    const gate =
      this.#hooks.subscribed === undefined ? undefined : await this.#untilStopped(this.#hooks.subscribed());
    const startAtMs = gate?.startAtMs;
    const publishers = await Promise.all(
      plan.shares.map((task) =>
        this.#runShare(
          { ...task, discardLatency: true, ...(startAtMs === undefined ? {} : { startAtMs }) },
          workers.shift(),
          false,
        ),
      ),
    );
    if (this.#hooks.publishersFinished !== undefined && !signal.aborted) {
      await this.#untilStopped(this.#hooks.publishersFinished());
    }
    this.#publishersDone = true;
    const subscribers = subscriberRun === undefined ? [] : [await subscriberRun];
    // Only the subscribers' view is the result; the publishers' time series and CPU still count, and so
    // does a publisher's failure: without its row, a run whose publishers all failed would end as an
    // empty report rather than a failed run saying why.
    const stripped = publishers.map((outcome): WorkerOutcome => {
      if (outcome.kind !== 'share') return outcome;
      const { rawLatencyUs: _raw, ...rest } = outcome.result;
      return {
        kind: 'share',
        result: {
          ...rest,
          clients: rest.clients.filter((row) => row.failed === true).map(publisherFailure),
          histogramUs: new LatencyHistogram().encode(),
        },
      };
    });
    return this.#outcome([...subscribers, ...stripped]);
  }

  /** Resolves with `promise`, or with undefined as soon as the run is stopped. */
  #untilStopped<T>(promise: Promise<T>): Promise<T | undefined> {
    const signal = this.#abort.signal;
    if (signal.aborted) return Promise.resolve(undefined);
    let cancel: () => void = () => undefined;
    const stopped = new Promise<undefined>((resolve) => {
      cancel = onAbort(signal, () => resolve(undefined));
    });
    return Promise.race([promise, stopped]).finally(cancel);
  }

  #onShareReady(): void {
    this.#ready++;
    const plan = this.plan;
    if (plan.kind !== 'bench') return;
    const subscribeShares =
      plan.endToEnd === true ? (plan.subscribers === undefined ? 0 : 1) : plan.shares.length;
    if (this.#ready !== subscribeShares) return;
    const clients =
      plan.endToEnd === true
        ? (plan.subscribers?.scenario.clientsPerProcess ?? 0)
        : plan.shares.reduce((sum, task) => sum + task.scenario.clientsPerProcess, 0);
    this.#hooks.onSubscribed?.(clients);
  }

  #runShare(
    task: ShareTask,
    worker: WorkerProcess | undefined,
    countsDone: boolean,
    onSubscribed?: () => void,
  ): Promise<WorkerOutcome> {
    const onReady = (): void => {
      this.#onShareReady();
      onSubscribed?.();
    };
    const requestStop = (reason: string): void => this.#hooks.onStopRequest?.(reason);
    const clock = this.#clock ?? task.clock;
    if (worker !== undefined) {
      this.#slots.push({ counters: worker.counters, countsDone, worker });
      if (this.#abort.signal.aborted) worker.stop(String(this.#abort.signal.reason));
      const run = worker.run({ kind: 'share', task }, { onReady, onStopRequest: requestStop });
      if (clock !== undefined && clock !== task.clock) worker.setClock(clock);
      return run.then((outcome) =>
        outcome.kind === 'failed' ? failedShare(task, outcome.reason, worker) : outcome,
      );
    }
    const sink = new ShareLatencySink(task.recordRawLatency === true);
    const control: ShareControl = {
      signal: this.#abort.signal,
      counters: emptyCounters(),
      requestStop,
      onReady,
      publishersDone: () => this.#publishersDone,
      ...(clock === undefined ? {} : { clock }),
    };
    this.#slots.push({ counters: control.counters, countsDone, sink, control });
    return runShare(task, control, sink).then((result) => ({ kind: 'share', result }));
  }

  #runKeepalive(part: KeepalivePartTask, worker: WorkerProcess | undefined): Promise<WorkerOutcome> {
    if (worker !== undefined) {
      this.#slots.push({ counters: worker.counters, countsDone: true, worker });
      if (this.#abort.signal.aborted) worker.stop(String(this.#abort.signal.reason));
      return worker.run({ kind: 'keepalive', task: part });
    }
    const counters = emptyCounters();
    const sink = new ShareLatencySink();
    this.#slots.push({ counters, countsDone: true, sink });
    return runKeepalivePart(part, { signal: this.#abort.signal, counters, latency: sink }).then(
      (result) => ({ kind: 'keepalive', result }),
      (error: unknown) => ({
        kind: 'failed',
        reason: error instanceof Error ? error.message : String(error),
      }),
    );
  }

  #outcome(outcomes: readonly WorkerOutcome[]): LocalOutcome {
    const shares: ShareResult[] = [];
    const keepalive: KeepalivePartResult[] = [];
    const failures: string[] = [];
    let peakRssBytes = process.resourceUsage().maxRSS * 1024;
    const workerCpu: { user: number; system: number }[] = [];
    const forked = this.forkedProcesses > 0;
    for (const outcome of outcomes) {
      if (outcome.kind === 'failed') {
        failures.push(outcome.reason);
        continue;
      }
      const result = outcome.result;
      if (outcome.kind === 'share') shares.push(outcome.result);
      else keepalive.push(outcome.result);
      peakRssBytes = Math.max(
        peakRssBytes,
        'peakRssBytes' in result ? result.peakRssBytes : result.memory.rssPeakBytes,
      );
      if (forked) workerCpu.push(result.cpu);
    }
    if (failures.length > 0 && this.plan.kind === 'keepalive') {
      // A keepalive part that could not run has no rows to show it; its reason must still surface.
      throw new Error(failures.join('; '));
    }
    return { shares, keepalive, workerCpu, peakRssBytes };
  }
}

/** The plan with every process told to start at `startAtMs` (unchanged without it). */
function withStart(plan: LocalPlan, startAtMs: number | undefined): LocalPlan {
  if (startAtMs === undefined) return plan;
  if (plan.kind === 'keepalive') {
    return {
      kind: 'keepalive',
      parts: plan.parts.map((part) => ({ ...part, options: { ...part.options, startAtMs } })),
    };
  }
  return {
    ...plan,
    shares: plan.shares.map((task) => ({ ...task, startAtMs })),
    ...(plan.subscribers === undefined ? {} : { subscribers: { ...plan.subscribers, startAtMs } }),
  };
}

/**
 * A failed publisher's row in an end-to-end run: it says why, with no message counts, since the
 * subscribers' rows account for the messages (the failed subscriber's row has none either).
 */
function publisherFailure(row: ClientResult): ClientResult {
  const nan = Number.NaN;
  return {
    ...row,
    messagesOk: 0,
    messagesTotal: 0,
    timingMs: { count: 0, mean: nan, stddev: nan, min: nan, max: nan },
  };
}

/** The result of a worker process that died or failed: one failed row saying why. */
function failedShare(task: ShareTask, error: string, worker: WorkerProcess): WorkerOutcome {
  const nan = Number.NaN;
  // The row is an error the live figures must also count, or their sum would miss it.
  worker.counters.errors++;
  return {
    kind: 'share',
    result: {
      processIndex: task.processIndex,
      clients: [
        {
          clientId: `process-${task.processIndex}`,
          messagesOk: 0,
          messagesTotal: 0,
          timingMs: { count: 0, mean: nan, stddev: nan, min: nan, max: nan },
          failed: true,
          error,
        },
      ],
      histogramUs: new LatencyHistogram().encode(),
      timeseries: new ThroughputTimeSeries(task.originMs, task.intervalMs).toJSON(),
      cpu: { user: 0, system: 0 },
      peakRssBytes: 0,
      firstStartMs: nan,
      lastEndMs: nan,
    },
  };
}
