import type { Message } from './message.js';
import type { SessionSubscription } from './session.js';

/**
 * The routing seam: where a message meets the subscriptions. The engine's own implementation is the local
 * topic index (`LocalRouter`); a cluster wraps it to keep the route table of other nodes and forward a
 * message only to the nodes with a matching subscriber.
 */
export interface Router {
  /** A subscription was stored (or replaced one with the same filter). */
  add(record: SessionSubscription): void;
  remove(record: SessionSubscription): void;
  /**
   * Deliver a message to every matching subscription. `origin` is `local` for messages published on this
   * broker (forwarded to other nodes by a cluster router) and `remote` for messages another node sent here.
   * Returns the number of sessions it was delivered or queued to on this broker.
   */
  route(message: Message, origin: 'local' | 'remote'): number;
}

/**
 * What a message another node routed here is for: this node's non-shared subscribers, the shared groups the
 * publishing node chose this node for (one member each), and possibly only some sessions (the sessions
 * taken over from a node that died, whose inbox is being drained).
 */
export interface RemoteTarget {
  /** Deliver to the matching non-shared subscriptions. */
  readonly subscribers: boolean;
  /** Shared groups (`group`, `filter` without the `$share/group/` prefix) to deliver to one member of. */
  readonly shared: readonly { readonly group: string; readonly filter: string }[];
  /** Only these client ids; undefined: every session. */
  readonly sessions?: ReadonlySet<string> | undefined;
}

/** The retained messages, indexed by topic so a wildcard subscription walks only what matches. */
export interface RetainedMessages {
  readonly count: number;
  /** Store, replace or (undefined) delete. */
  set(topic: string, message: Message | undefined): void;
  get(topic: string): Message | undefined;
  /** Visit every retained message matching a filter. */
  match(filter: string, visit: (topic: string, message: Message) => void): void;
}
