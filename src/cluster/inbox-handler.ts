import type { Engine } from '../broker/engine.js';
import type { Message } from '../broker/message.js';
import type { RemoteTarget } from '../broker/routing.js';
import type { ClusterStore, InboxEntry, InboxHandler } from './backend.js';
import type { ClusterStats } from './cluster-stats.js';
import { decodeDelivery } from './codec.js';
import { SUBSCRIBERS_ONLY, visitFrames, visitFramesFrom } from './frames.js';
import { InboxGate } from './inbox-gate.js';
import { RecentStamps } from './recent-stamps.js';

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

  constructor(
    private readonly engine: Engine,
    private readonly store: ClusterStore,
    private readonly stats: ClusterStats,
    closing: () => boolean,
  ) {
    this.gate = new InboxGate(engine.options, stats, closing);
  }

  entry(entry: InboxEntry): Promise<void> | undefined {
    const engine = this.engine;
    if (this.recent.isCopy(entry)) {
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
  private async resume(entry: Extract<InboxEntry, { kind: 'batch' }>, at: number): Promise<void> {
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
