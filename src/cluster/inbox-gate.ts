import type { Session } from '../broker/session.js';
import type { Outbound } from '../broker/session-link.js';
import type { ClusterStats } from './cluster-stats.js';

/**
 * How long a session that holds the inbox may go without taking anything from its queue before the reader
 * stops waiting for it (ms). Long enough for a live subscriber's acknowledgement round trip through a GC
 * pause or one lost TCP segment (Linux retransmits after 200 ms at the least); short enough that a reader
 * that stopped (SIGSTOP, a hung process) delays the node's other subscribers by half a second once, not
 * for as long as it is stuck. It is also the slowest drain that counts as progress: one message per 500 ms.
 */
export const STALL_MS = 500;
/**
 * Longest the reader stays behind, waiting for subscribers that drain but more slowly than messages come
 * (ms). Past it the reader goes on at full speed (their overflow is dropped and counted, as without the
 * gate) until it has read its inbox up. It bounds what a slow subscriber costs the node's other subscribers
 * (their cross-node messages wait behind its backlog), the delay of the take-over notices in the same
 * inbox, and what the inbox grows by in Redis meanwhile. A burst as after a Redis restart (the publishers'
 * in-flight windows at once) drains in well under it.
 */
export const MAX_BEHIND_MS = 5000;
/** How often a waiting reader looks at the sessions again (ms). */
const POLL_MS = 10;

interface Watched {
  /** The first message of its queue when last looked at: another one means the queue moved. */
  head: Outbound | undefined;
  movedAt: number;
}

/** The queue limits of the broker (`ResolvedBrokerOptions`). */
export interface QueueLimits {
  readonly maxQueuedMessages: number;
  readonly maxQueuedBytes: number;
}

/**
 * Flow control of a node's inbox: the reader stops, between two messages, while a connected session that
 * the inbox fills has its queue half full (of the message or the byte limit) and is draining it, and goes
 * on once that queue is down to a quarter. Meanwhile the messages wait in the inbox stream, after the
 * node's checkpoint, rather than in a queue that drops them at its limit. A session whose queue does not
 * move for STALL_MS no longer holds the reader (until it moves again); nor does any once the reader has
 * been behind for MAX_BEHIND_MS.
 */
export class InboxGate {
  private readonly watched = new Map<Session, Watched>();
  /** Sessions let go as stalled, with the head their queue had: they may hold again once it moves. */
  private readonly stalled = new WeakMap<Session, Outbound | undefined>();
  /** When the reader first waited since it last read its inbox up. */
  private behindSince: number | undefined;
  /** Behind for MAX_BEHIND_MS: nothing holds the reader until it has read its inbox up. */
  private overdue = false;
  private readonly high: number;
  private readonly low: number;
  private readonly highBytes: number;
  private readonly lowBytes: number;

  constructor(
    limits: QueueLimits,
    private readonly stats: ClusterStats,
    /** The broker is closing: nothing holds the reader any more. */
    private readonly closing: () => boolean,
    private readonly maxBehindMs = MAX_BEHIND_MS,
    private readonly stallMs = STALL_MS,
  ) {
    this.high = Math.ceil(limits.maxQueuedMessages / 2);
    this.low = Math.floor(limits.maxQueuedMessages / 4);
    this.highBytes = limits.maxQueuedBytes > 0 ? Math.ceil(limits.maxQueuedBytes / 2) : 0;
    this.lowBytes = Math.floor(limits.maxQueuedBytes / 4);
  }

  /** True when the reader must wait before its next message. */
  get closed(): boolean {
    return this.watched.size > 0;
  }

  /** A message from the inbox was queued for (or refused by) a connected session: `OutboundQos.queueWatch`. */
  readonly queued = (session: Session): void => {
    if (this.overdue || !this.full(session) || this.watched.has(session) || this.closing()) return;
    const head = session.peekQueued();
    if (this.stalled.has(session)) {
      if (this.stalled.get(session) === head) return;
      this.stalled.delete(session);
    }
    this.watched.set(session, { head, movedAt: performance.now() });
  };

  /** Wait until no session holds the reader (or the broker is closing). */
  async wait(): Promise<void> {
    const started = performance.now();
    this.behindSince ??= started;
    while (this.holds(performance.now())) await sleep(POLL_MS);
    this.stats.inboxWaitMs += performance.now() - started;
  }

  /** The reader has read its inbox up (everything there, without waiting). */
  caughtUp(): void {
    this.behindSince = undefined;
    this.overdue = false;
  }

  /** Look at each session holding the reader: those drained, gone or stalled let go. */
  private holds(now: number): boolean {
    if (this.closing()) {
      this.watched.clear();
      return false;
    }
    if (this.behindSince !== undefined && now - this.behindSince >= this.maxBehindMs) {
      this.overdue = true;
      this.watched.clear();
      this.stats.inboxOverdue++;
      return false;
    }
    for (const [session, watch] of this.watched) {
      if (session.link === undefined || this.drained(session)) {
        this.watched.delete(session);
        continue;
      }
      const head = session.peekQueued();
      if (head !== watch.head) {
        watch.head = head;
        watch.movedAt = now;
      } else if (now - watch.movedAt >= this.stallMs) {
        this.watched.delete(session);
        this.stalled.set(session, head);
        this.stats.inboxStalled++;
      }
    }
    return this.watched.size > 0;
  }

  private full(session: Session): boolean {
    return (
      (this.high > 0 && session.queuedCount >= this.high) ||
      (this.highBytes > 0 && session.queuedByteCount >= this.highBytes)
    );
  }

  private drained(session: Session): boolean {
    return (
      session.queuedCount <= this.low && (this.highBytes === 0 || session.queuedByteCount <= this.lowBytes)
    );
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
