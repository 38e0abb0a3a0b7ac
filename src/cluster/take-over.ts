import type { Engine } from '../broker/engine.js';
import type { Message } from '../broker/message.js';
import type { StoredSubscription, StoredWill } from '../broker/storage.js';
import { type MatchResult, TopicIndex } from '../broker/topic-index.js';
import { parseSharedFilter } from '../packets/topic.js';
import type { QoS } from '../packets/types.js';
import type { ClusterBackend, InboxEntry } from './backend.js';
import { decodeDelivery, encodeDelivery } from './codec.js';
import { visitFrames } from './frames.js';
import { RecentStamps } from './recent-stamps.js';

/** What taking a dead node over needs from its node. */
export interface TakeOverContext {
  readonly backend: ClusterBackend;
  readonly engine: Engine;
  publishWill(clientId: string, will: StoredWill): void;
  /** Pause between the two reads of the dead node's inbox (messages routed to it before its routes went). */
  readonly settleMs: number;
}

export interface TakeOverSummary {
  /** Stored sessions taken over here. */
  readonly sessions: number;
  /** Clients whose ownership came here (stored sessions and clean ones with a will). */
  readonly clients: number;
  /** Messages of the dead node's inbox delivered here, and handed to the nodes that took sessions meanwhile. */
  readonly delivered: number;
  readonly handedOff: number;
}

/**
 * Take a dead node over (its lock held): claim every session it owned (the wills of its clients published,
 * their subscriptions now this node's routes), then deliver what its inbox held after its checkpoint: to the
 * sessions taken here, and, for sessions a client took to another node after the death (an `e` entry in the
 * inbox says so), to that node as hand-overs, since the dead node never processed them. Then its routes,
 * inbox and registration go (only after the deliveries made here are committed).
 */
export async function takeOver(dead: string, ctx: TakeOverContext): Promise<TakeOverSummary> {
  const { backend, engine } = ctx;
  const claimed = await backend.claimDeadSessions(dead);
  const stored = claimed.flatMap((c) => (c.state === undefined ? [] : [c.state]));
  engine.adoptSessions(stored);
  for (const c of claimed)
    if (c.state === undefined && c.will !== undefined) ctx.publishWill(c.clientId, c.will);
  const adopted = new Set(stored.map((s) => s.session.clientId));

  const entries = await backend.readDeadInbox(dead, undefined);
  await new Promise((resolve) => setTimeout(resolve, ctx.settleMs));
  entries.push(...(await backend.readDeadInbox(dead, entries.at(-1)?.id)));

  const movedIds = new Set<string>();
  for (const entry of entries)
    if (entry.kind === 'evict' && !adopted.has(entry.clientId)) movedIds.add(entry.clientId);
  const moved = await MovedSessions.load(backend, [...movedIds]);
  // A client that reconnected here before the take-over: its session is here, like the adopted ones.
  for (const clientId of moved.own) adopted.add(clientId);
  let delivered = 0;
  let handedOff = 0;
  const recent = new RecentStamps();
  for (const entry of entries) {
    // A copy appended twice (a resent command) is delivered once.
    if (recent.isCopy(entry)) continue;
    if (entry.kind === 'batch') {
      visitFrames(entry.batch, (message, target) => {
        delivered += engine.publishRemote(message, dead, { ...target, sessions: adopted });
        if (target.subscribers) handedOff += moved.handOff(message, backend);
      });
    } else if (entry.kind === 'handoff') {
      handedOff += handOn(entry, adopted, moved, ctx);
    }
  }
  // The deliveries above are made durable before the inbox they came from goes.
  engine.services.turn.markDirty();
  await engine.services.turn.barrier();
  await backend.forgetNode(dead);
  return { sessions: adopted.size, clients: claimed.length, delivered, handedOff };
}

/** A hand-over that reached the dead node: to the session here, or on to the node that took it. */
function handOn(
  entry: Extract<InboxEntry, { kind: 'handoff' }>,
  adopted: ReadonlySet<string>,
  moved: MovedSessions,
  ctx: TakeOverContext,
): number {
  if (adopted.has(entry.clientId)) {
    const d = decodeDelivery(entry.delivery);
    ctx.engine.deliverToSession(entry.clientId, d.message, d.qos, d.retain, d.subscriptionIds);
    return 0;
  }
  const owner = moved.ownerOf(entry.clientId);
  if (owner === undefined) return 0;
  ctx.backend.store.handOff(owner, entry.clientId, entry.delivery);
  return 1;
}

/** Sessions a client took from the dead node to another node: their subscriptions, to match messages. */
class MovedSessions {
  private readonly index = new TopicIndex<StoredSubscription, never>();
  private readonly owners = new Map<string, string>();
  private readonly result: MatchResult<StoredSubscription> = { subscribers: [], shared: [] };
  /** Those that came to this node (served locally). */
  readonly own: string[] = [];

  static async load(backend: ClusterBackend, clientIds: readonly string[]): Promise<MovedSessions> {
    const moved = new MovedSessions();
    if (clientIds.length === 0) return moved;
    for (const { clientId, owner, subscriptions } of await backend.ownedElsewhere(clientIds)) {
      if (owner === backend.nodeId) {
        moved.own.push(clientId);
        continue;
      }
      moved.owners.set(clientId, owner);
      // Shared subscriptions are left out: the publishing node chose the dead node's member, not these.
      for (const sub of subscriptions)
        if (parseSharedFilter(sub.key) === undefined) moved.index.subscribe(clientId, sub.key, sub);
    }
    return moved;
  }

  ownerOf(clientId: string): string | undefined {
    return this.owners.get(clientId);
  }

  /** Hand `message` to the owners of the moved sessions it matches (one per session, best QoS). */
  handOff(message: Message, backend: ClusterBackend): number {
    if (this.owners.size === 0) return 0;
    const result = this.result;
    result.subscribers.length = 0;
    result.shared.length = 0;
    this.index.match(message.topic, result);
    const best = new Map<string, StoredSubscription>();
    for (const { clientId, value } of result.subscribers) {
      if (value.noLocal && message.origin === clientId) continue;
      const seen = best.get(clientId);
      if (seen === undefined || value.qos > seen.qos) best.set(clientId, value);
    }
    for (const [clientId, sub] of best) {
      const owner = this.owners.get(clientId) as string;
      const qos = Math.min(message.qos, sub.qos) as QoS;
      const ids = sub.subscriptionId === undefined ? undefined : [sub.subscriptionId];
      const retain = sub.retainAsPublished && message.retain;
      backend.store.handOff(owner, clientId, encodeDelivery({ message, qos, retain, subscriptionIds: ids }));
    }
    return best.size;
  }
}
