/**
 * Client-side subscriptions: topic filter matching and the `Subscription` handle returned by
 * `client.subscribe()`, an async iterable of the messages its filters match.
 */
import { AsyncQueue } from './async-queue.js';
import type { Message, SubscribeOptions } from './types.js';

const SLASH = 0x2f;
const PLUS = 0x2b;
const HASH = 0x23;
const DOLLAR = 0x24;

/** The filter part of a shared subscription `$share/{group}/{filter}`, or the filter itself. */
export function stripSharePrefix(filter: string): string {
  if (!filter.startsWith('$share/')) return filter;
  const slash = filter.indexOf('/', 7);
  return slash < 0 ? filter : filter.slice(slash + 1);
}

/**
 * True when `topic` matches the (valid, non-shared) topic filter `filter` (spec 4.7). Walks both strings
 * level by level without splitting them, so that matching a message allocates nothing.
 */
export function topicMatches(filter: string, topic: string): boolean {
  const fl = filter.length;
  const tl = topic.length;
  // Wildcards at the first level do not match topics beginning with '$' [MQTT-4.7.2-1].
  const first = filter.charCodeAt(0);
  if (topic.charCodeAt(0) === DOLLAR && (first === PLUS || first === HASH)) return false;
  let fi = 0;
  let ti = 0;
  for (;;) {
    const fc = filter.charCodeAt(fi);
    if (fc === HASH) return true;
    if (fc === PLUS) {
      fi++;
      while (ti < tl && topic.charCodeAt(ti) !== SLASH) ti++;
    } else {
      while (fi < fl && ti < tl) {
        const c = filter.charCodeAt(fi);
        if (c === SLASH) break;
        if (c !== topic.charCodeAt(ti)) return false;
        fi++;
        ti++;
      }
      const filterLevelEnds = fi >= fl || filter.charCodeAt(fi) === SLASH;
      const topicLevelEnds = ti >= tl || topic.charCodeAt(ti) === SLASH;
      if (!filterLevelEnds || !topicLevelEnds) return false;
    }
    const filterDone = fi >= fl;
    const topicDone = ti >= tl;
    if (filterDone) return topicDone;
    // '#' also matches the parent level: "a/#" matches "a".
    if (topicDone) return fi + 2 === fl && filter.charCodeAt(fi + 1) === HASH;
    fi++;
    ti++;
  }
}

/** What a subscription needs from its client. */
export interface SubscriptionOwner {
  unsubscribe(subscription: Subscription): Promise<void>;
}

/** Default bound of a subscription's message buffer. */
export const DEFAULT_MAX_BUFFERED = 10_000;

/**
 * An active subscription: an `AsyncIterable<Message>` of the messages matching its filters, in arrival
 * order. Iterate it once (one consumer). Messages the consumer has not read yet are buffered up to
 * `maxBuffered` (oldest dropped beyond, counted in `dropped`). Breaking out of `for await` unsubscribes.
 */
export class Subscription implements AsyncIterable<Message> {
  /** The topic filters of this subscription, as given. */
  readonly filters: readonly string[];
  /** SUBACK reason codes, one per filter (the granted QoS on success). */
  granted: readonly number[] = [];
  /** The options the filters were subscribed with (used again to resubscribe after a session loss). */
  readonly options: Readonly<SubscribeOptions>;
  private readonly matchFilters: readonly string[];
  private readonly queue: AsyncQueue<Message>;
  private active = true;

  constructor(
    filters: readonly string[],
    options: SubscribeOptions,
    private readonly owner: SubscriptionOwner,
  ) {
    this.filters = filters;
    this.options = options;
    this.matchFilters = filters.map(stripSharePrefix);
    this.queue = new AsyncQueue<Message>(options.maxBuffered ?? DEFAULT_MAX_BUFFERED, () => {
      // A consumer that stopped iterating must not leave a subscription buffering forever.
      this.unsubscribe().catch(() => undefined);
    });
  }

  /** False once unsubscribed or the client closed. */
  get isActive(): boolean {
    return this.active;
  }

  /** Messages dropped because the consumer fell more than `maxBuffered` behind. */
  get dropped(): number {
    return this.queue.dropped;
  }

  /** True when one of the filters matches `topic`. */
  matches(topic: string): boolean {
    for (const filter of this.matchFilters) if (topicMatches(filter, topic)) return true;
    return false;
  }

  /** Sends UNSUBSCRIBE for the filters no other active subscription uses; ends the iteration. */
  async unsubscribe(): Promise<void> {
    if (!this.active) return;
    this.close();
    await this.owner.unsubscribe(this);
  }

  [Symbol.asyncIterator](): AsyncIterator<Message> {
    return this.queue;
  }

  /** @internal Delivers a message to the iterator. */
  push(message: Message): void {
    this.queue.push(message);
  }

  /** @internal Stops routing messages here; the consumer reads what is buffered, then the iteration ends. */
  close(): void {
    this.active = false;
    this.queue.end();
  }
}
