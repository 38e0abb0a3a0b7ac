/**
 * The SQLite store's inbound QoS 2 packet ids (received, PUBREL not yet): each is a row of its own, added and
 * deleted through the store's changes (`sqlite-changes.ts`). An id released before the tables are written
 * is dropped from the changes rather than deleted (and, when the log has its add already, the log is told).
 */
import type { ChangeArray } from './sqlite-changes.js';
import { OP } from './sqlite-ops.js';

export class InboundIds {
  /** Each session's ids: packet id -> row id. */
  private readonly bySession = new Map<string, Map<number, number>>();
  private nextId = 1;
  /** Ids added in the changes, not in the tables yet: row id -> position of the opcode. */
  private readonly pending = new Map<number, number>();

  /** `logged()`: the position up to which the changes are in the log. */
  constructor(
    private readonly changes: ChangeArray,
    private readonly logged: () => number,
  ) {}

  /** What the tables held at open. */
  load(bySession: ReadonlyMap<string, Map<number, number>>, maxId: number): void {
    for (const [clientId, ids] of bySession) this.bySession.set(clientId, ids);
    this.nextId = maxId + 1;
  }

  add(clientId: string, packetId: number): void {
    let ids = this.bySession.get(clientId);
    if (ids === undefined) {
      ids = new Map();
      this.bySession.set(clientId, ids);
    }
    if (ids.has(packetId)) return;
    const id = this.nextId++;
    ids.set(packetId, id);
    this.pending.set(id, this.changes.next);
    this.changes.put2(OP.addInbound, id);
    this.changes.put2(clientId, packetId);
  }

  delete(clientId: string, packetId: number): void {
    const ids = this.bySession.get(clientId);
    const id = ids?.get(packetId);
    if (ids === undefined || id === undefined) return;
    ids.delete(packetId);
    if (ids.size === 0) this.bySession.delete(clientId);
    this.release(id);
  }

  /** The session went: all of its ids. */
  deleteSession(clientId: string): void {
    const ids = this.bySession.get(clientId);
    if (ids === undefined) return;
    for (const id of ids.values()) this.release(id);
    this.bySession.delete(clientId);
  }

  /** Changes before `position` are in the tables: their ids can no longer be dropped, only deleted. */
  inTables(position: number): void {
    for (const [id, at] of this.pending) if (at < position) this.pending.delete(id);
  }

  private release(id: number): void {
    const at = this.pending.get(id);
    if (at !== undefined) {
      this.pending.delete(id);
      this.changes.skip(at, OP.skip3, 3);
      if (at < this.logged()) this.changes.put2(OP.logDeleteInbound, id);
      return;
    }
    this.changes.put2(OP.deleteInbound, id);
  }
}
