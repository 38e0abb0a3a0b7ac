import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Redis, RedisOptions } from 'ioredis';
import type { BrokerLogger } from '../broker/logger.js';
import type { Message } from '../broker/message.js';
import type { StoredSubscription } from '../broker/storage.js';
import {
  type ClaimedSession,
  type ClusterBackend,
  type ClusterEvents,
  ClusterUnavailableError,
  type InboxEntry,
  type InboxHandler,
  type NodeInfo,
  type NodeRecord,
  type RouteTableSnapshot,
} from './backend.js';
import { decodeSubscription } from './codec.js';
import { goneFromThisMachine } from './predecessor.js';
import { hangUp, listenToEvents, parseEntry, readInboxLoop, redactUrl, sleep } from './redis-channels.js';
import type { RedisClusterOptions } from './redis-options.js';
import {
  ADOPT_LOCK_SCRIPT,
  CLAIM_SCRIPT,
  COMMIT_SCRIPT,
  FORGET_NODE_SCRIPT,
  HEARTBEAT_SCRIPT,
  JOIN_SCRIPT,
} from './redis-scripts.js';
import { RedisSessionStore, type ScriptedRedis } from './redis-store.js';

/** Lock on a dead node while one node takes it over. */
const ADOPT_LOCK_MS = 30_000;

/**
 * The cluster backend on Redis 7: three connections (commands and commits; pub/sub events; the blocking
 * inbox read), the scripts of `redis-scripts.ts`, and a heartbeat. While Redis is away, ioredis queues
 * commands and resends them once it is back, so commits (and the acknowledgements waiting for them) wait
 * rather than fail.
 */
export class RedisBackend implements ClusterBackend {
  readonly nodeId: string;
  readonly location: string;
  readonly store: RedisSessionStore;
  readonly heartbeatMs: number;
  readonly nodeTimeoutMs: number;
  private readonly prefix: string;
  private readonly token: string;
  private readonly senderTag: Buffer;
  private cmd: ScriptedRedis | undefined;
  private sub: Redis | undefined;
  private reader: Redis | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private closing = false;
  private everReady = false;
  private events: ClusterEvents | undefined;
  /** The heartbeat was found taken: no more beats until the node has joined again. */
  private membershipLost = false;
  private readonly lastErrors = new Map<Redis, Error>();

  constructor(
    private readonly options: RedisClusterOptions,
    private readonly logger: () => BrokerLogger,
  ) {
    this.nodeId = options.nodeId;
    this.location = redactUrl(options.url);
    this.prefix = options.keyPrefix ?? 'starling:';
    this.heartbeatMs = options.heartbeatMs ?? 1000;
    this.nodeTimeoutMs = options.nodeTimeoutMs ?? 5000;
    this.token = options.instanceToken ?? randomBytes(8).toString('hex');
    if (!(this.heartbeatMs > 0) || !(this.nodeTimeoutMs > this.heartbeatMs))
      throw new RangeError('cluster: nodeTimeoutMs must be greater than heartbeatMs (both > 0)');
    if (this.nodeId.length === 0 || /[|\n]/.test(this.nodeId))
      throw new RangeError(`cluster: invalid node id '${this.nodeId}' (empty, or with '|' or a newline)`);
    this.senderTag = Buffer.from(`${this.nodeId}\n`);
    this.store = new RedisSessionStore(() => this.commands(), this.prefix, this.nodeId);
  }

  get available(): boolean {
    return this.cmd?.status === 'ready';
  }

  async connect(): Promise<void> {
    const cmd = this.open('commands') as ScriptedRedis;
    cmd.defineCommand('starlingCommit', { numberOfKeys: 0, lua: COMMIT_SCRIPT });
    cmd.defineCommand('starlingClaim', { numberOfKeys: 0, lua: CLAIM_SCRIPT });
    this.cmd = cmd;
    this.sub = this.open('events');
    this.reader = this.open('inbox');
    const connections = [cmd, this.sub, this.reader];
    // Every attempt settles before giving up, so no socket is left connecting behind the error.
    const results = await Promise.allSettled(connections.map((c) => c.connect()));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed !== undefined) {
      const cause =
        connections.map((c) => this.lastErrors.get(c)).find((e) => e !== undefined) ?? failed.reason;
      for (const c of connections) hangUp(c);
      throw new ClusterUnavailableError(this.location, cause);
    }
    this.everReady = true;
  }

  async join(events: ClusterEvents, info: () => NodeInfo): Promise<RouteTableSnapshot> {
    const cmd = this.commands();
    await this.register(info, this.nodeTimeoutMs + ADOPT_LOCK_MS);
    this.events = events;
    listenToEvents(this.sub as Redis, this.prefix, this.nodeId, events, this.logger);
    this.heartbeat = setInterval(() => this.beat(info), this.heartbeatMs);
    this.heartbeat.unref();
    cmd.on('ready', () => {
      if (this.closing) return;
      this.logger().info({ cluster: this.location }, 'cluster backend reachable again');
      // Beat at once: the other nodes, back too, must not take this one for dead.
      this.beat(info);
      events.reconnected();
    });
    return this.loadRoutes();
  }

  async rejoin(info: () => NodeInfo): Promise<void> {
    await this.register(info, Number.POSITIVE_INFINITY);
    this.membershipLost = false;
  }

  async linkSecret(): Promise<string> {
    const key = `${this.prefix}link-secret`;
    const cmd = this.commands();
    await cmd.set(key, randomBytes(16).toString('hex'), 'NX');
    const secret = await cmd.get(key);
    if (secret === null) throw new Error('cluster: the link secret vanished from Redis');
    return secret;
  }

  sendQos0(node: string, batch: Buffer): boolean {
    const cmd = this.cmd;
    if (cmd === undefined || cmd.status !== 'ready') return false;
    // `sender\n` then the frames.
    cmd.publish(`${this.prefix}q0:${node}`, Buffer.concat([this.senderTag, batch])).catch(() => undefined);
    return true;
  }

  readInbox(handler: InboxHandler): void {
    const reader = this.reader;
    if (reader === undefined) return;
    void (async () => {
      const checkpoint = await this.commands()
        .get(`${this.prefix}cp:${this.nodeId}`)
        .catch(() => null);
      await readInboxLoop(reader, `${this.prefix}in:${this.nodeId}`, checkpoint ?? '0-0', handler, {
        closing: () => this.closing,
        logger: this.logger,
      });
    })();
  }

  async nodes(): Promise<NodeRecord[]> {
    const cmd = this.commands();
    const registered = await cmd.hgetall(`${this.prefix}nodes`);
    const ids = Object.keys(registered);
    if (ids.length === 0) return [];
    const beats = await cmd.mget(ids.map((id) => `${this.prefix}hb:${id}`));
    return ids.map((id, i) => ({ id, alive: beats[i] !== null, info: parseInfo(registered[id]) }));
  }

  async lockDeadNode(dead: string): Promise<boolean> {
    const locked = await this.commands().eval(
      ADOPT_LOCK_SCRIPT,
      0,
      this.prefix,
      this.nodeId,
      dead,
      ADOPT_LOCK_MS,
    );
    return locked === 1;
  }

  async claimDeadSessions(dead: string): Promise<ClaimedSession[]> {
    const ids = await this.commands().smembers(`${this.prefix}own:${dead}`);
    const claimed: ClaimedSession[] = [];
    for (const clientId of ids) {
      const session = await this.store.claim(clientId, 'adopt', false, dead);
      if (session !== undefined) claimed.push(session);
    }
    return claimed;
  }

  async readDeadInbox(dead: string, after: string | undefined): Promise<InboxEntry[]> {
    const cmd = this.commands();
    const start = after ?? (await cmd.get(`${this.prefix}cp:${dead}`)) ?? '0-0';
    const reply = await cmd.xrangeBuffer(`${this.prefix}in:${dead}`, `(${start}`, '+');
    return reply.map(([id, fields]) => parseEntry(id.toString(), fields));
  }

  async ownedElsewhere(
    clientIds: readonly string[],
  ): Promise<{ clientId: string; owner: string; subscriptions: StoredSubscription[] }[]> {
    const cmd = this.commands();
    const out: { clientId: string; owner: string; subscriptions: StoredSubscription[] }[] = [];
    for (const clientId of clientIds) {
      const owner = (await cmd.get(`${this.prefix}o:${clientId}`))?.replace(/\|[^|]*$/, '');
      if (owner === undefined) continue;
      const fields = await cmd.hgetall(`${this.prefix}s:${clientId}`);
      const subscriptions = Object.entries(fields)
        .filter(([name]) => name.startsWith('sub:'))
        .map(([, value]) => decodeSubscription(value));
      out.push({ clientId, owner, subscriptions });
    }
    return out;
  }

  async forgetNode(dead: string): Promise<void> {
    await this.commands().eval(FORGET_NODE_SCRIPT, 0, this.prefix, this.nodeId, dead);
  }

  async loadRetained(): Promise<Message[]> {
    return this.store.loadRetained();
  }

  async loadRoutes(): Promise<RouteTableSnapshot> {
    const cmd = this.commands();
    const nodes = await cmd.hkeys(`${this.prefix}nodes`);
    const snapshot: RouteTableSnapshot = new Map();
    if (nodes.length === 0) return snapshot;
    const pipeline = cmd.pipeline();
    for (const node of nodes) pipeline.smembers(`${this.prefix}r:${node}`);
    const replies = (await pipeline.exec()) ?? [];
    nodes.forEach((node, i) => {
      const [err, keys] = replies[i] ?? [null, []];
      if (err === null && Array.isArray(keys) && keys.length > 0) snapshot.set(node, keys as string[]);
    });
    return snapshot;
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    const cmd = this.cmd;
    if (cmd !== undefined && cmd.status === 'ready') {
      // Leaving: the heartbeat goes, so another node takes this node's sessions over at once.
      await cmd
        .eval(
          "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
          1,
          `${this.prefix}hb:${this.nodeId}`,
          this.token,
        )
        .catch(() => undefined);
    }
    if (this.reader !== undefined) hangUp(this.reader);
    if (this.sub !== undefined) hangUp(this.sub);
    if (cmd !== undefined && cmd.status === 'ready') await cmd.quit().catch(() => hangUp(cmd));
    else if (cmd !== undefined) hangUp(cmd);
  }

  /**
   * Take the node id: wait while a node of that id still has its heartbeat (it died moments ago) or is being
   * taken over, up to `waitMs`.
   */
  private async register(info: () => NodeInfo, waitMs: number): Promise<void> {
    const cmd = this.commands();
    const deadline = Date.now() + waitMs;
    for (;;) {
      const joined = await cmd.eval(
        JOIN_SCRIPT,
        0,
        this.prefix,
        this.nodeId,
        this.token,
        this.nodeTimeoutMs,
        JSON.stringify(info()),
        this.options.replaces ?? (await this.goneInstance()) ?? '',
      );
      if (joined === 1 || this.closing) return;
      if (Date.now() > deadline)
        throw new Error(`cluster: node id '${this.nodeId}' is in use by a running node`);
      await sleep(Math.min(500, this.heartbeatMs));
    }
  }

  /**
   * The heartbeat token of this node id's previous process when that process ran on this machine and is
   * gone (`predecessor.ts`): the join may replace it at once. Token and info are read together, and the
   * join replaces only that token, so a live instance that took the id meanwhile is never replaced.
   */
  private async goneInstance(): Promise<string | undefined> {
    const replies = await this.commands()
      .multi()
      .get(`${this.prefix}hb:${this.nodeId}`)
      .hget(`${this.prefix}nodes`, this.nodeId)
      .exec();
    const token = replies?.[0]?.[1];
    const info = replies?.[1]?.[1];
    if (typeof token !== 'string' || typeof info !== 'string' || token === this.token) return undefined;
    if (!goneFromThisMachine(info)) return undefined;
    this.logger().info(
      { node: this.nodeId },
      'cluster: the previous process of this node id is gone; taking the id',
    );
    return token;
  }

  private commands(): ScriptedRedis {
    if (this.cmd === undefined) throw new Error('cluster: not connected');
    return this.cmd;
  }

  private open(role: string): Redis {
    const options: RedisOptions = {
      lazyConnect: true,
      connectionName: `starling:${this.nodeId}:${role}`,
      connectTimeout: this.options.connectTimeoutMs ?? 5000,
      // Commands wait for Redis to come back rather than fail: commits (and acknowledgements) wait.
      maxRetriesPerRequest: null,
      // At start, one failed attempt is an error (reported by the caller); later, retry for ever.
      retryStrategy: (times) => (this.everReady && !this.closing ? Math.min(50 * times, 1000) : null),
    };
    const RedisClient = loadIoredis();
    const redis = new RedisClient(this.options.url, options);
    let lost = false;
    redis.on('error', (err: Error) => {
      this.lastErrors.set(redis, err);
      if (this.everReady && !this.closing && !lost) {
        lost = true;
        this.logger().warn({ err, cluster: this.location, role }, 'cluster backend unreachable; retrying');
      }
    });
    redis.on('ready', () => {
      lost = false;
    });
    return redis;
  }

  private beat(info: () => NodeInfo): void {
    const cmd = this.cmd;
    if (cmd === undefined || cmd.status !== 'ready' || this.membershipLost) return;
    cmd
      .eval(
        HEARTBEAT_SCRIPT,
        0,
        this.prefix,
        this.nodeId,
        this.token,
        this.nodeTimeoutMs,
        JSON.stringify(info()),
      )
      .then(
        (kept) => {
          if (kept === 1 || this.closing || this.membershipLost) return;
          this.membershipLost = true;
          this.logger().error(
            { cluster: this.location, node: this.nodeId },
            'cluster heartbeat lost: this node was taken for dead and its sessions moved; rejoining',
          );
          this.events?.membershipLost();
        },
        () => undefined,
      );
  }
}

function parseInfo(text: string | undefined): NodeInfo | undefined {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as NodeInfo;
  } catch {
    return undefined;
  }
}

/**
 * ioredis is an optional dependency: loaded when a node joins a cluster, so the package (and the client)
 * works without it.
 */
function loadIoredis(): typeof Redis {
  try {
    return (createRequire(import.meta.url)('ioredis') as { Redis: typeof Redis }).Redis;
  } catch (err) {
    throw new Error(
      `clustering needs the ioredis package (an optional dependency): ${(err as Error).message}; install it`,
      { cause: err },
    );
  }
}
