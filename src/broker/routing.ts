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

/** The retained messages, indexed by topic so a wildcard subscription walks only what matches. */
export interface RetainedMessages {
  readonly count: number;
  /** Store, replace or (undefined) delete. */
  set(topic: string, message: Message | undefined): void;
  get(topic: string): Message | undefined;
  /** Visit every retained message matching a filter. */
  match(filter: string, visit: (topic: string, message: Message) => void): void;
}
