import type { BrokerLogger } from './logger.js';
import type { BrokerStats } from './stats.js';
import type { SessionStore } from './storage.js';

/**
 * The packets that wait for the commit holding their state: acknowledgements of inbound PUBLISH and PUBREL,
 * and our PUBREL (once sent, the PUBLISH must never be sent again [MQTT-4.3.3-5], so the PUBREC stage is
 * stored first).
 */
export type HeldAck = 'puback' | 'pubrec' | 'pubcomp' | 'pubrel';

/** A connection as the end of a turn sees it: something to flush, and acknowledgements to release. */
export interface TurnTarget {
  /** Hand this turn's writes to the socket; returns the bytes written. */
  flushWrites(): number;
  /** The commit holding the acknowledged state returned: send the acknowledgement. */
  releaseAck(kind: HeldAck, packetId: number): void;
  /** The commit failed: refuse instead (v5: reason 0x97; v3 has no refusal, so the connection is closed). */
  refuseAck(kind: HeldAck, packetId: number): void;
  /** True while this target sits in the flush list. */
  flushScheduled: boolean;
  /** Written once already in this turn (by `chunkDone`): later writes of the turn wait for its end. */
  flushedEarly: boolean;
}

/** How long a store that failed to commit rests before the held batch is tried again. */
const RETRY_MS = 1000;
/**
 * How long changes nobody waits for (a subscriber's acknowledgement deleting a row, a session going
 * offline) may wait for the next commit: they ride along with the next one that releases acknowledgements.
 */
const DEFER_MS = 25;

/**
 * The end of an event-loop turn: everything the turn changed in durable state is committed as one
 * transaction, then the acknowledgements that waited for it are released, then every connection that got
 * something this turn writes it in one corked batch. Runs once per turn, on `setImmediate` after the
 * turn's I/O callbacks.
 */
export class EndOfTurn {
  private flushList: TurnTarget[] = [];
  private scheduled = false;
  private dirty = false;
  private heldTargets: TurnTarget[] = [];
  private heldKinds: HeldAck[] = [];
  private heldIds: number[] = [];
  private waiters: ((committed: boolean) => void)[] = [];
  /** Async commits in order: a batch's acknowledgements are released after every earlier batch's. */
  private inFlight: Promise<void> = Promise.resolve();
  private inFlightCount = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private deferTimer: NodeJS.Timeout | undefined;
  /** The last commit failed: QoS 1/2 publishes are refused until one succeeds. */
  failing = false;

  constructor(
    private readonly store: SessionStore | undefined,
    private readonly stats: BrokerStats,
    private readonly logger: BrokerLogger,
  ) {}

  /** Acknowledgements wait for a commit (a persistent store is configured). */
  get holdsAcks(): boolean {
    return this.store !== undefined;
  }

  /** Changes reported since the last commit that returned (rows of the next commit). */
  private changes = 0;

  /** Durable state changed this turn (one change): commit at its end. */
  markDirty(): void {
    this.changes++;
    if (this.dirty) return;
    this.dirty = true;
    this.schedule();
  }

  /** Where the flush list stood when the chunk being handled began. */
  private chunkStart = 0;

  /** A chunk is about to be handled (paired with `chunkDone`). */
  chunkBegins(): void {
    this.chunkStart = this.flushList.length;
  }

  /**
   * The chunk is handled: every connection it gave something to for the first time this turn writes it now
   * (a lone publish is acknowledged, and its subscribers served, without waiting for the other sockets of
   * the turn). A connection that gets more in the same turn (many publishers, one subscriber) gets the rest
   * in one write at the turn's end.
   */
  chunkDone(): void {
    const list = this.flushList;
    let bytes = 0;
    for (let i = this.chunkStart; i < list.length; i++) {
      const target = list[i] as TurnTarget;
      if (target.flushedEarly) continue;
      target.flushedEarly = true;
      bytes += target.flushWrites();
    }
    this.stats.bytesSent += bytes;
  }

  /** Flush `target` with the rest of this turn's writes. */
  scheduleFlush(target: TurnTarget): void {
    if (target.flushScheduled) return;
    target.flushScheduled = true;
    this.flushList.push(target);
    this.schedule();
  }

  /** Send `kind` for `packetId` to `target` once this turn's commit returned. */
  holdAck(target: TurnTarget, kind: HeldAck, packetId: number): void {
    this.heldTargets.push(target);
    this.heldKinds.push(kind);
    this.heldIds.push(packetId);
    this.schedule();
  }

  /**
   * Resolves once everything changed so far is committed: true, or false when the commit failed. Undefined
   * when nothing waits (no persistent store, or nothing uncommitted).
   */
  barrier(): Promise<boolean> | undefined {
    if (this.store === undefined || (!this.dirty && this.inFlightCount === 0)) return undefined;
    this.schedule();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * Run the end of the turn now. The turn's changes are committed when something waits for them (held
   * acknowledgements, a barrier) or when `force`d (the deferral ran out, the broker closes); otherwise they
   * wait at most DEFER_MS for a commit that is needed anyway.
   */
  run(force = false): void {
    this.scheduled = false;
    if (force || !this.dirty || this.heldTargets.length > 0 || this.waiters.length > 0) {
      if (this.deferTimer !== undefined) clearTimeout(this.deferTimer);
      this.deferTimer = undefined;
      this.commit();
    } else if (this.deferTimer === undefined) {
      this.deferTimer = setTimeout(() => {
        this.deferTimer = undefined;
        this.run(true);
      }, DEFER_MS);
      this.deferTimer.unref();
    }
    const list = this.flushList;
    this.flushList = [];
    let bytes = 0;
    for (const target of list) {
      target.flushScheduled = false;
      target.flushedEarly = false;
      bytes += target.flushWrites();
    }
    this.stats.bytesSent += bytes;
  }

  /** Stop retrying; what is held stays unanswered (the connections are closing). */
  stop(): void {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.deferTimer !== undefined) clearTimeout(this.deferTimer);
    this.deferTimer = undefined;
  }

  /** Wait for the commits already started (on close). */
  async settle(): Promise<void> {
    await this.inFlight;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.run());
  }

  private commit(): void {
    const store = this.store;
    const targets = this.heldTargets;
    const kinds = this.heldKinds;
    const ids = this.heldIds;
    const waiters = this.waiters;
    if (targets.length > 0) {
      this.heldTargets = [];
      this.heldKinds = [];
      this.heldIds = [];
    }
    if (waiters.length > 0) this.waiters = [];
    if (store === undefined) {
      this.settleBatch(targets, kinds, ids, waiters, true);
      return;
    }
    if (!this.dirty) {
      // Nothing new to make durable: what waited is as safe as the last commit (or the one still running).
      this.settleBatch(
        targets,
        kinds,
        ids,
        waiters,
        this.failing ? false : this.inFlightCount === 0 ? true : undefined,
      );
      return;
    }
    this.dirty = false;
    const rows = this.changes;
    this.changes = 0;
    const started = performance.now();
    let pending: Promise<void> | undefined;
    try {
      pending = store.commit();
    } catch (err) {
      // The store keeps the batch: its changes count again with the retry.
      this.changes += rows;
      this.failed(err);
      this.settleBatch(targets, kinds, ids, waiters, false);
      return;
    }
    if (pending === undefined) {
      this.committed(started, rows);
      this.settleBatch(targets, kinds, ids, waiters, true);
      return;
    }
    this.inFlightCount++;
    this.inFlight = this.inFlight.then(() =>
      pending.then(
        () => {
          this.inFlightCount--;
          this.committed(started, rows);
          this.settleBatch(targets, kinds, ids, waiters, true);
          this.schedule();
        },
        (err: unknown) => {
          this.inFlightCount--;
          this.failed(err);
          this.settleBatch(targets, kinds, ids, waiters, false);
          this.schedule();
        },
      ),
    );
  }

  /**
   * Release or refuse what waited for a commit. `undefined`: nothing was committed in this turn but an
   * asynchronous commit is still running, so the batch waits for it.
   */
  private settleBatch(
    targets: TurnTarget[],
    kinds: HeldAck[],
    ids: number[],
    waiters: ((committed: boolean) => void)[],
    committed: boolean | undefined,
  ): void {
    if (targets.length === 0 && waiters.length === 0) return;
    if (committed === undefined) {
      this.inFlight = this.inFlight.then(() => {
        this.settleBatch(targets, kinds, ids, waiters, !this.failing);
        this.schedule();
      });
      return;
    }
    for (let i = 0; i < targets.length; i++) {
      const target = targets[i] as TurnTarget;
      if (committed) target.releaseAck(kinds[i] as HeldAck, ids[i] as number);
      else target.refuseAck(kinds[i] as HeldAck, ids[i] as number);
    }
    for (const resolve of waiters) resolve(committed);
  }

  private committed(started: number, rows: number): void {
    this.stats.recordCommit(performance.now() - started, rows);
    if (this.failing) {
      this.failing = false;
      this.logger.info({ store: this.store?.name }, 'store commits again; QoS 1/2 publishes accepted');
    }
  }

  private failed(err: unknown): void {
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
        this.markDirty();
      }, RETRY_MS);
      this.retryTimer.unref();
    }
  }
}
