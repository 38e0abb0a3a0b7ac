import type { Engine } from '../broker/engine.js';
import type { Message } from '../broker/message.js';
import type { RemoteTarget } from '../broker/routing.js';
import type { ClusterStore, InboxEntry, InboxHandler } from './backend.js';
import type { ClusterStats } from './cluster-stats.js';
import { decodeDelivery } from './codec.js';
import { SUBSCRIBERS_ONLY, visitFrames, visitFramesFrom } from './frames.js';
import { InboxGate } from './inbox-gate.js';
import { RecentStamps } from './recent-stamps.js';

type BatchEntry = Extract<InboxEntry, { kind: 'batch' }>;
/** Copies delivered ahead of their appends, at most (beyond: the appends deliver, as without links). */
const EARLY_LIMIT = 4096;
/** A copy whose append has not come in this long is forgotten. */
const EARLY_ORPHAN_MS = 600_000;
/** How long the inbox reader waits before reading back appends it had ahead (see `lazyRead`). */
const LAZY_READ_MS = 10;

/**
 * What a node does with the entries of its inbox, in order: messages from other nodes to its subscribers,
 * notices that another node took a session over, deliveries handed over by a session's previous owner.
 * Each entry moves the node's checkpoint once it is wholly handled; the checkpoint commits with the state
 * the entry produced. Messages go through the {@link InboxGate}: when a subscriber's queue fills, the
 * entry stops between two messages and goes on once it drained, and the checkpoint stays before it
 * meanwhile (a restart or a take-over handles it again from its first message: at least once).
 */
export class InboxProcessor implements InboxHandler {
  readonly gate: InboxGate;
  /** Stamps of the inbox entries processed lately: a resent copy of one is dropped. */
  private readonly recent = new RecentStamps();
  /**
   * Appends delivered from the copy their sender sent over a link (`fast`), awaiting the append itself, by
   * `from stamp`: how far the copy was delivered (its length when whole) and when.
   */
  private readonly early = new Map<string, { at: number; whole: boolean; time: number }>();
  /** An entry is being worked through (waiting for the gate or a claim): copies wait for the inbox. */
  private busy = 0;
  /** Batch entries handled since the reader last asked (`lazyRead`), and how many of them came ahead. */
  private handled = 0;
  private handledEarly = 0;
  /** A copy was turned away since the reader last asked: its append is wanted soon. */
  private turnedAway = false;
  /** Ends the reader's lazy wait early. */
  private wake: (() => void) | undefined;

  constructor(
    private readonly engine: Engine,
    private readonly store: ClusterStore,
    private readonly stats: ClusterStats,
    closing: () => boolean,
  ) {
    this.gate = new InboxGate(engine.options, stats, closing);
  }

  entry(entry: InboxEntry): Promise<void> | undefined {
    const pending = this.handle(entry);
    if (pending === undefined) return undefined;
    this.busy++;
    return pending.finally(() => {
      this.busy--;
    });
  }

  /**
   * A copy of an inbox append, sent over a link by its sender as it appended it (`previous`: the stamp of
   * its append to this node before, '' for its first). Delivered now when that keeps the order of the
   * sender's appends (the previous one is delivered) and nothing waits (the gate is open, no entry is
   * being worked through); else dropped, and the append delivers it as before. When the append comes, only
   * what the copy did not deliver is delivered (the gate may stop a copy part-way). The append stays what
   * counts: a restart before its checkpoint delivers it again (at least once, as any inbox entry).
   */
  fast(from: string, stamp: string, previous: string, batch: Buffer): void {
    const key = `${from} ${stamp}`;
    if (this.early.has(key) || this.recent.has(from, stamp)) return;
    if (this.early.size >= EARLY_LIMIT) this.forgetOrphans(Date.now() - EARLY_ORPHAN_MS);
    if (
      this.busy > 0 ||
      this.gate.closed ||
      this.early.size >= EARLY_LIMIT ||
      (previous !== '' && !this.recent.has(from, previous) && !this.early.get(`${from} ${previous}`)?.whole)
    ) {
      // Its append delivers it: the reader should not wait.
      this.turnedAway = true;
      this.wake?.();
      return;
    }
    const at = this.deliver(batch, from, 0);
    this.early.set(key, { at, whole: at >= batch.length, time: Date.now() });
    this.stats.earlyDelivered++;
  }

  /**
   * Lazy reads: while every batch entry of the last read had come ahead over a link, and no copy was turned
   * away since, the next read waits LAZY_READ_MS (fewer reads, each with more entries, on a node busy with
   * the copies); a copy turned away ends the wait.
   */
  lazyRead(): Promise<void> | undefined {
    const lazy = this.handled > 0 && this.handledEarly === this.handled && !this.turnedAway;
    this.handled = 0;
    this.handledEarly = 0;
    this.turnedAway = false;
    if (!lazy) return undefined;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, LAZY_READ_MS);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }

  private handle(entry: InboxEntry): Promise<void> | undefined {
    const engine = this.engine;
    const early = entry.kind === 'batch' ? this.takeEarly(entry.from, entry.stamp) : undefined;
    if (entry.kind === 'batch') {
      this.handled++;
      if (early !== undefined) this.handledEarly++;
    }
    if (early !== undefined && entry.kind === 'batch') {
      // Delivered from its copy; the gate may have stopped the copy part-way: the rest once it opens.
      this.recent.isCopy(entry);
      if (early < entry.batch.length) return this.resume(entry, early);
    } else if (this.recent.isCopy(entry)) {
      // A copy of an append Redis ran twice (a resent command).
      this.stats.duplicatesDropped++;
    } else if (entry.kind === 'batch') {
      const next = this.deliver(entry.batch, entry.from, 0);
      if (next < entry.batch.length) return this.resume(entry, next);
    } else if (entry.kind === 'evict') {
      // A stale notice (this node took the session back since) changes nothing.
      if (this.store.epochOf(entry.clientId) < entry.epoch) {
        this.store.lost(entry.clientId);
        if (engine.evictSession(entry.clientId)) this.stats.evictions++;
      }
    } else {
      // Handed over for a session this node is claiming for a connecting client: the claim's answer may
      // come after this entry (another connection to Redis). The inbox waits until the session is here.
      const here = engine.services.sessions.get(entry.clientId) !== undefined;
      const claim = here ? undefined : this.store.claimInFlight(entry.clientId);
      if (claim !== undefined) return claim.then(() => this.handOff(entry));
      return this.handOff(entry);
    }
    return this.finish(entry);
  }

  /** A delivery handed over by the session's previous owner. */
  private handOff(entry: Extract<InboxEntry, { kind: 'handoff' }>): Promise<void> | undefined {
    const d = decodeDelivery(entry.delivery);
    const outbound = this.engine.services.outbound;
    outbound.queueWatch = this.gate.queued;
    try {
      if (this.engine.deliverToSession(entry.clientId, d.message, d.qos, d.retain, d.subscriptionIds))
        this.stats.handoffs++;
    } finally {
      outbound.queueWatch = undefined;
    }
    return this.finish(entry);
  }

  private finish(entry: InboxEntry): Promise<void> | undefined {
    this.done(entry);
    // A hand-over filled its session's queue: the next entry waits.
    return this.gate.closed ? this.gate.wait() : undefined;
  }

  caughtUp(): void {
    this.gate.caughtUp();
  }

  /** A batch of QoS 0 messages (pub/sub: it cannot wait, so it is not paced). */
  deliverBatch(batch: Buffer, from: string): void {
    visitFrames(batch, (message, target) => this.publish(message, target, from));
  }

  /** The messages of a batch from byte `at`, until the gate closes; returns where it stopped. */
  private deliver(batch: Buffer, from: string, at: number): number {
    const outbound = this.engine.services.outbound;
    outbound.queueWatch = this.gate.queued;
    try {
      return visitFramesFrom(batch, at, (message, target) => {
        this.publish(message, target, from);
        return !this.gate.closed;
      });
    } finally {
      outbound.queueWatch = undefined;
    }
  }

  /** The rest of a batch the gate stopped, each part once the gate opens; then the entry is done. */
  /** How far the copy of this append was delivered, if it was; forgets it (and copies long orphaned). */
  private takeEarly(from: string, stamp: string | undefined): number | undefined {
    if (stamp === undefined || this.early.size === 0) return undefined;
    const key = `${from} ${stamp}`;
    const early = this.early.get(key);
    if (early === undefined) return undefined;
    this.early.delete(key);
    this.forgetOrphans(early.time - EARLY_ORPHAN_MS);
    return early.at;
  }

  /**
   * Forget the copies delivered before `before` whose append never came (its sender died between the copy
   * and the append, or its commit failed for good). Not sooner: an append still coming after a copy was
   * forgotten would be delivered again.
   */
  private forgetOrphans(before: number): void {
    if ((this.early.values().next().value?.time ?? before) >= before) return;
    for (const [key, early] of this.early) if (early.time < before) this.early.delete(key);
  }

  private async resume(entry: BatchEntry, at: number): Promise<void> {
    let next = at;
    while (next < entry.batch.length) {
      await this.gate.wait();
      next = this.deliver(entry.batch, entry.from, next);
    }
    this.done(entry);
  }

  private publish(message: Message, target: RemoteTarget, from: string): void {
    this.stats.received++;
    if (target === SUBSCRIBERS_ONLY) this.engine.publishRemote(message, from);
    else this.engine.publishRemote(message, from, target);
  }

  private done(entry: InboxEntry): void {
    this.store.checkpoint(entry.id);
    this.engine.services.turn.markDirty();
  }
}
