import type { DurableState } from './durable-state.js';
import type { Router } from './routing.js';
import type { Session, SessionSubscription } from './session.js';

/** Adding and removing a session's subscriptions: the session's map, the router, the durable state. */
export class Subscriptions {
  constructor(
    private readonly router: Router,
    private readonly durable: DurableState,
  ) {}

  /** Store a subscription; one with the same filter is replaced [MQTT-3.8.4-3]. Returns whether one existed. */
  add(record: SessionSubscription): boolean {
    const session = record.session;
    const existed = session.subscriptions.has(record.key);
    session.setSubscription(record);
    this.router.add(record);
    this.durable.subscriptionAdded(record);
    return existed;
  }

  remove(record: SessionSubscription): void {
    record.session.deleteSubscription(record.key);
    this.router.remove(record);
    this.durable.subscriptionRemoved(record);
  }

  /** A session ended: every subscription leaves the router (the store drops them with the session). */
  removeAll(session: Session): void {
    for (const record of session.subscriptions.values()) {
      this.router.remove(record);
      this.durable.subscriptionRemoved(record, true);
    }
  }

  /** The session left this node (a cluster moved it): its subscriptions leave the router, unreported. */
  forgetAll(session: Session): void {
    for (const record of session.subscriptions.values()) this.router.remove(record);
  }

  /** Put back a subscription read from the store, without reporting it as a change. */
  restore(record: SessionSubscription): void {
    record.session.setSubscription(record);
    this.router.add(record);
  }
}
