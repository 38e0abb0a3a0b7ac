/**
 * Entry of a forked bench worker (`-P N`): runs the share of clients it is given and reports live counters
 * and the latency samples recorded since its last report (an encoded interval histogram), then its result
 * (counters, encoded HDR histogram, time series, CPU), to the process that forked it over IPC. That process
 * merges results; nothing is averaged here. A worker is forked before its task is known, so a distributed
 * run can start every process of every agent at one agreed instant.
 */
import { pathToFileURL } from 'node:url';
import type { KeepalivePartResult, KeepalivePartTask } from './keepalive-part.js';
import { runKeepalivePart } from './keepalive-part.js';
import { applyClockSkewFromEnvironment } from './payload.js';
import {
  type ClockTable,
  emptyCounters,
  type ShareControl,
  type ShareCounters,
  type ShareResult,
  type ShareTask,
} from './scenarios/common.js';
import { runShare } from './scenarios/run-share.js';
import { ShareLatencySink } from './share-live.js';

/** What a worker can be asked to run. */
export type WorkerJob =
  | { readonly kind: 'share'; readonly task: ShareTask }
  | { readonly kind: 'keepalive'; readonly task: KeepalivePartTask };

/** Parent to worker. */
export type ToWorker =
  | { readonly type: 'run'; readonly job: WorkerJob }
  | { readonly type: 'stop'; readonly reason: string }
  | { readonly type: 'clock'; readonly clock: ClockTable };

/** Worker to parent. */
export type FromWorker =
  /** The worker has started and waits for its job. */
  | { readonly type: 'up' }
  /** Cumulative counters, and the latency samples since the previous tick (absent when none). */
  | { readonly type: 'tick'; readonly counters: ShareCounters; readonly latencyUs?: string }
  /** Subscribe shares: every subscriber is subscribed. */
  | { readonly type: 'ready' }
  | { readonly type: 'stop-request'; readonly reason: string }
  | { readonly type: 'result'; readonly result: ShareResult }
  | { readonly type: 'keepalive-result'; readonly result: KeepalivePartResult }
  | { readonly type: 'error'; readonly message: string };

/** How often a worker reports its counters. */
export const PROGRESS_INTERVAL_MS = 250;

function send(message: FromWorker): void {
  process.send?.(message);
}

/** Serves one job from the parent, then lets the process exit. */
export function serveWorker(): void {
  // Ctrl-C reaches the whole process group; the coordinator decides when workers stop and collects their
  // partial results, so the worker must not die on it.
  process.on('SIGINT', () => undefined);
  applyClockSkewFromEnvironment();
  const controller = new AbortController();
  const counters = emptyCounters();
  let latency = new ShareLatencySink();
  const control: ShareControl = {
    signal: controller.signal,
    counters,
    requestStop: (reason) => send({ type: 'stop-request', reason }),
    onReady: () => send({ type: 'ready' }),
  };
  const tick = (): void => {
    const latencyUs = latency.drainEncoded();
    send({ type: 'tick', counters, ...(latencyUs === undefined ? {} : { latencyUs }) });
  };
  process.on('disconnect', () => {
    controller.abort('coordinator gone');
    // Nobody is left to report to; give the clients a moment to close, then go.
    setTimeout(() => process.exit(1), 2000).unref();
  });
  const finish = (message: FromWorker): void => {
    tick();
    send(message);
    process.disconnect();
  };
  const fail = (error: unknown): void =>
    finish({ type: 'error', message: error instanceof Error ? error.message : String(error) });
  process.on('message', (message: ToWorker) => {
    if (message.type === 'stop') {
      controller.abort(message.reason);
      return;
    }
    if (message.type === 'clock') {
      control.clock = message.clock;
      return;
    }
    const timer = setInterval(tick, PROGRESS_INTERVAL_MS);
    const { job } = message;
    if (job.kind === 'share') latency = new ShareLatencySink(job.task.recordRawLatency === true);
    const done =
      job.kind === 'share'
        ? runShare(job.task, control, latency).then((result): FromWorker => ({ type: 'result', result }))
        : runKeepalivePart(job.task, { signal: controller.signal, counters, latency }).then(
            (result): FromWorker => ({ type: 'keepalive-result', result }),
          );
    done.then(
      (reply) => {
        clearInterval(timer);
        finish(reply);
      },
      (error: unknown) => {
        clearInterval(timer);
        fail(error);
      },
    );
  });
  send({ type: 'up' });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) serveWorker();
