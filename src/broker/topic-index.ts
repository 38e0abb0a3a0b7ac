/**
 * The broker's topic trie (spec 4.7): one tree that holds both the subscriptions, keyed by topic filter,
 * and the retained messages, keyed by topic name, so a literal level shared by a filter and a name is
 * stored once. The index is a pure data structure: it validates nothing (the packet layer checks topic
 * names and filters before they get here) and knows nothing about sessions or delivery.
 *
 * Matching rules, as the spec states them:
 * - `+` matches exactly one level, which may be empty (4.7.1.3).
 * - `#` matches its parent level and any number of levels below it, so `a/#` matches `a` (4.7.1.2).
 *   It is always the last level of a valid filter ([MQTT-4.7.1-1]; 3.1.1: [MQTT-4.7.1-2]).
 * - A filter starting with a wildcard never matches a topic name starting with `$` ([MQTT-4.7.2-1]).
 * - Levels compare character for character: no case folding, no normalization ([MQTT-4.7.3-4]), and
 *   empty levels (`/a`, `a//b`, `a/`) are levels like any other.
 */

import { matchRetainedIn } from './retained-match.js';
import { levelsBelow, type TopicLevel } from './topic-levels.js';
import {
  GroupList,
  type SharedGroupEntry,
  Slot,
  type SlotKind,
  type SubscriberEntry,
  SubscriberList,
  TopicNode,
} from './topic-node.js';

export type { SharedGroupEntry, SubscriberEntry } from './topic-node.js';

/** Where `match` puts its results; reused across calls, cleared by the caller. */
export interface MatchResult<S> {
  subscribers: SubscriberEntry<S>[];
  shared: SharedGroupEntry<S>[];
}

/** Empty a reused list: `pop` is inlined, where setting `length` calls into the runtime (per message here). */
export function clearList(list: unknown[]): void {
  while (list.length > 0) list.pop();
}

/** Empty a reused match result (see {@link clearList}). */
export function clearMatch<S>(result: MatchResult<S>): void {
  clearList(result.subscribers);
  clearList(result.shared);
}

const DOLLAR = 0x24;

/**
 * Subscriptions and retained messages in one topic trie. `S` is what the broker stores per subscription
 * (options, subscription identifier), `R` what it stores per retained message.
 *
 * Filters given here are topic filters without any `$share/{group}/` prefix; a shared subscription is
 * named by the `shareGroup` argument instead. Inputs are assumed valid (checked by the packet layer).
 */
export class TopicIndex<S, R> {
  private readonly root = new TopicNode<S, R>(undefined, '', Slot.literal);
  private nodes = 0;
  private subscriptions = 0;
  private retainedMessages = 0;
  private retainedVisits = 0;
  // Scratch space for `match`, which calls out to nothing and so is never re-entered: reusing these
  // keeps a match free of allocations apart from the level strings themselves.
  private readonly levels: string[] = [];
  private readonly stackNodes: TopicNode<S, R>[] = [];
  private readonly stackDepths: number[] = [];

  /** Distinct (client, filter, share group) subscriptions. */
  get subscriptionCount(): number {
    return this.subscriptions;
  }

  /** Stored retained messages. */
  get retainedCount(): number {
    return this.retainedMessages;
  }

  /** Trie nodes, root excluded: 0 once everything has been removed (empty nodes are pruned). */
  get nodeCount(): number {
    return this.nodes;
  }

  /** Trie nodes the most recent `matchRetained` examined; shows the walk stayed in its subtree. */
  get lastMatchRetainedVisits(): number {
    return this.retainedVisits;
  }

  /**
   * Add or replace a subscription. `shareGroup` given => a shared subscription in that group for `filter`.
   * Returns the previous value for (filter, shareGroup, clientId) if any. `entry`, for a plain subscription:
   * the object to keep in the index (its `clientId` and `value` must be these), so a caller whose value can
   * be its own entry saves the index one object per subscription.
   */
  subscribe(
    clientId: string,
    filter: string,
    value: S,
    shareGroup?: string,
    entry?: SubscriberEntry<S>,
  ): S | undefined {
    const node = this.filterNode(filter, true)!;
    if (shareGroup === undefined) {
      // A fresh entry rather than an update in place, so entries already handed out by `match` keep
      // describing the subscription as it was when matched.
      // A muted subscription replaced is active again.
      const previous = node.setSubscriber(entry ?? { clientId, value }) ?? node.deleteMuted(clientId);
      if (previous === undefined) this.subscriptions++;
      return previous?.value;
    }
    const extras = node.ensureExtras();
    extras.shared ??= new GroupList();
    let group = extras.shared.get(shareGroup);
    if (group === undefined) {
      group = { group: shareGroup, filter, members: new Map(), cursor: 0 };
      extras.shared.set(shareGroup, group);
    }
    const previous = group.members.get(clientId);
    if (!group.members.has(clientId)) this.subscriptions++;
    // Replacing an existing key keeps its place in the Map, so the round-robin order stays stable.
    group.members.set(clientId, value);
    return previous;
  }

  /**
   * Set a plain subscription aside: `match` stops handing it out (no cost per message for it), and the node
   * counts the messages it misses. False when there is no such active subscription.
   */
  mute(clientId: string, filter: string): boolean {
    return this.filterNode(filter, false)?.mute(clientId) ?? false;
  }

  /** How many matching messages a muted subscription missed so far, leaving it muted (-1: it is not). */
  mutedMissed(clientId: string, filter: string): number {
    return this.filterNode(filter, false)?.mutedMissed(clientId) ?? -1;
  }

  /** Put a muted subscription back; returns how many matching messages it missed (-1: it was not muted). */
  unmute(clientId: string, filter: string): number {
    return this.filterNode(filter, false)?.unmute(clientId) ?? -1;
  }

  /** Remove a subscription; returns its value, or undefined when there was none. */
  unsubscribe(clientId: string, filter: string, shareGroup?: string): S | undefined {
    const node = this.filterNode(filter, false);
    if (node === undefined) return undefined;
    let removed: S | undefined;
    if (shareGroup === undefined) {
      const entry = node.deleteSubscriber(clientId) ?? node.deleteMuted(clientId);
      if (entry === undefined) return undefined;
      removed = entry.value;
    } else {
      const extras = node.extras;
      const group = extras?.shared?.get(shareGroup);
      if (extras === undefined || group === undefined || !group.members.has(clientId)) return undefined;
      removed = group.members.get(clientId);
      group.members.delete(clientId);
      if (group.members.size === 0) {
        extras.shared!.delete(shareGroup);
        if (extras.shared!.size === 0) extras.shared = undefined;
        node.trimExtras();
      }
    }
    this.subscriptions--;
    this.prune(node);
    return removed;
  }

  /** The value stored for (filter, shareGroup, clientId), if subscribed. */
  getSubscription(clientId: string, filter: string, shareGroup?: string): S | undefined {
    const node = this.filterNode(filter, false);
    if (node === undefined) return undefined;
    if (shareGroup === undefined) return node.getSubscriber(clientId)?.value;
    return node.extras?.shared?.get(shareGroup)?.members.get(clientId);
  }

  /**
   * Every subscription matching a topic name, pushed into `out` (caller clears it; reused across calls).
   * A client subscribed with several overlapping filters appears once per filter (the broker merges).
   * Entries are the index's own objects: read them, don't modify them.
   */
  match(topic: string, out: MatchResult<S>): void {
    const levels = this.levels;
    const levelCount = splitInto(topic, levels);
    const root = this.root;
    // [MQTT-4.7.2-1] wildcards in the first filter level skip `$` topics such as `$SYS/...`.
    const dollar = topic.charCodeAt(0) === DOLLAR;
    const nodes = this.stackNodes;
    const depths = this.stackDepths;
    nodes[0] = root;
    depths[0] = 0;
    let top = 1;
    // An explicit stack rather than recursion: a topic may have tens of thousands of levels.
    // Every node has one path from the root and each step consumes one level, so each node is
    // reached at most once and no subscription is reported twice.
    while (top > 0) {
      top--;
      const node = nodes[top]!;
      const depth = depths[top]!;
      // `#` matches the parent level and everything below it (4.7.1.2), so it matches
      // whether or not levels remain.
      if (node.hash !== undefined && !(dollar && node === root)) emit(node.hash, out);
      if (depth === levelCount) {
        emit(node, out);
        continue;
      }
      // [MQTT-4.7.3-4] literal levels compare exactly: a Map lookup on the unmodified level.
      const child = node.children?.get(levels[depth]!);
      if (child !== undefined) {
        nodes[top] = child;
        depths[top] = depth + 1;
        top++;
      }
      // `+` takes exactly one level, empty or not (4.7.1.3).
      if (node.plus !== undefined && !(dollar && node === root)) {
        nodes[top] = node.plus;
        depths[top] = depth + 1;
        top++;
      }
    }
  }

  /** Retained messages, stored in the same trie's nodes by topic name. `undefined` deletes. */
  setRetained(topic: string, value: R | undefined): void {
    if (value === undefined) {
      const node = this.topicNode(topic, false);
      if (node === undefined || node.retained === undefined) return;
      node.retained = undefined;
      node.retainedTopic = '';
      this.retainedMessages--;
      for (let at: TopicNode<S, R> | undefined = node; at !== undefined; at = at.parent) at.retainedBelow--;
      this.prune(node);
      return;
    }
    const node = this.topicNode(topic, true)!;
    if (node.retained === undefined) {
      this.retainedMessages++;
      for (let at: TopicNode<S, R> | undefined = node; at !== undefined; at = at.parent) at.retainedBelow++;
    }
    node.retained = value;
    node.retainedTopic = topic;
  }

  /** The retained message stored for exactly this topic name. */
  getRetained(topic: string): R | undefined {
    return this.topicNode(topic, false)?.retained;
  }

  /**
   * Visit every retained message whose topic matches `filter` by walking the trie (never a scan of all
   * retained messages): cost proportional to the matching part of the tree. Visit order is unspecified.
   * `visit` may add or delete retained messages; a message deleted before it is reached is not visited.
   */
  matchRetained(filter: string, visit: (topic: string, value: R) => void): void {
    this.retainedVisits = matchRetainedIn(this.root, filter, visit);
  }

  /**
   * The levels directly below `parent` (a filter; undefined for the root), literal levels sorted, then `+`
   * and `#`: what an operator's topic tree shows. Undefined when `parent` is not in the trie.
   */
  children(parent: string | undefined): TopicLevel[] | undefined {
    const node = parent === undefined ? this.root : this.filterNode(parent, false);
    return node === undefined ? undefined : levelsBelow(node);
  }

  /** The node of a filter: `+` and `#` levels go to the wildcard slots. */
  private filterNode(filter: string, create: boolean): TopicNode<S, R> | undefined {
    let node = this.root;
    let start = 0;
    for (;;) {
      const slash = filter.indexOf('/', start);
      const level = slash === -1 ? filter.slice(start) : filter.slice(start, slash);
      const slot = level === '+' ? Slot.plus : level === '#' ? Slot.hash : Slot.literal;
      const next = this.child(node, level, slot, create);
      if (next === undefined) return undefined;
      node = next;
      if (slash === -1) return node;
      start = slash + 1;
    }
  }

  /** The node of a topic name: literal levels only, whatever characters they hold. */
  private topicNode(topic: string, create: boolean): TopicNode<S, R> | undefined {
    let node = this.root;
    let start = 0;
    for (;;) {
      const slash = topic.indexOf('/', start);
      const level = slash === -1 ? topic.slice(start) : topic.slice(start, slash);
      const next = this.child(node, level, Slot.literal, create);
      if (next === undefined) return undefined;
      node = next;
      if (slash === -1) return node;
      start = slash + 1;
    }
  }

  private child(
    node: TopicNode<S, R>,
    level: string,
    slot: SlotKind,
    create: boolean,
  ): TopicNode<S, R> | undefined {
    const existing =
      slot === Slot.plus ? node.plus : slot === Slot.hash ? node.hash : node.children?.get(level);
    if (existing !== undefined || !create) return existing;
    const created = new TopicNode<S, R>(node, level, slot);
    if (slot === Slot.plus) node.plus = created;
    else if (slot === Slot.hash) node.hash = created;
    else {
      node.children ??= new Map();
      node.children.set(level, created);
    }
    this.nodes++;
    return created;
  }

  /** Detach `node` and then each ancestor while they hold nothing, so removed topics leave no trace. */
  private prune(node: TopicNode<S, R>): void {
    let at = node;
    while (at.parent !== undefined && at.isEmpty()) {
      const parent = at.parent;
      if (at.slot === Slot.plus) parent.plus = undefined;
      else if (at.slot === Slot.hash) parent.hash = undefined;
      else {
        parent.children!.delete(at.key);
        // Most nodes are leaves; dropping the empty Map keeps them small.
        if (parent.children!.size === 0) parent.children = undefined;
      }
      this.nodes--;
      at = parent;
    }
  }
}

/** Splits a topic at `/` into a reused array; returns the level count (at least 1). */
function splitInto(topic: string, levels: string[]): number {
  let count = 0;
  let start = 0;
  for (;;) {
    const slash = topic.indexOf('/', start);
    if (slash === -1) {
      levels[count++] = start === 0 ? topic : topic.slice(start);
      return count;
    }
    levels[count++] = topic.slice(start, slash);
    start = slash + 1;
  }
}

function emit<S, R>(node: TopicNode<S, R>, out: MatchResult<S>): void {
  const subscribers = node.subscribers;
  if (subscribers instanceof SubscriberList) {
    const items = subscribers.items;
    for (let i = 0; i < items.length; i++) out.subscribers.push(items[i]!);
  } else if (subscribers !== undefined) {
    out.subscribers.push(subscribers);
  }
  const extras = node.extras;
  if (extras === undefined) return;
  if (extras.muted !== undefined) extras.mutedMatches++;
  if (extras.shared !== undefined) {
    const items = extras.shared.items;
    for (let i = 0; i < items.length; i++) out.shared.push(items[i]!);
  }
}
