/**
 * What the SQLite store knows of the rows it keeps per session, as records rather than map entries: each
 * delivery is one record, found by its key (seq, unique in the broker) and linked into its session's list;
 * an inbound QoS 2 id likewise, by its session's number and packet id; a shared message row is one record.
 * A record holds the position of the change that saved its row (`at`): while that change is not in the
 * tables yet, undoing it drops the change (`sqlite.ts`) instead of writing a deletion. One lookup finds
 * everything an acknowledgement needs, in tables that allocate nothing as keys come and go (`int-table.ts`).
 */
import { IntTable } from './int-table.js';

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

/** A record in its session's list. */
abstract class Linked<T> {
  prev: T | undefined = undefined;
  next: T | undefined = undefined;
}

/** A session's records of one kind, most recent first: linked through the records themselves. */
export class RecordList<T extends Linked<T>> {
  private head: T | undefined = undefined;

  link(item: T): void {
    item.next = this.head;
    if (this.head !== undefined) this.head.prev = item;
    this.head = item;
  }

  unlink(item: T): void {
    if (item.prev !== undefined) item.prev.next = item.next;
    else this.head = item.next;
    if (item.next !== undefined) item.next.prev = item.prev;
    item.prev = undefined;
    item.next = undefined;
  }

  /** Every record, safe to unlink while iterating. */
  *items(): Generator<T> {
    for (let item = this.head; item !== undefined; ) {
      const next: T | undefined = item.next;
      yield item;
      item = next;
    }
  }
}

/** A delivery saved and not deleted yet. */
export class TrackedDelivery extends Linked<TrackedDelivery> {
  constructor(
    readonly seq: number,
    readonly session: TrackedSession,
    /** Its message row; undefined when the delivery carries its message. */
    readonly message: TrackedMessage | undefined,
    public at: number,
  ) {
    super();
  }
}

/** An inbound QoS 2 packet id awaiting PUBREL: its row. */
export class TrackedInbound extends Linked<TrackedInbound> {
  constructor(
    /** The row's id. */
    readonly id: number,
    readonly packetId: number,
    readonly session: TrackedSession,
    public at: number,
  ) {
    super();
  }
}

/**
 * A session's rows. Kept from its first delivery or inbound id until the session is deleted, so a session
 * that empties and fills again with every message (one in flight) allocates nothing for it.
 */
export class TrackedSession {
  readonly deliveries = new RecordList<TrackedDelivery>();
  readonly inbound = new RecordList<TrackedInbound>();

  constructor(
    readonly clientId: string,
    /** Unique among the store's sessions: its inbound ids' keys are made of it. */
    readonly number: number,
  ) {}
}

/** Packet ids are below this: an inbound id's key is its session's number times it, plus the packet id. */
const PACKET_IDS = 65536;

/** The records of a store: sessions by client id, deliveries by key, inbound ids by session and packet id. */
export class Tracked {
  readonly sessions = new Map<string, TrackedSession>();
  readonly deliveries = new IntTable<TrackedDelivery>();
  private readonly inbound = new IntTable<TrackedInbound>();
  private nextSession = 0;

  session(clientId: string): TrackedSession {
    let session = this.sessions.get(clientId);
    if (session === undefined) {
      session = new TrackedSession(clientId, this.nextSession++);
      this.sessions.set(clientId, session);
    }
    return session;
  }

  findInbound(session: TrackedSession, packetId: number): TrackedInbound | undefined {
    return this.inbound.get(session.number * PACKET_IDS + packetId);
  }

  addInbound(session: TrackedSession, id: number, packetId: number, at: number): void {
    const r = new TrackedInbound(id, packetId, session, at);
    session.inbound.link(r);
    this.inbound.set(session.number * PACKET_IDS + packetId, r);
  }

  removeInbound(r: TrackedInbound): void {
    this.inbound.delete(r.session.number * PACKET_IDS + r.packetId);
    r.session.inbound.unlink(r);
  }

  addDelivery(
    clientId: string,
    seq: number,
    message: TrackedMessage | undefined,
    at: number,
  ): TrackedDelivery {
    const session = this.session(clientId);
    const d = new TrackedDelivery(seq, session, message, at);
    session.deliveries.link(d);
    this.deliveries.set(seq, d);
    return d;
  }

  removeDelivery(d: TrackedDelivery): void {
    this.deliveries.delete(d.seq);
    d.session.deliveries.unlink(d);
  }
}
