import type { BrokerLogger } from './logger.js';
import type { BrokerStats } from './stats.js';
import type { SessionStore } from './storage.js';

/** How long a store that failed to commit rests before the held batch is tried again. */
const RETRY_MS = 1000;

/**
 * Whether the store takes what needs it (QoS 1/2 publishes): not while its last commit failed, nor while it
 * is low on space. Each change of either is logged once; commits are counted; after a failure the batch the
 * store kept is tried again (`retry`) after a rest, even if nothing else changes.
 */
export class StoreHealth {
  /** The last commit failed: QoS 1/2 publishes are refused until one succeeds. */
  failing = false;
  /** The store said it was low on space the last time it was asked. */
  private wasLowOnSpace = false;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: SessionStore | undefined,
    private readonly stats: BrokerStats,
    private readonly logger: BrokerLogger,
    private readonly retry: () => void,
  ) {}

  /** QoS 1/2 publishes are refused: the last commit failed, or the store is low on space. */
  get refusing(): boolean {
    return this.failing || this.lowOnSpace();
  }

  /** Whether the store is low on space (asked at each QoS 1/2 publish, a field read); a change is logged. */
  lowOnSpace(): boolean {
    const low = this.store?.lowOnSpace?.() === true;
    if (low !== this.wasLowOnSpace) {
      this.wasLowOnSpace = low;
      const store = this.store?.name;
      if (low) this.logger.error({ store }, 'store low on disk space; QoS 1/2 publishes are refused');
      else this.logger.info({ store }, 'store has disk space again; QoS 1/2 publishes accepted');
    }
    return low;
  }

  /** A commit of `rows` changes returned after `ms`. */
  committed(ms: number, rows: number): void {
    this.stats.recordCommit(ms, rows);
    if (this.failing) {
      this.failing = false;
      this.logger.info({ store: this.store?.name }, 'store commits again; QoS 1/2 publishes accepted');
    }
  }

  failed(err: unknown): void {
    this.stats.commitFailures++;
    if (!this.failing) {
      this.logger.error(
        { err, store: this.store?.name },
        'store commit failed; QoS 1/2 publishes are refused until a commit succeeds',
      );
    }
    this.failing = true;
    // The store keeps the failed batch: try it again after a rest even if nothing else changes.
    if (this.retryTimer === undefined) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        this.retry();
      }, RETRY_MS);
      this.retryTimer.unref();
    }
  }

  /** Stop retrying (the broker closes). */
  stop(): void {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }
}
