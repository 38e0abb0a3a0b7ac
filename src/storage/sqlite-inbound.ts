/**
 * The SQLite store's inbound QoS 2 packet ids (received, PUBREL not yet): each is a row of its own, added and
 * deleted through the store's changes (`sqlite-changes.ts`). An id released before the tables are written
 * is dropped from the changes rather than deleted (and, when the log has its add already, the log is told).
 */
import type { ChangeArray } from './sqlite-changes.js';
import { OP } from './sqlite-ops.js';
import type { Tracked, TrackedInbound } from './sqlite-tracked.js';

/** Where the store's changes stand: up to which position they are in the log, and in the tables. */
export interface ChangesProgress {
  readonly logged: number;
  readonly tablesUpTo: number;
}

export class InboundIds {
  private nextId = 1;

  constructor(
    private readonly changes: ChangeArray,
    private readonly tracked: Tracked,
    private readonly progress: ChangesProgress,
  ) {}

  /** The largest row id in the tables at open. */
  load(maxId: number): void {
    this.nextId = maxId + 1;
  }

  add(clientId: string, packetId: number): void {
    const tracked = this.tracked;
    const session = tracked.session(clientId);
    if (tracked.findInbound(session, packetId) !== undefined) return;
    const id = this.nextId++;
    tracked.addInbound(session, id, packetId, this.changes.next);
    this.changes.put2(OP.addInbound, id);
    this.changes.put2(clientId, packetId);
  }

  delete(clientId: string, packetId: number): void {
    const session = this.tracked.sessions.get(clientId);
    const row = session === undefined ? undefined : this.tracked.findInbound(session, packetId);
    if (row !== undefined) this.release(row);
  }

  /** The session went: all of its ids. */
  deleteSession(clientId: string): void {
    const session = this.tracked.sessions.get(clientId);
    if (session === undefined) return;
    for (const row of session.inbound.items()) this.release(row);
  }

  private release(row: TrackedInbound): void {
    this.tracked.removeInbound(row);
    const at = row.at;
    if (at >= this.progress.tablesUpTo) {
      this.changes.skip(at, OP.skip3, 3);
      if (at < this.progress.logged) this.changes.put2(OP.logDeleteInbound, row.id);
      return;
    }
    this.changes.put2(OP.deleteInbound, row.id);
  }
}
