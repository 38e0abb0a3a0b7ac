import type { Engine } from '../broker/engine.js';
import type { LocalRouter } from '../broker/local-router.js';
import type { Router } from '../broker/routing.js';
import type { ClusterBackend, ClusterEvents, NodeRecord } from './backend.js';
import { ClusterRouter } from './cluster-router.js';
import { ClusterStats, clusterMetrics, clusterTotals, nodeInfo } from './cluster-stats.js';
import { InboxProcessor } from './inbox-handler.js';
import { type LinkTls, linkSockets } from './link-sockets.js';
import { NodeLinks, parseLinkAddress } from './node-links.js';
import { ownershipHook, publishWill } from './node-sessions.js';
import { RouteTable } from './route-table.js';
import { takeOver } from './take-over.js';

/** What a node says about the cluster, for the dashboard and `/metrics`. */
export interface ClusterNodeView {
  readonly id: string;
  readonly alive: boolean;
  readonly self: boolean;
  readonly host: string | undefined;
  readonly clients: number | undefined;
  /** The node's direct link address (`host:port`); undefined when it has none (links off). */
  readonly link: string | undefined;
  /** Whether this node's link to it is up (else its messages go through Redis); undefined for itself. */
  readonly linked: boolean | undefined;
  /** Whether the node's link is TLS (`linkTls`), as it says in the registry. */
  readonly linkTls: boolean;
}

/** What a node adds to its backend. */
export interface ClusterNodeOptions {
  /**
   * Where this node's direct link to the other nodes listens (`host`, `host:port`; port 0 picks a free
   * one), or false for none: everything then crosses through the backend. Default `127.0.0.1`: nodes on
   * one machine link; nodes on others need an address they can reach.
   */
  readonly link?: string | false;
  /** Mutual TLS on the links (see `LinkTls`); without it they are plain TCP. */
  readonly linkTls?: LinkTls;
}

/** Pause between the two passes over a dead node's inbox: messages routed to it before its routes went. */
const DRAIN_SETTLE_MS = 500;
/** Period of the full route table read under the route events. */
const ROUTE_RELOAD_MS = 30_000;

/**
 * One broker as a node of a cluster: it routes through a {@link ClusterRouter}, stores through the backend's
 * store, processes its inbox (messages, take-overs of its sessions, deliveries handed over), takes over
 * the sessions of nodes that die, and publishes `$SYS/broker/cluster/...` totals. Lifecycle: `routing` and
 * `store` go into the engine's options, `attach(engine)` once it is built, `start()` before the engine
 * loads its state, `serve()` after, `stop()` after the engine closed.
 */
export class ClusterNode {
  readonly stats = new ClusterStats();
  readonly table: RouteTable;
  private engine: Engine | undefined;
  private watcher: NodeJS.Timeout | undefined;
  private sysTimer: NodeJS.Timeout | undefined;
  private routeReload: NodeJS.Timeout | undefined;
  private readonly sysPublished = new Map<string, string>();
  private adopting = false;
  /** No node is taken for dead before this time (the backend just came back: everyone beats again first). */
  private graceUntil = 0;
  private stopped = false;
  private lastNodes: NodeRecord[] = [];
  /** The inbox's entries, handled (and paced) here; made with the engine. */
  private inbox: InboxProcessor | undefined;
  /** The direct links to the other nodes (none with `link: false`). */
  readonly links: NodeLinks | undefined;
  private linkSecret = '';

  /** The router made for the engine (`routing`). */
  private router: ClusterRouter | undefined;

  /** For the engine's `routing` option. */
  readonly routing = (local: LocalRouter): Router => {
    this.router = new ClusterRouter(
      local,
      this.table,
      this.backend,
      this.stats,
      () => this.markDirty(),
      this.links,
    );
    return this.router;
  };

  constructor(
    readonly backend: ClusterBackend,
    private readonly options: ClusterNodeOptions = {},
  ) {
    this.table = new RouteTable(backend.nodeId);
    if (options.link !== false) {
      parseLinkAddress(options.link ?? '127.0.0.1');
      const links = new NodeLinks(
        backend.nodeId,
        () => this.linkSecret,
        {
          qos0: (from, batch) => this.asChunk(() => this.inbox?.deliverBatch(batch, from)),
          inbox: (from, stamp, previous, batch) =>
            this.asChunk(() => this.inbox?.fast(from, stamp, previous, batch)),
          refused: (from, reason) => this.log('warn', { node: from, reason }, 'cluster link refused'),
        },
        { sockets: linkSockets(options.linkTls) },
      );
      this.links = links;
      backend.store.sendEarly = (node, stamp, previous, batch) =>
        links.sendInbox(node, stamp, previous, batch);
    }
    backend.store.onSkipped = (clients, nodes) => {
      this.stats.fencedWrites += clients.length;
      for (const node of nodes) this.table.dropNode(node);
    };
  }

  get nodeId(): string {
    return this.backend.nodeId;
  }

  /** The engine this node serves; its sessions decide which ownership releases are moot. */
  attach(engine: Engine): void {
    this.engine = engine;
    this.inbox = new InboxProcessor(engine, this.backend.store, this.stats, () => this.stopped);
    this.backend.store.isHeld = (id) => engine.sessions.has(id);
    engine.hooks.add(ownershipHook(engine, this.backend.store, () => this.markDirty()));
    // QoS 0 for other nodes leaves with the chunk that published it, as a local subscriber's copy does.
    const router = this.router;
    if (router !== undefined) engine.services.turn.afterChunk = () => router.flushQos0();
  }

  /** Reach the backend, take the node id, read the route table. Before the engine loads its state. */
  async start(): Promise<void> {
    await this.backend.connect();
    if (this.links !== undefined) {
      try {
        this.linkSecret = await this.backend.linkSecret();
        const { host, port } = parseLinkAddress(this.options.link || '127.0.0.1');
        await this.links.listen(host, port);
      } catch (err) {
        // Nothing left open behind the error (the backend's connections would keep the process alive).
        this.links.close();
        await this.backend.close();
        throw err;
      }
    }
    const snapshot = await this.backend.join(this.events(), () => nodeInfo(this.engine, this.links));
    this.table.replaceRemote(snapshot);
    this.log(
      'info',
      { cluster: this.backend.location, node: this.nodeId, nodes: snapshot.size },
      'joined the cluster',
    );
  }

  /** The engine loaded its state: read the inbox, watch the other nodes, publish the totals. */
  serve(): void {
    const engine = this.requireEngine();
    // Clients connected here when this node last stopped, without a stored session: their wills now.
    for (const { clientId, will } of this.backend.store.loadedWills.splice(0))
      publishWill(this.requireEngine(), clientId, will);
    this.backend.readInbox(this.inbox as InboxProcessor);
    const links = this.links;
    if (links !== undefined)
      void this.backend.nodes().then(
        (nodes) => links.update(nodes),
        () => undefined,
      );
    this.watcher = setInterval(() => void this.watch(), this.backend.heartbeatMs);
    this.watcher.unref();
    // A safety net under the events: the whole route table read again now and then.
    this.routeReload = setInterval(() => void this.reloadRoutes(), ROUTE_RELOAD_MS);
    this.routeReload.unref();
    const sysSeconds = engine.sys.intervalSeconds;
    if (sysSeconds > 0) {
      this.sysTimer = setInterval(() => void this.publishTotals(), sysSeconds * 1000);
      this.sysTimer.unref();
      void this.publishTotals();
    }
  }

  /** The broker begins to close: take no node over and publish no totals any more. */
  quiesce(): void {
    this.stopped = true;
    if (this.watcher !== undefined) clearInterval(this.watcher);
    if (this.sysTimer !== undefined) clearInterval(this.sysTimer);
    if (this.routeReload !== undefined) clearInterval(this.routeReload);
  }

  /** After the engine closed (its last commit made): leave the cluster. */
  async stop(): Promise<void> {
    this.quiesce();
    this.links?.close();
    await this.backend.close();
  }

  /** The nodes as the registry has them. */
  async nodes(): Promise<ClusterNodeView[]> {
    const records = await this.backend.nodes();
    return records.map((r) => ({
      id: r.id,
      alive: r.alive,
      self: r.id === this.nodeId,
      host: r.info?.host,
      clients: r.info?.clients,
      link: r.info?.link,
      linked: r.id === this.nodeId ? undefined : this.links?.ready(r.id) === true,
      linkTls: r.info?.linkTls === true,
    }));
  }

  /** `/metrics` lines of the cluster (Prometheus text). */
  metricsText(): string {
    const alive = this.lastNodes.filter((n) => n.alive).length;
    return clusterMetrics(this.nodeId, this.stats, alive, this.backend.available, this.links);
  }

  private events(): ClusterEvents {
    return {
      route: (node, key, added) => this.table.setRemote(node, key, added),
      nodeGone: (node) => {
        this.table.dropNode(node);
        this.links?.forget(node);
      },
      retained: (topic, message) => this.engine?.router.set(topic, message),
      qos0: (from, batch) => this.inbox?.deliverBatch(batch, from),
      reconnected: () => void this.refresh(),
      membershipLost: () => void this.rejoin(),
    };
  }

  /**
   * Another node took this one's sessions while it was cut off: close their connections here (0x8E, the
   * session was taken over) and forget the copies, then join again and announce the routes left (inline
   * subscriptions).
   */
  private async rejoin(): Promise<void> {
    const engine = this.engine;
    if (engine === undefined || this.stopped) return;
    const store = this.backend.store;
    for (const session of [...engine.sessions.values()]) {
      if (session.inline) continue;
      store.lost(session.clientId);
      if (engine.evictSession(session.clientId)) this.stats.evictions++;
    }
    try {
      await this.backend.rejoin(() => nodeInfo(this.engine, this.links));
      // What is still this node's in the backend (nobody took it meanwhile) comes back, as at a restart.
      engine.adoptSessions(await store.loadOwnSessions());
      for (const { clientId, will } of store.loadedWills.splice(0))
        publishWill(this.requireEngine(), clientId, will);
      await this.refresh();
      this.log('warn', { node: this.nodeId }, 'joined the cluster again');
    } catch (err) {
      this.log('error', { err }, 'cluster rejoin failed');
    }
  }

  /** After the backend came back: routes and retained messages may have changed unseen; ours go again. */
  private async refresh(): Promise<void> {
    this.stats.reconnects++;
    this.graceUntil = Date.now() + this.backend.nodeTimeoutMs;
    const store = this.backend.store;
    for (const key of this.table.localKeys()) store.addRoute(key);
    this.markDirty();
    try {
      // Redis may have come back without its data, and a node that asks first makes a new secret.
      if (this.links !== undefined) this.linkSecret = await this.backend.linkSecret();
      const engine = this.engine;
      if (engine === undefined) return;
      // Redis came back without its data: the sessions held here are written again, under new ownership.
      const held = [...engine.sessions.values()].filter((s) => !s.inline).map((s) => s.clientId);
      for (const clientId of await store.reclaimLost(held)) {
        const session = engine.sessions.get(clientId);
        if (session === undefined) continue;
        engine.services.durable.resave(session);
        const will = session.persistent || session.link === undefined ? undefined : session.will;
        if (will !== undefined) store.setWill(clientId, will);
      }
      this.markDirty();
      await this.reloadRoutes();
      // Again once every node is back and resubscribed: an event may have crossed the read just made.
      setTimeout(() => void this.reloadRoutes(), this.backend.heartbeatMs * 2).unref();
      const fresh = await this.backend.loadRetained();
      const topics = new Set(fresh.map((m) => m.topic));
      const gone: string[] = [];
      engine.router.match('#', (topic) => {
        if (!topics.has(topic)) gone.push(topic);
      });
      for (const topic of gone) engine.router.set(topic, undefined);
      for (const message of fresh) engine.router.set(message.topic, message);
    } catch (err) {
      this.log('warn', { err }, 'cluster refresh after reconnect failed');
    }
  }

  /** Read the route table again (route events are best effort: pub/sub, lost while disconnected). */
  private async reloadRoutes(): Promise<void> {
    if (this.stopped || !this.backend.available) return;
    try {
      this.table.replaceRemote(await this.backend.loadRoutes());
    } catch (err) {
      this.log('warn', { err }, 'cluster route table reload failed');
    }
  }

  /** Look for dead nodes (no heartbeat) and take one over. */
  private async watch(): Promise<void> {
    if (this.stopped || this.adopting || !this.backend.available || Date.now() < this.graceUntil) return;
    try {
      const asked = Date.now();
      this.lastNodes = await this.backend.nodes();
      this.links?.update(this.lastNodes);
      // A slow answer judges nobody: Redis was away or stalled meanwhile (ioredis sends an unanswered
      // command again after a reconnect), and the nodes it shows without a heartbeat had no chance to beat
      // again yet. Nor does one that came back inside the grace a reconnect began meanwhile.
      const answered = Date.now();
      if (answered - asked > this.backend.heartbeatMs || answered < this.graceUntil || this.stopped) return;
      const dead = this.lastNodes.find((n) => !n.alive && n.id !== this.nodeId);
      if (dead !== undefined) await this.adopt(dead.id);
    } catch (err) {
      this.log('warn', { err }, 'cluster watch failed');
    }
  }

  /** Take a dead node over (see `takeOver`), holding its lock. */
  private async adopt(dead: string): Promise<void> {
    const engine = this.requireEngine();
    this.adopting = true;
    try {
      if (!(await this.backend.lockDeadNode(dead))) return;
      const summary = await takeOver(dead, {
        backend: this.backend,
        engine,
        publishWill: (clientId, will) => publishWill(this.requireEngine(), clientId, will),
        settleMs: DRAIN_SETTLE_MS,
      });
      this.table.dropNode(dead);
      this.stats.nodesAdopted++;
      this.stats.sessionsAdopted += summary.sessions;
      this.log('warn', { node: dead, ...summary }, 'took over a dead cluster node');
    } finally {
      this.adopting = false;
    }
  }

  /** `$SYS/broker/cluster/...`: this node's id and the cluster's totals, published here when they change. */
  private async publishTotals(): Promise<void> {
    const engine = this.engine;
    if (engine === undefined || this.stopped) return;
    let nodes: NodeRecord[];
    try {
      nodes = await this.backend.nodes();
    } catch {
      return;
    }
    this.lastNodes = nodes;
    this.links?.update(nodes);
    for (const [name, value] of Object.entries(clusterTotals(this.nodeId, nodes, this.stats))) {
      const text = String(value);
      if (this.sysPublished.get(name) === text) continue;
      this.sysPublished.set(name, text);
      engine.publish(`$SYS/broker/cluster/${name}`, text, { retain: true });
    }
  }

  /**
   * Messages from a link, handled as a client's chunk is: what they gave a connection to write is written
   * at once, not after the other sockets of this turn.
   */
  private asChunk(handle: () => void): void {
    const turn = this.engine?.services.turn;
    if (turn === undefined) return;
    turn.chunkBegins();
    try {
      handle();
    } finally {
      turn.chunkDone();
    }
  }

  private markDirty(): void {
    this.engine?.services.turn.markDirty();
  }

  private requireEngine(): Engine {
    if (this.engine === undefined) throw new Error('cluster: no engine attached');
    return this.engine;
  }

  private log(level: 'info' | 'warn' | 'error', obj: Record<string, unknown>, msg: string): void {
    this.engine?.logger[level](obj, msg);
  }
}
