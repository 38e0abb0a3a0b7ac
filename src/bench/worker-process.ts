/**
 * The parent's side of one forked bench worker (see worker.ts): forked ahead of its job so a run can start
 * all its processes at one instant, then given one job; its counters and latency samples are kept up to
 * date from its ticks, and its result (or why there is none) is what `run()` resolves to.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { siblingModule } from './embedded-broker.js';
import { LatencyHistogram } from './histogram.js';
import type { KeepalivePartResult } from './keepalive-part.js';
import { type ClockTable, emptyCounters, type ShareResult } from './scenarios/common.js';
import type { FromWorker, ToWorker, WorkerJob } from './worker.js';

/** How long a forked worker may take to start. */
const STARTUP_TIMEOUT_MS = 20_000;

/** What a worker's job ended with. */
export type WorkerOutcome =
  | { readonly kind: 'share'; readonly result: ShareResult }
  | { readonly kind: 'keepalive'; readonly result: KeepalivePartResult }
  | { readonly kind: 'failed'; readonly reason: string };

/** Callbacks of a worker's job. */
export interface WorkerCallbacks {
  onReady?(): void;
  onStopRequest?(reason: string): void;
}

/** One forked worker process. */
export class WorkerProcess {
  readonly counters = emptyCounters();
  /** Latency samples reported since the parent last drained them. */
  readonly pendingLatency = new LatencyHistogram();
  /** Resolves once the process is up and waiting for its job; rejects when it cannot start. */
  readonly up: Promise<void>;
  readonly #child: ChildProcess;
  #callbacks: WorkerCallbacks = {};
  #outcome: WorkerOutcome | undefined;
  #failure = 'worker exited without a result';
  readonly #exited: Promise<void>;

  private constructor() {
    const { path, execArgv } = siblingModule('worker');
    this.#child = fork(path, [], {
      execArgv,
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.#exited = new Promise((resolve) => this.#child.once('exit', () => resolve()));
    this.up = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#child.kill('SIGKILL');
        reject(new Error('a bench worker process did not start in time'));
      }, STARTUP_TIMEOUT_MS);
      this.#child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`a bench worker process exited at start (code ${code})`));
      });
      this.#child.on('message', (message: FromWorker) => {
        if (message.type === 'up') {
          clearTimeout(timer);
          resolve();
        } else {
          this.#onMessage(message);
        }
      });
    });
    // A rejection nobody awaits (the run was stopped before the job) must not crash the parent.
    this.up.catch(() => undefined);
  }

  /** Forks a worker; await {@link WorkerProcess.up} before giving it a job. */
  static fork(): WorkerProcess {
    return new WorkerProcess();
  }

  /** Gives the worker its job; resolves when the worker has exited, with its result or why there is none. */
  async run(job: WorkerJob, callbacks: WorkerCallbacks = {}): Promise<WorkerOutcome> {
    this.#callbacks = callbacks;
    try {
      await this.up;
    } catch (error) {
      return { kind: 'failed', reason: (error as Error).message };
    }
    if (this.#child.connected) this.#child.send({ type: 'run', job } satisfies ToWorker);
    await this.#exited;
    return this.#outcome ?? { kind: 'failed', reason: this.#failure };
  }

  /** Asks the job to stop; its partial result still comes back. */
  stop(reason: string): void {
    if (this.#child.connected) this.#child.send({ type: 'stop', reason } satisfies ToWorker);
  }

  /** Hands the worker a newer clock table. */
  setClock(clock: ClockTable): void {
    if (this.#child.connected) this.#child.send({ type: 'clock', clock } satisfies ToWorker);
  }

  /** Ends a worker that never got a job (the run was called off). */
  async dismiss(): Promise<void> {
    if (this.#child.connected) this.#child.disconnect();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 3000);
    await this.#exited;
    clearTimeout(timer);
  }

  #onMessage(message: FromWorker): void {
    switch (message.type) {
      case 'tick':
        Object.assign(this.counters, message.counters);
        if (message.latencyUs !== undefined)
          this.pendingLatency.merge(LatencyHistogram.decode(message.latencyUs));
        return;
      case 'ready':
        this.#callbacks.onReady?.();
        return;
      case 'stop-request':
        this.#callbacks.onStopRequest?.(message.reason);
        return;
      case 'result':
        this.#outcome = { kind: 'share', result: message.result };
        return;
      case 'keepalive-result':
        this.#outcome = { kind: 'keepalive', result: message.result };
        return;
      case 'error':
        this.#failure = `worker failed: ${message.message}`;
        return;
      case 'up':
        return;
    }
  }
}
