import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import type { BrokerLogger } from '../server/broker.js';

/** The message a worker sends its primary once its listeners are open. */
export const WORKER_READY = 'starling-worker-ready';
/** Environment of a worker: its index, and its node id (which beats flags, environment and file). */
export const WORKER_NODE_ID_ENV = 'STARLING_WORKER_NODE_ID';
/**
 * Environment of a worker: its instance token, and the token of the worker it replaces (dead), so it takes
 * the node id at once rather than after the dead one's heartbeat lapsed.
 */
export const WORKER_TOKEN_ENV = 'STARLING_WORKER_TOKEN';
export const WORKER_REPLACES_ENV = 'STARLING_WORKER_REPLACES';

/** Pause before a worker that died is started again. */
const RESTART_DELAY_MS = 500;

/**
 * `starling broker --workers N`, the primary process: N broker processes (Node's `cluster` module, so they
 * share the listening ports), each a node of the cluster with id `<base>-<index>`. A worker that dies after
 * it was serving is started again under the same id (it takes its sessions back, at once: the primary saw
 * the process exit, so the new one replaces its heartbeat without waiting for it to lapse); one that dies before it
 * ever served (a port in use, Redis unreachable) ends the whole command with exit code 1. SIGINT/SIGTERM
 * stop every worker (each shuts down cleanly), then the primary exits 0.
 */
export async function runWorkers(
  count: number,
  baseNodeId: string,
  logger: BrokerLogger,
  stopTimeoutMs: number,
): Promise<number> {
  const workers = new Map<number, Worker>();
  let stopping = false;
  let failed = false;
  let finish: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => {
    finish = resolve;
  });

  const stopAll = (): void => {
    if (stopping) return;
    stopping = true;
    if (workers.size === 0) finish(failed ? 1 : 0);
    for (const worker of workers.values()) worker.process.kill('SIGTERM');
    // Bounded: workers still there after their own shutdown timeout are killed.
    setTimeout(() => {
      for (const worker of workers.values()) worker.process.kill('SIGKILL');
    }, stopTimeoutMs + 5000).unref();
  };

  const fork = (index: number, replaces?: string): void => {
    const nodeId = `${baseNodeId}-${index}`;
    const token = randomBytes(8).toString('hex');
    const worker = cluster.fork({
      [WORKER_NODE_ID_ENV]: nodeId,
      [WORKER_TOKEN_ENV]: token,
      ...(replaces === undefined ? {} : { [WORKER_REPLACES_ENV]: replaces }),
    });
    let ready = false;
    workers.set(index, worker);
    worker.on('message', (message: unknown) => {
      if (message === WORKER_READY) {
        ready = true;
        logger.info({ worker: index, node: nodeId, pid: worker.process.pid }, 'worker serving');
      }
    });
    worker.on('exit', (code, signal) => {
      workers.delete(index);
      if (stopping) {
        if (workers.size === 0) finish(failed ? 1 : 0);
        return;
      }
      if (!ready) {
        logger.error({ worker: index, node: nodeId, code, signal }, 'worker failed to start; stopping');
        failed = true;
        stopAll();
        return;
      }
      logger.warn({ worker: index, node: nodeId, code, signal }, 'worker died; starting it again');
      // The process is gone: its successor may take the node id at once (its heartbeat is dead for sure).
      setTimeout(() => {
        if (!stopping) fork(index, token);
      }, RESTART_DELAY_MS);
    });
  };

  process.once('SIGINT', stopAll);
  process.once('SIGTERM', stopAll);
  logger.info({ workers: count, node: baseNodeId }, 'starting workers');
  for (let index = 0; index < count; index++) fork(index);
  return finished;
}

/** True in a process started by {@link runWorkers}. */
export function isWorker(): boolean {
  return cluster.isWorker;
}

/** Tell the primary this worker serves (its listeners are open). */
export function reportReady(): void {
  if (cluster.isWorker) process.send?.(WORKER_READY);
}

/** A worker that stopped: close its channel to the primary, so the process can end. */
export function leavePrimary(): void {
  if (cluster.isWorker) process.disconnect?.();
}
