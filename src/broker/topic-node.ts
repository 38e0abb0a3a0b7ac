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

/**
 * A list keyed by string with O(1) lookup, insert and removal, whose items sit in a plain array so the
 * matching hot path iterates them with an index loop instead of allocating a Map iterator.
 * Removal moves the last item into the hole, so order is not preserved.
 */
export class KeyedList<T> {
  readonly items: T[] = [];
  private readonly positions = new Map<string, number>();

  get size(): number {
    return this.items.length;
  }

  get(key: string): T | undefined {
    const at = this.positions.get(key);
    return at === undefined ? undefined : this.items[at];
  }

  /** Inserts or replaces in place; returns the replaced item. */
  set(key: string, item: T): T | undefined {
    const at = this.positions.get(key);
    if (at === undefined) {
      this.positions.set(key, this.items.length);
      this.items.push(item);
      return undefined;
    }
    const previous = this.items[at];
    this.items[at] = item;
    return previous;
  }

  delete(key: string, keyOf: (item: T) => string): T | undefined {
    const at = this.positions.get(key);
    if (at === undefined) return undefined;
    const removed = this.items[at];
    const last = this.items.pop()!;
    this.positions.delete(key);
    if (at < this.items.length) {
      this.items[at] = last;
      this.positions.set(keyOf(last), at);
    }
    return removed;
  }
}

export const subscriberKey = <S>(entry: SubscriberEntry<S>): string => entry.clientId;
export const groupKey = <S>(entry: SharedGroupEntry<S>): string => entry.group;

export class TopicNode<S, R> {
  /** Literal levels; retained messages live only under these. */
  children: Map<string, TopicNode<S, R>> | undefined = undefined;
  plus: TopicNode<S, R> | undefined = undefined;
  hash: TopicNode<S, R> | undefined = undefined;
  subscribers: KeyedList<SubscriberEntry<S>> | undefined = undefined;
  /** Subscribers set aside (slow readers): kept, but not handed out by `match`. */
  muted: KeyedList<SubscriberEntry<S>> | undefined = undefined;
  /** Messages matched here while someone was muted: what each muted subscriber missed, by difference. */
  mutedMatches = 0;
  shared: KeyedList<SharedGroupEntry<S>> | undefined = undefined;
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

  isEmpty(): boolean {
    return (
      this.retained === undefined &&
      this.subscribers === undefined &&
      this.muted === undefined &&
      this.shared === undefined &&
      this.plus === undefined &&
      this.hash === undefined &&
      (this.children === undefined || this.children.size === 0)
    );
  }
}
