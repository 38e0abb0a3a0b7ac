/**
 * What the SQLite store knows of the rows it keeps per session, as records rather than map entries: each
 * delivery is one record, found by its key (seq, unique in the broker) and linked into its session's list;
 * a shared message row and an inbound QoS 2 id are one record each. A record holds the position of the
 * change that saved its row (`at`): while that change is not in the tables yet, undoing it drops the change
 * (`sqlite.ts`) instead of writing a deletion. One lookup finds everything an acknowledgement needs.
 */

/** The `at` of a row read from the tables at open. */
export const IN_TABLES = -1;

/** A message row shared by the deliveries of one message (its first delivery carries it instead). */
export class TrackedMessage {
  constructor(
    readonly id: number,
    /** Deliveries using the row. */
    public refs: number,
    public at: number,
  ) {}
}

/** A delivery saved and not deleted yet. */
export class TrackedDelivery {
  prev: TrackedDelivery | undefined = undefined;
  next: TrackedDelivery | undefined = undefined;

  constructor(
    readonly seq: number,
    readonly session: TrackedSession,
    /** Its message row; undefined when the delivery carries its message. */
    readonly message: TrackedMessage | undefined,
    public at: number,
  ) {}
}

/** An inbound QoS 2 packet id awaiting PUBREL: its row. */
export class TrackedInbound {
  constructor(
    readonly id: number,
    public at: number,
  ) {}
}

/**
 * A session's rows. Kept from its first delivery or inbound id until the session is deleted, so a session
 * that empties and fills again with every message (one in flight) allocates nothing for it.
 */
export class TrackedSession {
  /** Its deliveries, most recent first. */
  head: TrackedDelivery | undefined = undefined;
  /** Its inbound QoS 2 ids: packet id -> row. */
  inbound: Map<number, TrackedInbound> | undefined = undefined;

  constructor(readonly clientId: string) {}

  link(d: TrackedDelivery): void {
    d.next = this.head;
    if (this.head !== undefined) this.head.prev = d;
    this.head = d;
  }

  unlink(d: TrackedDelivery): void {
    if (d.prev !== undefined) d.prev.next = d.next;
    else this.head = d.next;
    if (d.next !== undefined) d.next.prev = d.prev;
    d.prev = undefined;
    d.next = undefined;
  }

  /** Its deliveries, safe to unlink while iterating. */
  *deliveries(): Generator<TrackedDelivery> {
    for (let d = this.head; d !== undefined; ) {
      const next = d.next;
      yield d;
      d = next;
    }
  }
}

/** The records of a store: sessions by client id, deliveries by key. */
export class Tracked {
  readonly sessions = new Map<string, TrackedSession>();
  readonly deliveries = new Map<number, TrackedDelivery>();

  session(clientId: string): TrackedSession {
    let session = this.sessions.get(clientId);
    if (session === undefined) {
      session = new TrackedSession(clientId);
      this.sessions.set(clientId, session);
    }
    return session;
  }

  addDelivery(
    clientId: string,
    seq: number,
    message: TrackedMessage | undefined,
    at: number,
  ): TrackedDelivery {
    const session = this.session(clientId);
    const d = new TrackedDelivery(seq, session, message, at);
    session.link(d);
    this.deliveries.set(seq, d);
    return d;
  }

  removeDelivery(d: TrackedDelivery): void {
    this.deliveries.delete(d.seq);
    d.session.unlink(d);
  }
}
