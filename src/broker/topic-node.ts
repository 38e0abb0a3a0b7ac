/** The trie's building blocks: nodes, their slots, and the keyed lists of subscribers they hold. */

/** One non-shared subscription: the subscribing client and what the broker stored with it. */
export interface SubscriberEntry<S> {
  clientId: string;
  value: S;
  /** While muted: the node's `mutedMatches` when it was muted. */
  mutedAt?: number;
}

/** One shared subscription group (`$share/{group}/{filter}`, spec 4.8.2) for one filter. */
export interface SharedGroupEntry<S> {
  group: string;
  /** The filter without the `$share/{group}/` prefix. */
  filter: string;
  /** clientId -> value, in subscription order. */
  members: Map<string, S>;
  /**
   * Round-robin position, owned by the broker; the index never reads or resets it, and members may
   * leave, so the broker takes it modulo `members.size`.
   */
  cursor: number;
}

/** Which slot of its parent a node occupies: wildcards get their own slots, apart from literal levels. */
export const Slot = { literal: 0, plus: 1, hash: 2 } as const;
export type SlotKind = (typeof Slot)[keyof typeof Slot];

/** Lists up to this long are searched by scanning; longer ones keep an index of positions. */
const SCAN_UP_TO = 8;

/**
 * A list keyed by string with O(1) lookup, insert and removal, whose items sit in a plain array so the
 * matching hot path iterates them with an index loop instead of allocating a Map iterator.
 * Removal moves the last item into the hole, so order is not preserved. A short list (most topics have one
 * subscriber) has no index and an array of its exact length: it is searched by scanning.
 */
export abstract class KeyedList<T> {
  items: T[] = [];
  private positions: Map<string, number> | undefined = undefined;

  /** The key of an item (a method, not a field: no closure per list). */
  protected abstract keyOf(item: T): string;

  get size(): number {
    return this.items.length;
  }

  get(key: string): T | undefined {
    const at = this.find(key);
    return at === -1 ? undefined : this.items[at];
  }

  /** Inserts or replaces in place; returns the replaced item. */
  set(key: string, item: T): T | undefined {
    const at = this.find(key);
    if (at !== -1) {
      const previous = this.items[at];
      this.items[at] = item;
      return previous;
    }
    const items = this.items;
    if (items.length === 0) {
      // A literal: exactly one slot, where a push would reserve seventeen.
      this.items = [item];
      return undefined;
    }
    this.positions?.set(key, items.length);
    items.push(item);
    if (this.positions === undefined && items.length > SCAN_UP_TO) {
      this.positions = new Map();
      for (let i = 0; i < items.length; i++) this.positions.set(this.keyOf(items[i] as T), i);
    }
    return undefined;
  }

  delete(key: string): T | undefined {
    const at = this.find(key);
    if (at === -1) return undefined;
    const items = this.items;
    const removed = items[at];
    const last = items.pop() as T;
    this.positions?.delete(key);
    if (at < items.length) {
      items[at] = last;
      this.positions?.set(this.keyOf(last), at);
    }
    return removed;
  }

  /** Where the item of `key` is, or -1. */
  private find(key: string): number {
    const positions = this.positions;
    if (positions !== undefined) return positions.get(key) ?? -1;
    const items = this.items;
    for (let i = 0; i < items.length; i++) if (this.keyOf(items[i] as T) === key) return i;
    return -1;
  }
}

/** The plain subscribers of a node, by client id. */
export class SubscriberList<S> extends KeyedList<SubscriberEntry<S>> {
  protected keyOf(entry: SubscriberEntry<S>): string {
    return entry.clientId;
  }
}

/** The shared subscription groups of a node, by group name. */
export class GroupList<S> extends KeyedList<SharedGroupEntry<S>> {
  protected keyOf(entry: SharedGroupEntry<S>): string {
    return entry.group;
  }
}

/** What few nodes need: muted subscribers and shared groups, kept aside so every other node is smaller. */
export class NodeExtras<S> {
  /** Subscribers set aside (slow readers): kept, but not handed out by `match`. */
  muted: SubscriberList<S> | undefined = undefined;
  /** Messages matched here while someone was muted: what each muted subscriber missed, by difference. */
  mutedMatches = 0;
  shared: GroupList<S> | undefined = undefined;
}

export class TopicNode<S, R> {
  /** Literal levels; retained messages live only under these. */
  children: Map<string, TopicNode<S, R>> | undefined = undefined;
  plus: TopicNode<S, R> | undefined = undefined;
  hash: TopicNode<S, R> | undefined = undefined;
  /**
   * The plain subscribers: a lone one held directly (most filters have one subscriber, and a list costs
   * about 100 bytes more), a list from the second on. Read through the methods below.
   */
  subscribers: SubscriberEntry<S> | SubscriberList<S> | undefined = undefined;
  /** Muted subscribers and shared groups, when the node has any. */
  extras: NodeExtras<S> | undefined = undefined;
  retained: R | undefined = undefined;
  /** The topic name of `retained`, kept so a retained walk reports it without rebuilding it. */
  retainedTopic = '';
  /** Retained messages in this subtree, this node included: lets a retained walk skip empty branches. */
  retainedBelow = 0;

  constructor(
    readonly parent: TopicNode<S, R> | undefined,
    readonly key: string,
    readonly slot: SlotKind,
  ) {}

  get subscriberCount(): number {
    const subscribers = this.subscribers;
    if (subscribers === undefined) return 0;
    return subscribers instanceof SubscriberList ? subscribers.size : 1;
  }

  getSubscriber(clientId: string): SubscriberEntry<S> | undefined {
    const subscribers = this.subscribers;
    if (subscribers === undefined) return undefined;
    if (subscribers instanceof SubscriberList) return subscribers.get(clientId);
    return subscribers.clientId === clientId ? subscribers : undefined;
  }

  /** Inserts or replaces the entry of `entry.clientId`; returns the replaced one. */
  setSubscriber(entry: SubscriberEntry<S>): SubscriberEntry<S> | undefined {
    const subscribers = this.subscribers;
    if (subscribers === undefined) {
      this.subscribers = entry;
      return undefined;
    }
    if (subscribers instanceof SubscriberList) return subscribers.set(entry.clientId, entry);
    if (subscribers.clientId === entry.clientId) {
      this.subscribers = entry;
      return subscribers;
    }
    const list = new SubscriberList<S>();
    list.set(subscribers.clientId, subscribers);
    list.set(entry.clientId, entry);
    this.subscribers = list;
    return undefined;
  }

  /** Removes the entry of `clientId`; returns it. A list left with one entry goes back to holding it alone. */
  deleteSubscriber(clientId: string): SubscriberEntry<S> | undefined {
    const subscribers = this.subscribers;
    if (subscribers === undefined) return undefined;
    if (!(subscribers instanceof SubscriberList)) {
      if (subscribers.clientId !== clientId) return undefined;
      this.subscribers = undefined;
      return subscribers;
    }
    const removed = subscribers.delete(clientId);
    if (subscribers.size === 1) this.subscribers = subscribers.items[0];
    return removed;
  }

  /** Sets the subscriber of `clientId` aside (see `TopicIndex.mute`); false when it is not an active one. */
  mute(clientId: string): boolean {
    const entry = this.deleteSubscriber(clientId);
    if (entry === undefined) return false;
    const extras = this.ensureExtras();
    extras.muted ??= new SubscriberList();
    entry.mutedAt = extras.mutedMatches;
    extras.muted.set(clientId, entry);
    return true;
  }

  /** How many messages the muted subscriber of `clientId` missed so far (-1: it is not muted). */
  mutedMissed(clientId: string): number {
    const entry = this.extras?.muted?.get(clientId);
    if (entry === undefined) return -1;
    const mutedMatches = this.extras?.mutedMatches ?? 0;
    return mutedMatches - (entry.mutedAt ?? mutedMatches);
  }

  /** Puts a muted subscriber back; returns how many messages it missed (-1: it was not muted). */
  unmute(clientId: string): number {
    const mutedMatches = this.extras?.mutedMatches ?? 0;
    const entry = this.deleteMuted(clientId);
    if (entry === undefined) return -1;
    const missed = mutedMatches - (entry.mutedAt ?? mutedMatches);
    entry.mutedAt = undefined;
    this.setSubscriber(entry);
    return missed;
  }

  /** Removes the muted entry of `clientId`; returns it. */
  deleteMuted(clientId: string): SubscriberEntry<S> | undefined {
    const extras = this.extras;
    const entry = extras?.muted?.delete(clientId);
    if (extras === undefined || entry === undefined) return undefined;
    if (extras.muted!.size === 0) extras.muted = undefined;
    this.trimExtras();
    return entry;
  }

  /** The extras, created on first need. */
  ensureExtras(): NodeExtras<S> {
    this.extras ??= new NodeExtras();
    return this.extras;
  }

  /** Drops the extras once they hold nothing. */
  trimExtras(): void {
    const extras = this.extras;
    if (extras !== undefined && extras.muted === undefined && extras.shared === undefined)
      this.extras = undefined;
  }

  isEmpty(): boolean {
    return (
      this.retained === undefined &&
      this.subscribers === undefined &&
      this.extras === undefined &&
      this.plus === undefined &&
      this.hash === undefined &&
      (this.children === undefined || this.children.size === 0)
    );
  }
}
