import { totalmem } from 'node:os';

/** Backlog below which a reader is never squeezed, even under pressure: a few ordinary batches. */
export const PRESSURE_FLOOR = 64 * 1024;

/**
 * Acknowledgements a client may have waiting for commits before it stops being read, while the broker is
 * over budget (otherwise the limit is the Receive Maximum): enough for a pipelining publisher to go on
 * within a commit's time.
 */
export const HELD_ACKS_FLOOR = 16;

/**
 * The default budget: a sixty-fourth of the machine's memory, between 32 MiB and 64 MiB. Only slow readers
 * and waiting commits draw on it (a reader that keeps up holds next to nothing, and a commit that returns
 * within its turn holds its messages no longer), so it bounds what they can cost, not throughput.
 */
export function defaultMemoryBudget(): number {
  return Math.max(32 * 1024 * 1024, Math.min(64 * 1024 * 1024, Math.floor(totalmem() / 64)));
}

/** A connection as the budget tracks it. */
export interface BudgetedLink {
  /** The backlog last counted for this link. */
  countedBacklog: number;
}

/**
 * The broker-wide budget for what slow readers and slow commits cost: bytes written to sockets and not yet
 * taken by the peer, messages queued for sessions, and messages whose acknowledgements wait for a commit
 * (a slow store, a cluster's Redis away). Over budget, a client with more than HELD_ACKS_FLOOR held
 * acknowledgements is not read until they leave, so publishers cannot fill memory while commits wait. Every client may buffer up to its own limit (`maxWriteBuffer`) while
 * the broker is under budget; over it, readers holding more than PRESSURE_FLOOR are treated as congested,
 * so QoS 0 to the slowest readers is dropped first, QoS 1/2 wait in their queues, and readers that stay
 * stalled are disconnected after the slow-client timeout. Healthy readers (an empty backlog) never notice.
 */
export class MemoryBudget {
  /** Bytes buffered towards clients, as last counted (exact after each sweep, incremental between). */
  buffered = 0;
  /** Bytes queued for sessions. */
  queued = 0;
  /** Bytes of messages whose acknowledgements wait for a commit (kept exactly by the end of the turn). */
  held = 0;

  constructor(readonly budget: number) {}

  /** Over budget: squeeze the slow readers. */
  get pressure(): boolean {
    return this.buffered + this.queued + this.held > this.budget;
  }

  /** A link's backlog was read: count the change. */
  track(link: BudgetedLink, backlog: number): void {
    this.buffered += backlog - link.countedBacklog;
    link.countedBacklog = backlog;
  }

  /** A link went away. */
  forget(link: BudgetedLink): void {
    this.buffered -= link.countedBacklog;
    link.countedBacklog = 0;
  }

  /** Exact figures from a sweep over every connection and session. */
  reset(buffered: number, queued: number): void {
    this.buffered = buffered;
    this.queued = queued;
  }
}
