import { type HeldAck, HeldBatch, type TurnTarget } from './held-acks.js';
import type { BrokerLogger } from './logger.js';
import { MemoryBudget } from './memory-budget.js';
import type { BrokerStats } from './stats.js';
import type { SessionStore } from './storage.js';
import { StoreHealth } from './store-health.js';

/**
 * How long changes nobody waits for (a subscriber's acknowledgement deleting a row, a session going
 * offline) may wait for the next commit: they ride along with the next one that releases acknowledgements.
 */
const DEFER_MS = 25;
/**
 * How long a sealed batch may wait for the acknowledgements of the deliveries it saved (each one that
 * arrives first drops its row from the batch) before it is committed anyway: the longest a publisher's
 * acknowledgement waits for a subscriber that is slow to acknowledge.
 */
const GATHER_MS = 2;
/**
 * With a store that commits asynchronously (Redis), a chunk that leaves this many acknowledgements held
 * commits at once rather than at the end of the turn.
 */
const EARLY_COMMIT_ACKS = 64;
/** A commit that releases no acknowledgement, or that no barrier waits for (shared, never added to). */
const NO_ACKS = new HeldBatch();
/** Settled batches kept for reuse: a sealed one, a held one, and one or two on their way. */
const SPARE_BATCHES = 4;
const NO_WAITERS: readonly ((committed: boolean) => void)[] = [];

/**
 * The end of an event-loop turn: everything the turn changed in durable state is committed as one
 * transaction, then the acknowledgements that waited for it are released, then every connection that got
 * something this turn writes it in one corked batch. Runs once per turn, on `setImmediate` after the
 * turn's I/O callbacks.
 */
export class EndOfTurn {
  private flushList: TurnTarget[] = [];
  /** The other flush list: the two take turns, so a turn allocates no list. */
  private spareList: TurnTarget[] = [];
  private scheduled = false;
  private readonly runNow = (): void => this.run();
  /** Acknowledgements held in this turn. */
  private held = new HeldBatch();
  /** Acknowledgements held in the previous turn, whose changes the store sealed: the next commit's. */
  private sealed = new HeldBatch();
  /** Settled batches, kept for reuse (`batch`). */
  private readonly spareBatches: HeldBatch[] = [];
  private waiters: ((committed: boolean) => void)[] = [];
  /** Async commits in order: a batch's acknowledgements are released after every earlier batch's. */
  private inFlight: Promise<void> = Promise.resolve();
  private inFlightCount = 0;
  private deferTimer: NodeJS.Timeout | undefined;
  private gatherTimer: NodeJS.Timeout | undefined;
  /** When the sealed batch was sealed (performance.now()). */
  private sealedAt = 0;
  /** Changes reported since the last seal, and changes sealed but not committed yet (rows of commits). */
  private openChanges = 0;
  private sealedChanges = 0;
  /** Whether the store takes QoS 1/2 publishes (its last commit, its disk space). */
  readonly health: StoreHealth;

  constructor(
    private readonly store: SessionStore | undefined,
    private readonly stats: BrokerStats,
    logger: BrokerLogger,
    /** How long a sealed batch may wait for its subscribers' acknowledgements (tests set it). */
    private readonly gatherMs = GATHER_MS,
    /** Counts the messages whose acknowledgements are held (`held`). */
    private readonly memory = new MemoryBudget(Number.POSITIVE_INFINITY),
  ) {
    this.health = new StoreHealth(store, stats, logger, () => this.markDirty());
  }

  /** The last commit failed: QoS 1/2 publishes are refused until one succeeds. */
  get failing(): boolean {
    return this.health.failing;
  }

  /**
   * An acknowledgement given now must wait for a commit: a store is configured and something reported to it
   * is not committed yet (this message's own changes were reported before its acknowledgement), a commit is
   * still running or failed, or earlier acknowledgements wait, which must leave first (acknowledgements go
   * in the order of the packets they answer, as spec 4.6 asks of a client). Otherwise everything it depends
   * on is committed already, and it is sent at once.
   */
  get acksWait(): boolean {
    return (
      this.store !== undefined &&
      (this.dirty || this.inFlightCount > 0 || this.failing || !this.held.empty || !this.sealed.empty)
    );
  }

  /** QoS 1/2 publishes are refused: the last commit failed, or the store is low on space. */
  get refusing(): boolean {
    return this.health.refusing;
  }

  /** Something reported to the store is not committed yet. */
  private get dirty(): boolean {
    return this.openChanges > 0 || this.sealedChanges > 0;
  }

  /** Durable state changed this turn (one change): commit at its end. */
  markDirty(): void {
    this.openChanges++;
    // Also when dirty already: a sealed batch may be waiting for this change (an acknowledgement).
    this.schedule();
  }

  /** Run as each chunk is done (a cluster sends what it batched for other nodes). */
  afterChunk: (() => void) | undefined;

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
    this.afterChunk?.();
    if (this.held.size >= EARLY_COMMIT_ACKS && this.store?.seal === undefined) {
      // An asynchronous store (Redis): send what this turn holds now, so its round trip overlaps the rest
      // of the turn instead of starting after it.
      this.commit('all');
    }
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

  /**
   * Send `kind` for `packetId` to `target` once the commit holding this turn's changes returned; `bytes`
   * (the message's) count against the memory budget until then.
   */
  holdAck(target: TurnTarget, kind: HeldAck, packetId: number, bytes = 0): void {
    this.held.add(target, kind, packetId, bytes);
    this.memory.held += bytes;
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
   * Run the end of the turn now, then write what the turn gave each connection.
   *
   * A store that seals batches (SQLite) commits in a pipeline: the changes of the turn that held
   * acknowledgements are sealed, and committed once every delivery they saved as sent was acknowledged by
   * its subscriber (each such acknowledgement drops its save, so the delivery never reaches the disk), or
   * once the batch is GATHER_MS old, whichever comes first. The wait does not poll the loop: each
   * acknowledgement looks again at once, and the gather timer ends the wait otherwise. So a publisher's
   * acknowledgement waits for its subscribers' round trip (at most GATHER_MS), and a message sent and
   * acknowledged in that time costs no statement. Other stores
   * commit everything at the end of the turn that held something. A barrier or `force` (the deferral ran
   * out, the broker closes) commits everything now. Changes nobody waits for wait at most DEFER_MS for a
   * commit needed anyway.
   */
  run(force = false): void {
    this.scheduled = false;
    const store = this.store;
    const pipelined = store?.seal !== undefined && store.commitSealed !== undefined;
    if (force || this.waiters.length > 0 || !this.dirty || !pipelined) {
      if (force || !this.dirty || !this.held.empty || !this.sealed.empty || this.waiters.length > 0) {
        this.commit('all');
      } else {
        this.deferUnheld();
      }
    } else {
      if (!this.sealed.empty && this.sealedRipe()) this.commit('sealed');
      if (this.sealed.empty && !this.held.empty) {
        store.seal?.();
        this.sealedAt = performance.now();
        this.sealedChanges += this.openChanges;
        this.openChanges = 0;
        this.sealed = this.held;
        this.held = this.batch();
        // Nothing an acknowledgement could drop: no reason to wait.
        if (this.sealedRipe()) this.commit('sealed');
      }
      if (!this.sealed.empty) {
        // No polling: an acknowledgement (markDirty) or the gather timer runs this again.
        this.gatherUntilRipe();
      } else if (this.dirty) this.deferUnheld();
    }
    const list = this.flushList;
    if (list.length === 0) return;
    this.flushList = this.spareList;
    let bytes = 0;
    for (const target of list) {
      target.flushScheduled = false;
      target.flushedEarly = false;
      bytes += target.flushWrites();
    }
    list.length = 0;
    this.spareList = list;
    this.stats.bytesSent += bytes;
  }

  /** Stop retrying; what is held stays unanswered (the connections are closing). */
  stop(): void {
    this.health.stop();
    if (this.deferTimer !== undefined) clearTimeout(this.deferTimer);
    this.deferTimer = undefined;
    if (this.gatherTimer !== undefined) clearTimeout(this.gatherTimer);
    this.gatherTimer = undefined;
  }

  /** Wait for the commits already started (on close). */
  async settle(): Promise<void> {
    await this.inFlight;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.runNow);
  }

  /**
   * The sealed batch is committed once nothing in it waits for an acknowledgement that would drop it, or
   * once it is GATHER_MS old.
   */
  private sealedRipe(): boolean {
    return (this.store?.sealedInFlight?.() ?? 0) === 0 || performance.now() - this.sealedAt >= this.gatherMs;
  }

  /** Run again when the sealed batch is GATHER_MS old (sooner when an acknowledgement arrives). */
  private gatherUntilRipe(): void {
    if (this.gatherTimer !== undefined) return;
    const wait = Math.max(0, this.gatherMs - (performance.now() - this.sealedAt));
    this.gatherTimer = setTimeout(() => {
      this.gatherTimer = undefined;
      this.run();
    }, wait);
  }

  /** Changes nobody waits for: committed with the next commit, or after DEFER_MS. */
  private deferUnheld(): void {
    if (this.deferTimer !== undefined) return;
    this.deferTimer = setTimeout(() => {
      this.deferTimer = undefined;
      this.run(true);
    }, DEFER_MS);
    this.deferTimer.unref();
  }

  /**
   * Commit, then release what waited: `all` commits every change reported (with the acknowledgements held
   * in this turn and the sealed ones, and the barriers); `sealed` commits the sealed changes and releases
   * the acknowledgements held with them.
   */
  private commit(mode: 'all' | 'sealed'): void {
    const store = this.store;
    const batch = this.takeBatch(mode);
    let waiters: readonly ((committed: boolean) => void)[] = NO_WAITERS;
    if (mode === 'all') {
      if (this.waiters.length > 0) {
        waiters = this.waiters;
        this.waiters = [];
      }
      if (this.deferTimer !== undefined) clearTimeout(this.deferTimer);
      this.deferTimer = undefined;
    }
    if (store === undefined) {
      this.settleBatch(batch, waiters, true);
      return;
    }
    const rows = mode === 'all' ? this.openChanges + this.sealedChanges : this.sealedChanges;
    if (rows === 0) {
      // Nothing new to make durable: what waited is as safe as the last commit (or the one still running).
      this.settleBatch(batch, waiters, this.failing ? false : this.inFlightCount === 0 ? true : undefined);
      return;
    }
    this.sealedChanges = 0;
    if (mode === 'all') this.openChanges = 0;
    const started = performance.now();
    let pending: Promise<void> | undefined;
    try {
      pending = mode === 'all' ? store.commit() : store.commitSealed?.();
    } catch (err) {
      // The store keeps the batch: its changes count again with the retry.
      this.sealedChanges += rows;
      this.health.failed(err);
      this.settleBatch(batch, waiters, false);
      return;
    }
    if (pending === undefined) {
      this.health.committed(performance.now() - started, rows);
      this.settleBatch(batch, waiters, true);
      return;
    }
    this.inFlightCount++;
    const done = pending;
    this.inFlight = this.inFlight.then(() =>
      done.then(
        () => {
          this.inFlightCount--;
          this.health.committed(performance.now() - started, rows);
          // The acknowledgements leave now, not after the rest of the turn (other sockets' chunks).
          this.settleBatch(batch, waiters, true, true);
          this.schedule();
        },
        (err: unknown) => {
          this.inFlightCount--;
          this.health.failed(err);
          this.settleBatch(batch, waiters, false);
          this.schedule();
        },
      ),
    );
  }

  /**
   * The acknowledgements a commit releases: the sealed ones, and with `all` those held in this turn after
   * them. The batch taken is never one this object adds to later; when there is none, the shared empty one
   * (a turn without acknowledgements allocates nothing).
   */
  private takeBatch(mode: 'all' | 'sealed'): HeldBatch {
    const sealed = this.sealed;
    const held = this.held;
    const withHeld = mode === 'all' && !held.empty;
    if (sealed.empty && !withHeld) return NO_ACKS;
    if (withHeld) this.held = this.batch();
    if (sealed.empty) return held;
    this.sealed = this.batch();
    if (withHeld) {
      sealed.append(held);
      this.recycle(held);
    }
    return sealed;
  }

  /** An empty batch: a settled one when there is one. */
  private batch(): HeldBatch {
    return this.spareBatches.pop() ?? new HeldBatch();
  }

  /** `batch` is settled and nothing refers to it any more: keep it for reuse. */
  private recycle(batch: HeldBatch): void {
    if (batch === NO_ACKS) return;
    batch.clear();
    if (this.spareBatches.length < SPARE_BATCHES) this.spareBatches.push(batch);
  }

  /**
   * Release or refuse what waited for a commit. `undefined`: nothing was committed in this turn but an
   * asynchronous commit is still running, so the batch waits for it.
   */
  private settleBatch(
    batch: HeldBatch,
    waiters: readonly ((committed: boolean) => void)[],
    committed: boolean | undefined,
    flush = false,
  ): void {
    if (batch.empty && waiters.length === 0) return;
    if (committed === undefined) {
      this.inFlight = this.inFlight.then(() => {
        this.settleBatch(batch, waiters, !this.failing);
        this.schedule();
      });
      return;
    }
    // Counted out first: a connection that stopped reading under pressure is read again as its acks leave.
    this.memory.held -= batch.bytes;
    batch.settle(committed);
    for (const resolve of waiters) resolve(committed);
    if (flush) this.stats.bytesSent += batch.flushTargets();
    this.recycle(batch);
  }
}
