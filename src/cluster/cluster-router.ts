import type { LocalRouter } from '../broker/local-router.js';
import type { Message } from '../broker/message.js';
import type { Router } from '../broker/routing.js';
import type { SessionSubscription } from '../broker/session.js';
import { clearList, clearMatch, type MatchResult, type SharedGroupEntry } from '../broker/topic-index.js';
import type { ClusterBackend } from './backend.js';
import type { ClusterStats } from './cluster-stats.js';
import { isNodeLocalTopic } from './codec.js';
import { encodeFrame, FrameBatch, type SharedChoice } from './frames.js';
import { encodeMessage } from './message-codec.js';
import type { NodeLinks } from './node-links.js';
import type { RouteTable } from './route-table.js';

/** Where one message goes on one other node. */
interface NodeTarget {
  subscribers: boolean;
  shared: SharedChoice[];
}

/**
 * Routing in a cluster: the local topic index for this node's subscribers, plus forwarding to the other
 * nodes with a matching route only (never a broadcast). Shared groups: this node picks one member node of
 * each matching group, round-robin cluster-wide; that node then picks the member session. QoS 0 goes over
 * the direct link to the node (else the backend's best-effort channel), batched per node per turn, and is
 * dropped and counted while the backend is away; QoS 1/2 go into the node's inbox with the turn's commit,
 * so the publisher's acknowledgement waits for them (and a copy goes ahead over the link, see
 * `InboxProcessor.fast`). Messages from other nodes reach only local subscribers.
 */
export class ClusterRouter implements Router {
  private readonly result: MatchResult<string> = { subscribers: [], shared: [] };
  private readonly qos0 = new Map<string, FrameBatch>();
  private qos0Scheduled = false;
  /** The other nodes a message goes to (reused). */
  private readonly nodes: string[] = [];

  constructor(
    private readonly local: LocalRouter,
    private readonly table: RouteTable,
    private readonly backend: ClusterBackend,
    private readonly stats: ClusterStats,
    private readonly markDirty: () => void,
    /** The direct links to the other nodes, if this node has them: QoS 0 goes over them first. */
    private readonly links: NodeLinks | undefined,
  ) {}

  add(record: SessionSubscription): void {
    this.local.add(record);
    if (this.table.addLocal(record.key, record.session.clientId)) {
      this.backend.store.addRoute(record.key);
      this.markDirty();
    }
  }

  remove(record: SessionSubscription): void {
    this.local.remove(record);
    if (this.table.removeLocal(record.key, record.session.clientId)) {
      this.backend.store.removeRoute(record.key);
      this.markDirty();
    }
  }

  route(message: Message, origin: 'local' | 'remote'): number {
    const table = this.table;
    if (origin === 'remote' || !table.hasRemote || isNodeLocalTopic(message.topic))
      return this.local.route(message, origin);
    const result = this.result;
    clearMatch(result);
    table.index.match(message.topic, result);
    const self = table.self;
    if (result.shared.length === 0) {
      // The common case: subscribers only, usually on one other node; no map, one buffer per node.
      const nodes = this.nodes;
      clearList(nodes);
      for (const entry of result.subscribers) {
        if (entry.clientId !== self && !nodes.includes(entry.clientId)) nodes.push(entry.clientId);
      }
      const deliveries = this.local.routeRemote(message, ALL_SUBSCRIBERS);
      if (nodes.length === 1) {
        const batch = this.batchFor(message, nodes[0] as string);
        if (batch !== undefined) batch.addSubscribers(message);
      } else if (nodes.length > 1) {
        const targets = new Map<string, NodeTarget>();
        for (const node of nodes) targets.set(node, { subscribers: true, shared: [] });
        this.forward(message, targets);
      }
      return deliveries;
    }
    let targets: Map<string, NodeTarget> | undefined;
    for (const entry of result.subscribers) {
      if (entry.clientId === self) continue;
      targets ??= new Map();
      const target = targets.get(entry.clientId);
      if (target === undefined) targets.set(entry.clientId, { subscribers: true, shared: [] });
      else target.subscribers = true;
    }
    let mine: SharedChoice[] | undefined;
    for (const group of result.shared) {
      const node = pickNode(group);
      if (node === undefined) continue;
      const choice = { group: group.group, filter: group.filter };
      if (node === self) {
        mine ??= [];
        mine.push(choice);
        continue;
      }
      targets ??= new Map();
      const target = targets.get(node);
      if (target === undefined) targets.set(node, { subscribers: false, shared: [choice] });
      else target.shared.push(choice);
    }
    const deliveries = this.local.routeRemote(message, { subscribers: true, shared: mine ?? NO_GROUPS });
    if (targets !== undefined) this.forward(message, targets);
    return deliveries;
  }

  private forward(message: Message, targets: Map<string, NodeTarget>): void {
    const encoded = encodeMessage(message);
    for (const [node, target] of targets) {
      const batch = this.batchFor(message, node);
      if (batch === undefined) continue;
      const [header, body] = encodeFrame(target.subscribers, target.shared, encoded);
      batch.add(header as Buffer, body);
    }
  }

  /**
   * Where one frame of `message` for `node` goes: its inbox batch (QoS 1/2, with the turn's commit) or its
   * QoS 0 batch (sent at the end of the turn). Undefined: dropped (QoS 0 while the backend is away).
   */
  private batchFor(message: Message, node: string): FrameBatch | undefined {
    const qos = message.qos;
    this.stats.forwarded[qos]++;
    if (qos > 0) {
      this.markDirty();
      return this.backend.store.inboxFrames(node);
    }
    // Links or not, QoS 0 across nodes stops while the backend is away (its routes and members may be stale).
    if (!this.backend.available) {
      this.stats.qos0Dropped++;
      return undefined;
    }
    let batch = this.qos0.get(node);
    if (batch === undefined) {
      batch = new FrameBatch();
      this.qos0.set(node, batch);
    }
    if (!this.qos0Scheduled) {
      this.qos0Scheduled = true;
      setImmediate(this.flushAtTurnEnd);
    }
    return batch;
  }

  /** The turn's last flush: one per turn however many chunks flushed before it. */
  private readonly flushAtTurnEnd = (): void => {
    this.qos0Scheduled = false;
    this.flushQos0();
  };

  /** One QoS 0 batch per node per chunk read (see `EndOfTurn.afterChunk`), and what is left at the turn's end. */
  flushQos0(): void {
    for (const [node, batch] of this.qos0) {
      if (batch.empty) {
        this.qos0.delete(node);
        continue;
      }
      const frames = batch.frames;
      const bytes = batch.take();
      const sent = this.links?.sendQos0(node, bytes) ?? 'none';
      if (sent === 'full' || (sent === 'none' && !this.backend.sendQos0(node, bytes)))
        this.stats.qos0Dropped += frames;
    }
  }
}

const NO_GROUPS: readonly SharedChoice[] = [];
const ALL_SUBSCRIBERS = { subscribers: true, shared: NO_GROUPS };

/** The member node of a shared group for the next message: round-robin over the group's nodes. */
function pickNode(group: SharedGroupEntry<string>): string | undefined {
  const size = group.members.size;
  if (size === 0) return undefined;
  const at = group.cursor % size;
  group.cursor = (at + 1) % size;
  let index = 0;
  for (const node of group.members.keys()) {
    if (index === at) return node;
    index++;
  }
  return undefined;
}
