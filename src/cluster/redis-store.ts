import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Message } from '../broker/message.js';
import type {
  StoredDelivery,
  StoredSession,
  StoredSessionState,
  StoredState,
  StoredSubscription,
  StoredWill,
} from '../broker/storage.js';
import type { ClaimedSession, ClusterStore } from './backend.js';
import { decodeSessionHash, decodeWill, encodeDelivery, encodeRecord, isNodeLocalTopic } from './codec.js';
import { type Arg, withoutSuperseded } from './commit-retry.js';
import { FrameBatch } from './frames.js';
import { decodeMessage, encodeMessage } from './message-codec.js';
import { PendingClaims } from './pending-claims.js';
import { appendOnly } from './redis-appends.js';

/** The connection with the backend's scripts defined on it (see `redis-scripts.ts`). */
export interface ScriptedRedis extends Redis {
  starlingCommit(args: (string | Buffer)[]): Promise<string[]>;
  starlingClaimBuffer(args: string[]): Promise<unknown[]>;
}

/** Copies of inbox appends go ahead over the links only while fewer commits than this await their answer. */
const EARLY_UNANSWERED = 16;

/**
 * The session store of a cluster on Redis. Every change is queued and goes out at the end of the turn as one
 * script run (`COMMIT_SCRIPT`) together with the turn's inbox appends, route changes and inbox checkpoint,
 * so an acknowledgement released after `commit` means Redis holds the message's state and its copies for
 * other nodes. Session writes carry the take-over epoch this node holds the session at; Redis skips those of
 * a node that no longer owns the session (and hands a skipped delivery to the new owner).
 */
export class RedisSessionStore implements ClusterStore {
  readonly name = 'redis';
  /** Whether the engine holds a session for this client id now (a release is then moot). */
  isHeld: (clientId: string) => boolean = () => false;
  /** Writes Redis skipped: sessions this node no longer owns, inboxes of nodes gone. */
  onSkipped: (clientIds: string[], nodesGone: string[]) => void = () => {};
  /** Set by the node: sends a copy of an inbox append ahead of it (its direct link); false when it cannot. */
  sendEarly: (node: string, stamp: string, previous: string, batch: Buffer) => boolean = () => false;
  /** Wills of unstored sessions this node held before a restart, found by `open`. */
  readonly loadedWills: { clientId: string; will: StoredWill }[] = [];

  private ops: Arg[] = [];
  private readonly inbox = new Map<string, FrameBatch>();
  /** The stamp of this process's last append to each node's inbox. */
  private readonly lastStamps = new Map<string, string>();
  private readonly releases = new Map<string, number>();
  /** Claims of connecting clients whose result the broker has not taken yet, by client id. */
  private readonly claiming = new Map<string, PendingClaims>();
  private checkpointId: string | undefined;
  /**
   * This process's inbox appends are stamped `incarnation.batch`, its hand-overs `incarnation.h<count>` (or,
   * made by the commit script, `incarnation.q<seq>`), so a reader can drop a resent copy.
   */
  private readonly incarnation = randomBytes(4).toString('hex');
  private handOffs = 0;
  /**
   * What refused commits send again (see `commit-retry.ts`), by batch number: the next commit sends them
   * first, oldest first, whatever order the refusals came back in.
   */
  private retry: Batch[] = [];
  /** Commits sent and not answered yet, oldest first. */
  private readonly unanswered: Batch[] = [];
  private batches = 0;
  private readonly epochs = new Map<string, number>();
  /** The latest commit sent, settled either way. */
  private inFlight: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly redis: () => ScriptedRedis,
    private readonly prefix: string,
    private readonly nodeId: string,
  ) {}

  /** The retained messages, and the sessions this node owned before (a restart under the same id). */
  async open(): Promise<StoredState> {
    const retained = await this.loadRetained();
    return { sessions: await this.loadOwnSessions(), retained };
  }

  /**
   * Take back what this node owns (at start, or after it was taken for dead and joined again): the stored
   * sessions are returned; the wills of clients connected without a stored session go to `loadedWills`.
   */
  async loadOwnSessions(): Promise<StoredSessionState[]> {
    const ids = await this.redis().smembers(`${this.prefix}own:${this.nodeId}`);
    const sessions: StoredSessionState[] = [];
    for (const clientId of ids) {
      const claimed = await this.claim(clientId, 'load', false, '');
      if (claimed?.state !== undefined) sessions.push(claimed.state);
      else if (claimed?.will !== undefined) this.loadedWills.push({ clientId, will: claimed.will });
      if (claimed !== undefined && claimed.state === undefined) this.release(clientId);
    }
    return sessions;
  }

  async loadRetained(): Promise<Message[]> {
    const hash = await this.redis().hgetallBuffer(`${this.prefix}retained`);
    return Object.values(hash).map((blob) => decodeMessage(blob).message);
  }

  async claimSession(clientId: string, cleanStart: boolean): Promise<StoredSessionState | undefined> {
    // While Redis is away no session can be taken over safely: the CONNECT is refused (0x88) at once
    // rather than left waiting; clients already connected go on.
    if (this.redis().status !== 'ready') throw new Error('the cluster backend is unavailable');
    // A release still waiting for the turn's commit is moot: the client is back.
    this.releases.delete(clientId);
    let pending = this.claiming.get(clientId);
    if (pending === undefined) {
      pending = new PendingClaims((done) => {
        if (this.claiming.get(clientId) === done) this.claiming.delete(clientId);
      });
      this.claiming.set(clientId, pending);
    }
    pending.add();
    const claimed = this.claim(clientId, 'connect', cleanStart, '');
    // A refused claim leaves nothing for the broker to take.
    claimed.catch(() => pending.settle());
    return claimed.then((c) => c?.state);
  }

  claimInFlight(clientId: string): Promise<void> | undefined {
    return this.claiming.get(clientId)?.settled;
  }

  claimSettled(clientId: string, held: boolean): void {
    this.claiming.get(clientId)?.settle();
    if (!held && !this.isHeld(clientId)) this.release(clientId);
  }

  /**
   * Take a session over (see `CLAIM_SCRIPT`). Undefined when nothing was taken, or when this node already
   * owned it (its own copy is the session); otherwise what was stored.
   */
  async claim(
    clientId: string,
    mode: 'connect' | 'load' | 'adopt',
    clean: boolean,
    dead: string,
  ): Promise<ClaimedSession | undefined> {
    const reply = await this.redis().starlingClaimBuffer([
      this.prefix,
      this.nodeId,
      clientId,
      mode,
      clean ? '1' : '0',
      dead,
    ]);
    const epoch = Number(reply[0]);
    if (epoch === 0) return undefined;
    this.epochs.set(clientId, epoch);
    const previous = String(reply[1]);
    if (mode === 'connect' && previous === this.nodeId) return undefined;
    const fields = (reply[2] ?? []) as Buffer[];
    const willBlob = reply[3] as Buffer | undefined;
    const will =
      willBlob === undefined || willBlob.length === 0 ? undefined : decodeWill(willBlob.toString());
    return { clientId, state: decodeSessionHash(fields), will };
  }

  async reclaimLost(clientIds: readonly string[]): Promise<string[]> {
    if (clientIds.length === 0) return [];
    const owners = await this.redis().mget(clientIds.map((id) => `${this.prefix}o:${id}`));
    const lost = clientIds.filter((_, i) => owners[i] === null);
    for (const clientId of lost) await this.claim(clientId, 'connect', false, '');
    return lost;
  }

  epochOf(clientId: string): number {
    return this.epochs.get(clientId) ?? 0;
  }

  lost(clientId: string): void {
    this.epochs.delete(clientId);
    this.releases.delete(clientId);
  }

  saveSession(session: StoredSession): void {
    this.sessionOp('S', session.clientId, encodeRecord(session));
  }

  deleteSession(clientId: string): void {
    this.sessionOp('D', clientId);
  }

  saveSubscription(clientId: string, subscription: StoredSubscription): void {
    this.sessionOp('B', clientId, subscription.key, encodeRecord(subscription));
  }

  deleteSubscription(clientId: string, key: string): void {
    this.sessionOp('b', clientId, key);
  }

  saveDelivery(clientId: string, delivery: StoredDelivery): void {
    this.sessionOp(
      'Q',
      clientId,
      String(delivery.seq),
      encodeDelivery(delivery),
      `${delivery.state} ${delivery.packetId}`,
    );
  }

  updateDelivery(clientId: string, seq: number, packetId: number, state: 'publish' | 'pubrel'): void {
    this.sessionOp('U', clientId, String(seq), `${state} ${packetId}`);
  }

  deleteDelivery(clientId: string, seq: number): void {
    this.sessionOp('q', clientId, String(seq));
  }

  addInboundQos2(clientId: string, packetId: number): void {
    this.sessionOp('I', clientId, String(packetId));
  }

  deleteInboundQos2(clientId: string, packetId: number): void {
    this.sessionOp('i', clientId, String(packetId));
  }

  setRetained(topic: string, message: Message | undefined): void {
    if (isNodeLocalTopic(topic)) return;
    if (message === undefined) this.ops.push('r', topic);
    else this.ops.push('R', topic, encodeMessage(message));
  }

  setWill(clientId: string, will: StoredWill | undefined): void {
    this.sessionOp('W', clientId, will === undefined ? '' : encodeRecord(will));
  }

  release(clientId: string): void {
    const epoch = this.epochs.get(clientId);
    if (epoch !== undefined) this.releases.set(clientId, epoch);
  }

  inboxFrames(node: string): FrameBatch {
    let batch = this.inbox.get(node);
    if (batch === undefined) {
      batch = new FrameBatch();
      this.inbox.set(node, batch);
    }
    return batch;
  }

  handOff(node: string, clientId: string, delivery: Buffer): void {
    this.ops.push('H', node, clientId, delivery, `${this.incarnation}.h${++this.handOffs}`);
  }

  addRoute(key: string): void {
    this.ops.push('A', key);
  }

  removeRoute(key: string): void {
    this.ops.push('a', key);
  }

  checkpoint(id: string): void {
    this.checkpointId = id;
  }

  commit(): Promise<void> | undefined {
    // Only inbox appends and the checkpoint (no session, retained, route or ownership change, no retry):
    // plain commands, not the script (see `appendOnly`).
    const plain = this.retry.length === 0 && this.ops.length === 0 && this.releases.size === 0;
    const taken = this.takeBatch();
    if (taken === undefined) return undefined;
    const { args, parts } = taken;
    const sent = plain
      ? appendOnly(this.redis(), this.prefix, this.nodeId, args)
      : this.redis().starlingCommit([this.prefix, this.nodeId, this.incarnation, ...args]);
    this.unanswered.push(...parts);
    const run = sent.then(
      (skipped) => {
        this.answered(parts);
        if (skipped.length === 0) return;
        const clients = skipped.filter((s) => !s.startsWith('!'));
        const nodes = skipped.filter((s) => s.startsWith('!')).map((s) => s.slice(1));
        this.onSkipped(clients, nodes);
      },
      (err: unknown) => {
        // Kept for the next commit (the engine retries after a failure), without what later batches redo.
        this.answered(parts);
        for (const part of parts) {
          // Changes made after this part's, sent meanwhile (a retried older part may ride in a later commit).
          const later = this.unanswered.filter((b) => b.n > part.n).map((b) => b.args);
          this.retry.push({ n: part.n, args: withoutSuperseded(part.args, later) });
        }
        this.retry.sort((x, y) => x.n - y.n);
        throw err;
      },
    );
    this.inFlight = run.catch(() => undefined);
    return run;
  }

  /** These batches were answered (replies come in the order commits were sent). */
  private answered(parts: readonly Batch[]): void {
    this.unanswered.splice(0, parts.length);
  }

  async close(): Promise<void> {
    await this.inFlight;
    const last = this.commit();
    if (last !== undefined) await last.catch(() => undefined);
  }

  private sessionOp(op: string, clientId: string, ...rest: Arg[]): void {
    this.ops.push(op, clientId, String(this.epochs.get(clientId) ?? 0));
    for (const arg of rest) this.ops.push(arg);
  }

  /**
   * What refused commits send again, then everything queued since the last commit: the commit script's
   * arguments, and the numbered batches they are made of; undefined when nothing.
   */
  private takeBatch(): { args: Arg[]; parts: Batch[] } | undefined {
    const parts = this.retry;
    this.retry = [];
    const args = this.ops;
    this.ops = [];
    // The batch number stamps its appends (one per node inbox, so one stamp per inbox).
    const n = this.batches + 1;
    // Copies go ahead only while commits go through: a copy whose append is late (Redis away, a commit
    // refused) would be remembered by its receiver for that long.
    const early =
      parts.length === 0 && this.unanswered.length < EARLY_UNANSWERED && this.redis().status === 'ready';
    for (const [node, batch] of this.inbox) {
      if (batch.empty) {
        this.inbox.delete(node);
        continue;
      }
      const stamp = `${this.incarnation}.${n}`;
      const frames = batch.take();
      args.push('X', node, stamp, frames);
      if (early) this.sendEarly(node, stamp, this.lastStamps.get(node) ?? '', frames);
      this.lastStamps.set(node, stamp);
    }
    for (const [clientId, epoch] of this.releases) {
      if (this.isHeld(clientId)) continue;
      args.push('L', clientId, String(epoch));
      if (this.epochs.get(clientId) === epoch) this.epochs.delete(clientId);
    }
    this.releases.clear();
    if (this.checkpointId !== undefined) args.push('C', this.checkpointId);
    this.checkpointId = undefined;
    if (args.length > 0) {
      this.batches = n;
      parts.push({ n, args });
    }
    if (parts.length === 0) return undefined;
    return { args: parts.length === 1 ? (parts[0] as Batch).args : parts.flatMap((b) => b.args), parts };
  }
}

/** The changes one commit took, numbered in the order commits took them. */
interface Batch {
  readonly n: number;
  readonly args: Arg[];
}
