import type { Duplex } from 'node:stream';
import { MqttError } from '../packets/errors.js';
import { isValidTopicName } from '../packets/index.js';
import { ReasonCode } from '../packets/reason-codes.js';
import type { Packet, Properties, QoS } from '../packets/types.js';
import { Connection } from './connection.js';
import { SWEEP_INTERVAL_MS, sweepConnections } from './connection-sweep.js';
import type { EndOfTurn } from './end-of-turn.js';
import { buildEngineParts } from './engine-parts.js';
import type { EngineServices } from './engine-services.js';
import { HookRegistry } from './hook-registry.js';
import type { Hook } from './hooks.js';
import {
  createInProcessClient,
  type InjectTarget,
  type InProcessClient,
  type InProcessClientOptions,
  resolveInjectTarget,
} from './injection.js';
import {
  INLINE_CLIENT_ID,
  type InlineHandler,
  type InlineSubscribeOptions,
  subscribeInline,
  type Unsubscribe,
} from './inline-client.js';
import { KERNEL_LOOK_INTERVAL_MS, KernelStallWatch } from './kernel-send-queues.js';
import type { LocalRouter } from './local-router.js';
import { type BrokerLogger, silentLogger } from './logger.js';
import { createMessage, type Message } from './message.js';
import { type BrokerOptions, type ResolvedBrokerOptions, resolveBrokerOptions } from './options.js';
import type { ConnectionFacts, ConnectionPort } from './port.js';
import { internalClient, type PublishPipeline } from './publish-pipeline.js';
import { type RestoreSummary, restoreState } from './restore.js';
import type { RemoteTarget, Router } from './routing.js';
import type { Session } from './session.js';
import { BrokerStats } from './stats.js';
import type { SessionStore, StoredSessionState } from './storage.js';
import { SysTopics } from './sys-topics.js';

/** What an engine is built from. */
export interface EngineOptions extends BrokerOptions {
  readonly logger?: BrokerLogger;
  /** Where durable state goes; absent: memory only (nothing survives a restart). */
  readonly storage?: SessionStore;
  /** Seconds between `$SYS/broker/...` updates (fractions allowed); 0 turns `$SYS` off. */
  readonly sysInterval: number;
  /** Reported in `$SYS/broker/version`. */
  readonly version: string;
  /**
   * Routing beyond this broker (a cluster): wraps the local topic index in a router that also forwards to
   * the other nodes. Absent: the local index alone.
   */
  readonly routing?: (local: LocalRouter) => Router;
}

/** Who the inline client and `$SYS` publish as, for hooks. */
const inlineClient = internalClient(INLINE_CLIENT_ID, 'inline');
const sysClient = internalClient('$sys', 'sys');

/**
 * The MQTT engine: sessions, subscriptions, retained messages, the publish pipeline and the QoS flows, for
 * MQTT 3.1, 3.1.1 and 5.0. It knows no listener: byte streams come in through `accept` (its
 * {@link ConnectionPort}); durable state goes out through the storage seam. Built by the server layer.
 */
export class Engine implements ConnectionPort {
  readonly options: ResolvedBrokerOptions;
  readonly hooks = new HookRegistry();
  readonly stats = new BrokerStats();
  readonly connections = new Set<Connection>();
  /** Finds readers that stopped reading while the kernel still takes their writes. */
  readonly kernelWatch: KernelStallWatch;
  readonly services: EngineServices;
  readonly router: LocalRouter;
  readonly pipeline: PublishPipeline;
  readonly sys: SysTopics;
  logger: BrokerLogger;
  private readonly store: SessionStore | undefined;
  private readonly turn: EndOfTurn;
  private sweepTimer: NodeJS.Timeout | undefined;
  private kernelTimer: NodeJS.Timeout | undefined;
  private opened: Promise<RestoreSummary> | undefined;
  /** The stored state is loaded (always true without a store). */
  private loaded: boolean;
  private closing = false;
  /** Offered a look at the kernel's send queues by the timer and by large writes within a turn. */
  private readonly lookAtKernel = (): void =>
    this.kernelWatch.maybeLook(this.connections, this.stats.bytesSent);
  private readonly forget = (conn: Connection): void => {
    this.connections.delete(conn);
  };

  constructor(options: EngineOptions) {
    const { logger, storage, sysInterval, version, routing, ...protocol } = options;
    this.options = resolveBrokerOptions(protocol);
    if (!(sysInterval >= 0)) throw new RangeError(`sysInterval must be >= 0, got ${sysInterval}`);
    this.logger = logger ?? silentLogger;
    this.store = storage;
    this.loaded = storage === undefined;
    this.hooks.reportError = (err, event) => {
      this.stats.countHookError(event);
      this.logger.error({ err, hook: event }, `hook ${event} threw; the broker went on without it`);
    };
    const parts = buildEngineParts(
      this.options,
      this.stats,
      this.hooks,
      this.logging(),
      storage,
      routing,
      this.forget,
      this.lookAtKernel,
    );
    const { memory, pipeline } = parts.services;
    this.turn = parts.turn;
    this.router = parts.router;
    this.pipeline = pipeline;
    this.services = parts.services;
    // Stalled readers hold their data in the kernel: worth a look once it holds half the budget.
    this.kernelWatch = new KernelStallWatch(memory.budget / 2);
    this.sys = new SysTopics(
      {
        stats: this.stats,
        hooks: this.hooks,
        version,
        counts: () => this.counts(),
        storeBytes: () => (storage === undefined ? undefined : (storage.sizeBytes?.() ?? 0)),
        storeLowOnSpace: () => storage?.lowOnSpace?.() === true,
        budget: () => ({
          budget: memory.budget,
          buffered: memory.buffered,
          queued: memory.queued,
          held: memory.held,
        }),
        publish: (message) => pipeline.publish(message, sysClient),
        missedWhileMuted: () => this.router.missedWhileMuted(),
      },
      sysInterval,
    );
  }

  get maximumPacketSize(): number {
    return this.options.maximumPacketSize;
  }

  get sessions(): ReadonlyMap<string, Session> {
    return this.services.sessions.sessions;
  }

  get index(): LocalRouter['index'] {
    return this.router.index;
  }

  /** The store's name and size, for metrics (undefined without a store). */
  storeInfo(): { name: string; bytes: number | undefined; lowOnSpace: boolean } | undefined {
    const store = this.store;
    if (store === undefined) return undefined;
    return { name: store.name, bytes: store.sizeBytes?.(), lowOnSpace: store.lowOnSpace?.() === true };
  }

  /** True once `close` has begun. */
  get shuttingDown(): boolean {
    return this.closing;
  }

  /**
   * Load the stored state (once; later calls share the first). Connections are served only after it
   * resolves: the server opens its listeners after this.
   */
  open(): Promise<RestoreSummary> {
    this.opened ??= this.load();
    return this.opened;
  }

  /** ConnectionPort: serve one byte stream. */
  accept(stream: Duplex, facts: ConnectionFacts): Connection {
    const conn = new Connection(this.services, stream, facts);
    this.connections.add(conn);
    this.stats.connectionsTotal++;
    this.startTimers();
    if (this.closing) conn.close();
    return conn;
  }

  async addHook(hook: Hook, config?: unknown): Promise<void> {
    if (hook.init !== undefined) await hook.init(config);
    this.hooks.add(hook);
  }

  /** Publish from inside the server: bypasses the ACL and may publish to `$SYS/`. */
  publish(
    topic: string,
    payload: Buffer | string,
    options: { qos?: QoS; retain?: boolean; properties?: Properties } = {},
  ): number {
    this.requireLoaded('publish');
    // [MQTT-3.3.2-2] The inline client bypasses the ACL, not the topic rules: no wildcards, not empty.
    if (!isValidTopicName(topic))
      throw new MqttError(ReasonCode.TopicNameInvalid, `invalid topic name '${topic}'`);
    const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
    const message = createMessage(
      topic,
      body,
      options.qos ?? 0,
      options.retain ?? false,
      options.properties,
      undefined,
      Date.now(),
    );
    return this.pipeline.publish(message, inlineClient);
  }

  /**
   * A message another node of a cluster routed here: delivered to local subscribers only (shared groups
   * skipped). With `target`, to the part of them the publishing node chose (see {@link RemoteTarget}).
   */
  publishRemote(message: Message, from: string, target?: RemoteTarget): number {
    const deliveries =
      target === undefined ? this.router.route(message, 'remote') : this.router.routeRemote(message, target);
    this.pipeline.publishedRemote(message, from, deliveries);
    return deliveries;
  }

  /**
   * A message for one session, handed over by the node that held the session when it was taken over here
   * (its delivery arrived there after the take-over). False when the session is not here.
   */
  deliverToSession(
    clientId: string,
    message: Message,
    qos: QoS,
    retain: boolean,
    subscriptionIds: readonly number[] | undefined,
  ): boolean {
    const session = this.services.sessions.get(clientId);
    if (session === undefined) return false;
    return this.services.outbound.deliver(session, message, qos, retain, subscriptionIds);
  }

  /**
   * Another node of a cluster took this client's session over: close its connection here (v5: DISCONNECT
   * 0x8E Session taken over [MQTT-3.1.4-3]) and forget the local copy without ending it (the store keeps it
   * for the new holder). False when there was none.
   */
  evictSession(clientId: string): boolean {
    const sessions = this.services.sessions;
    const session = sessions.get(clientId);
    if (session === undefined) return false;
    session.link?.disconnect(ReasonCode.SessionTakenOver);
    const still = sessions.get(clientId);
    if (still !== undefined) sessions.forget(still);
    return true;
  }

  /**
   * Sessions a cluster node took over from a node that died: rebuilt offline like stored ones at start
   * (the wills of clients that were connected there are published, expiries counted from now).
   */
  adoptSessions(states: Iterable<StoredSessionState>): RestoreSummary {
    const services = this.services;
    return restoreState(
      { sessions: states, retained: [] },
      {
        sessions: services.sessions,
        subscriptions: services.subscriptions,
        retained: this.router,
        durable: services.durable,
      },
    );
  }

  subscribe(filter: string, handler: InlineHandler, options?: InlineSubscribeOptions): Promise<Unsubscribe> {
    this.requireLoaded('subscribe');
    return subscribeInline(this.services, filter, handler, options);
  }

  injectPacket(client: InjectTarget, packet: Packet): void {
    resolveInjectTarget((clientId) => this.connectionOf(clientId), client).inject(packet);
  }

  createClient(clientId: string, options?: InProcessClientOptions): Promise<InProcessClient> {
    return createInProcessClient((stream, facts) => this.accept(stream, facts), clientId, options);
  }

  /** The connected client with this id. */
  connectionOf(clientId: string): Connection | undefined {
    const link = this.services.sessions.get(clientId)?.link;
    if (link !== undefined && this.connections.has(link as Connection)) return link as Connection;
    for (const conn of this.connections)
      if (conn.clientId === clientId && conn.state === 'connected') return conn;
    return undefined;
  }

  /**
   * Tell v5 clients the server is shutting down (0x8B), flush, commit and release the store. The server
   * closes its listeners first.
   */
  async close(): Promise<void> {
    this.closing = true;
    for (const conn of [...this.connections]) conn.disconnect(ReasonCode.ServerShuttingDown);
    // The last turn commits what the disconnects changed; nothing reaches the store after it.
    this.turn.run(true);
    this.services.durable.detachStore();
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    if (this.kernelTimer !== undefined) clearInterval(this.kernelTimer);
    this.kernelTimer = undefined;
    this.sys.stop();
    this.services.sessions.stopTimers();
    this.turn.stop();
    const settled = this.turn.settle();
    if (this.store !== undefined && this.opened !== undefined) {
      await this.opened.catch(() => undefined);
      // The store finishes the commits it has started, then lets go.
      try {
        await this.store.close();
      } catch (err) {
        // What the last commit held was never acknowledged; the broker still closes.
        this.logger.error({ err, store: this.store.name }, 'store: the last commit failed while closing');
      }
    }
    await settled;
  }

  /** Start the `$SYS` publisher and the sweep (idempotent; not after close). */
  startTimers(): void {
    if (this.closing) return;
    this.sys.start();
    if (this.sweepTimer !== undefined) return;
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
    this.kernelTimer = setInterval(this.lookAtKernel, KERNEL_LOOK_INTERVAL_MS);
    this.kernelTimer.unref();
  }

  private async load(): Promise<RestoreSummary> {
    if (this.store === undefined) return { sessions: 0, subscriptions: 0, deliveries: 0, retained: 0 };
    const state = await this.store.open();
    const services = this.services;
    const summary = restoreState(state, {
      sessions: services.sessions,
      subscriptions: services.subscriptions,
      retained: this.router,
      durable: services.durable,
    });
    this.loaded = true;
    // Said at start (not at the first QoS 1/2 publish) when the store's disk is low on space already.
    this.turn.health.lowOnSpace();
    return summary;
  }

  /** With a store, nothing may change before the stored state is loaded (it would be overwritten). */
  private requireLoaded(what: string): void {
    if (!this.loaded)
      throw new Error(`broker.${what}: start the broker first, its stored state is not loaded yet`);
  }

  private counts(): { sessions: number; subscriptions: number; stored: number; retained: number } {
    let subscriptions = 0;
    let stored = this.router.count;
    for (const session of this.sessions.values()) {
      subscriptions += session.subscriptionCount;
      stored += session.inflight.size + session.queuedCount;
    }
    return { sessions: this.sessions.size, subscriptions, stored, retained: this.router.count };
  }

  /** The logger as it is now (the server may swap it after construction). */
  private logging(): BrokerLogger {
    return {
      info: (obj, msg) => this.logger.info(obj, msg),
      warn: (obj, msg) => this.logger.warn(obj, msg),
      error: (obj, msg) => this.logger.error(obj, msg),
      debug: (obj, msg) => this.logger.debug(obj, msg),
    };
  }

  /** One coarse timer for every connection: keep alive, connect timeout, stuck slow readers. */
  private sweep(): void {
    sweepConnections(
      this.connections,
      this.sessions,
      this.router,
      this.services.memory,
      this.options,
      this.services.stats,
    );
  }
}
