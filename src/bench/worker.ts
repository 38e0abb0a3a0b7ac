/**
 * Entry of a forked bench worker (`-P N`): runs the share of clients it is given and reports live counters,
 * then its result (counters, encoded HDR histogram, time series, CPU), to the coordinator over IPC. The
 * coordinator merges results; nothing is averaged here.
 */
import { pathToFileURL } from 'node:url';
import type { ShareCounters, ShareResult, ShareTask } from './scenarios/common.js';
import { runShare } from './scenarios/run-share.js';

/** Coordinator to worker. */
export type ToWorker =
  | { readonly type: 'run'; readonly task: ShareTask }
  | { readonly type: 'stop'; readonly reason: string };

/** Worker to coordinator. */
export type FromWorker =
  | { readonly type: 'progress'; readonly counters: ShareCounters }
  | { readonly type: 'stop-request'; readonly reason: string }
  | { readonly type: 'result'; readonly result: ShareResult }
  | { readonly type: 'error'; readonly message: string };

/** How often a worker reports its counters. */
export const PROGRESS_INTERVAL_MS = 250;

function send(message: FromWorker): void {
  process.send?.(message);
}

/** Serves one task from the coordinator, then lets the process exit. */
export function serveWorker(): void {
  // Ctrl-C reaches the whole process group; the coordinator decides when workers stop and collects their
  // partial results, so the worker must not die on it.
  process.on('SIGINT', () => undefined);
  const controller = new AbortController();
  const counters: ShareCounters = { sent: 0, done: 0, connected: 0 };
  process.on('disconnect', () => {
    controller.abort('coordinator gone');
    // Nobody is left to report to; give the clients a moment to close, then go.
    setTimeout(() => process.exit(1), 2000).unref();
  });
  process.on('message', (message: ToWorker) => {
    if (message.type === 'stop') {
      controller.abort(message.reason);
      return;
    }
    const timer = setInterval(() => send({ type: 'progress', counters }), PROGRESS_INTERVAL_MS);
    runShare(message.task, {
      signal: controller.signal,
      counters,
      requestStop: (reason) => send({ type: 'stop-request', reason }),
    }).then(
      (result) => {
        clearInterval(timer);
        send({ type: 'progress', counters });
        send({ type: 'result', result });
        process.disconnect();
      },
      (error: unknown) => {
        clearInterval(timer);
        send({ type: 'error', message: error instanceof Error ? error.message : String(error) });
        process.disconnect();
      },
    );
  });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) serveWorker();
