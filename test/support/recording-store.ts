/**
 * A SessionStore that keeps its "disk" in memory: changes are batched and applied on commit, exactly as a
 * database store would, and a commit can be made to wait or to fail. Two brokers given stores on the same
 * `disk` see each other's committed state, as a restart on the same data directory would.
 */
import type { Message } from '../../src/broker/message.js';
import type {
  SessionStore,
  StoredDelivery,
  StoredSession,
  StoredSessionState,
  StoredState,
  StoredSubscription,
} from '../../src/broker/storage.js';

interface DiskSession {
  session: StoredSession;
  subscriptions: Map<string, StoredSubscription>;
  deliveries: Map<number, StoredDelivery>;
  inboundQos2: Set<number>;
}

/** The committed state. */
export class Disk {
  readonly sessions = new Map<string, DiskSession>();
  readonly retained = new Map<string, Message>();
  commits = 0;
}

export type CommitMode = 'sync' | 'async' | 'fail';

export class RecordingStore implements SessionStore {
  readonly name = 'recording';
  /** Every call, in order, as `method clientId/topic detail`. */
  readonly calls: string[] = [];
  mode: CommitMode = 'sync';
  private batch: ((disk: Disk) => void)[] = [];
  private releases: (() => void)[] = [];
  opened = false;

  constructor(readonly disk: Disk = new Disk()) {}

  async open(): Promise<StoredState> {
    this.opened = true;
    const sessions: StoredSessionState[] = [...this.disk.sessions.values()].map((s) => ({
      session: s.session,
      subscriptions: [...s.subscriptions.values()],
      deliveries: [...s.deliveries.values()].sort((a, b) => a.seq - b.seq),
      inboundQos2: [...s.inboundQos2],
    }));
    return { sessions, retained: [...this.disk.retained.values()] };
  }

  saveSession(session: StoredSession): void {
    this.record(`saveSession ${session.clientId} connected=${session.connected}`, (disk) => {
      const existing = disk.sessions.get(session.clientId);
      if (existing !== undefined) existing.session = session;
      else
        disk.sessions.set(session.clientId, {
          session,
          subscriptions: new Map(),
          deliveries: new Map(),
          inboundQos2: new Set(),
        });
    });
  }

  deleteSession(clientId: string): void {
    this.record(`deleteSession ${clientId}`, (disk) => disk.sessions.delete(clientId));
  }

  saveSubscription(clientId: string, subscription: StoredSubscription): void {
    this.record(`saveSubscription ${clientId} ${subscription.key}`, (disk) =>
      disk.sessions.get(clientId)?.subscriptions.set(subscription.key, subscription),
    );
  }

  deleteSubscription(clientId: string, key: string): void {
    this.record(`deleteSubscription ${clientId} ${key}`, (disk) =>
      disk.sessions.get(clientId)?.subscriptions.delete(key),
    );
  }

  saveDelivery(clientId: string, delivery: StoredDelivery): void {
    this.record(`saveDelivery ${clientId} ${delivery.seq} ${delivery.state}`, (disk) =>
      disk.sessions.get(clientId)?.deliveries.set(delivery.seq, delivery),
    );
  }

  updateDelivery(clientId: string, seq: number, packetId: number, state: 'publish' | 'pubrel'): void {
    this.record(`updateDelivery ${clientId} ${seq} ${state}`, (disk) => {
      const deliveries = disk.sessions.get(clientId)?.deliveries;
      const old = deliveries?.get(seq);
      if (deliveries !== undefined && old !== undefined) deliveries.set(seq, { ...old, packetId, state });
    });
  }

  deleteDelivery(clientId: string, seq: number): void {
    this.record(`deleteDelivery ${clientId} ${seq}`, (disk) =>
      disk.sessions.get(clientId)?.deliveries.delete(seq),
    );
  }

  addInboundQos2(clientId: string, packetId: number): void {
    this.record(`addInboundQos2 ${clientId} ${packetId}`, (disk) =>
      disk.sessions.get(clientId)?.inboundQos2.add(packetId),
    );
  }

  deleteInboundQos2(clientId: string, packetId: number): void {
    this.record(`deleteInboundQos2 ${clientId} ${packetId}`, (disk) =>
      disk.sessions.get(clientId)?.inboundQos2.delete(packetId),
    );
  }

  setRetained(topic: string, message: Message | undefined): void {
    this.record(`setRetained ${topic} ${message === undefined ? 'deleted' : 'set'}`, (disk) => {
      if (message === undefined) disk.retained.delete(topic);
      else disk.retained.set(topic, message);
    });
  }

  commit(): Promise<void> | undefined {
    if (this.mode === 'fail') throw new Error('disk full (test)');
    const batch = this.batch;
    this.batch = [];
    const apply = (): void => {
      for (const change of batch) change(this.disk);
      this.disk.commits++;
      this.calls.push('commit');
    };
    if (this.mode === 'sync') {
      apply();
      return undefined;
    }
    return new Promise((resolve) => {
      this.releases.push(() => {
        apply();
        resolve();
      });
    });
  }

  /** Let every commit waiting in `async` mode finish, in order. */
  releaseCommits(): number {
    const waiting = this.releases;
    this.releases = [];
    for (const release of waiting) release();
    return waiting.length;
  }

  get waitingCommits(): number {
    return this.releases.length;
  }

  async close(): Promise<void> {
    this.mode = 'sync';
    this.releaseCommits();
    this.commit();
  }

  private record(call: string, change: (disk: Disk) => void): void {
    this.calls.push(call);
    this.batch.push(change);
  }
}
