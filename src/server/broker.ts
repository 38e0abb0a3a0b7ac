import type { AddressInfo } from 'node:net';
import { Engine } from '../broker/engine.js';
import type { Hook } from '../broker/hooks.js';
import type { InjectTarget, InProcessClient, InProcessClientOptions } from '../broker/injection.js';
import type { InlineHandler, InlineSubscribeOptions, Unsubscribe } from '../broker/inline-client.js';
import type { BrokerLogger } from '../broker/logger.js';
import type { BrokerOptions } from '../broker/options.js';
import type { BrokerStats } from '../broker/stats.js';
import type { SessionStore } from '../broker/storage.js';
import { ClusterNode } from '../cluster/cluster-node.js';
import { RedisBackend } from '../cluster/redis-backend.js';
import type { RedisClusterOptions } from '../cluster/redis-options.js';
import type { DashboardHandler } from '../dashboard/dashboard-handler.js';
import type { Listener, ListenerAddress, ListenerConfig } from '../listeners/listener.js';
import type { Packet, Properties, QoS } from '../packets/types.js';
import { type DashboardSetting, HttpApp } from './http-app.js';
import { IdleHeapTrim } from './idle-heap-trim.js';
import { createListener } from './listener-factory.js';
import { VERSION } from './version.js';

export type { BrokerLogger } from '../broker/logger.js';

/** Where `listen` binds its TCP listener. */
export interface ListenOptions {
  host?: string;
  port?: number;
  /** Listener name, reported to hooks and logs. Default `tcp` (`tcp-2`, ... when taken). */
  name?: string;
}

/** Broker construction options: the protocol options plus logging, listeners and storage. */
export interface BrokerConstructorOptions extends BrokerOptions {
  logger?: BrokerLogger;
  /** Listeners opened by `start()` (TCP, TLS, WebSocket, Unix socket, HTTP). */
  listeners?: ListenerConfig[];
  /** Allow `publish` / `subscribe` from inside the process. Default true; false makes both throw. */
  inlineClient?: boolean;
  /** Seconds between `$SYS/broker/...` updates (fractions allowed). Default 10; 0 turns $SYS off. */
  sysInterval?: number;
  /**
   * Where sessions, subscriptions, queued and in-flight messages and retained messages are kept (see
   * `sqliteStorage`). Default: memory only, so nothing survives a restart.
   */
  storage?: SessionStore;
  /**
   * The dashboard and admin API on every HTTP listener, with its admin users (scrypt hashes from `starling
   * passwd`, role `admin` or `read-only`); without users it answers loopback clients only, without login.
   * `false` serves only `/healthz`, `/metrics` and `/api/v1/stats`. Default on, no users.
   */
  dashboard?: DashboardSetting;
  /**
   * Run as one node of a cluster on Redis: sessions, subscriptions and retained messages are cluster-wide
   * and kept in Redis (so `storage` cannot be given too); messages go to the nodes with subscribers.
   */
  cluster?: RedisClusterOptions;
  /**
   * Give memory back to the system once the broker goes quiet after a burst: one full garbage collection
   * when the heap has grown and the broker has been quiet for 10 s (see the README). Default false;
   * `starling broker` turns it on.
   */
  trimHeapWhenIdle?: boolean;
}

/** The broker's counters, read-only: connections, messages and bytes by QoS, drops and refusals by reason. */
export type BrokerStatsView = Readonly<
  Pick<
    BrokerStats,
    | 'startedAt'
    | 'bytesReceived'
    | 'bytesSent'
    | 'clientsConnected'
    | 'clientsMaximum'
    | 'connectionsTotal'
    | 'publishIn'
    | 'publishOut'
    | 'publishPayloadBytesIn'
    | 'publishPayloadBytesOut'
    | 'dropped'
    | 'refused'
    | 'subscribeRefused'
    | 'connectRefused'
    | 'messagesReceived'
    | 'messagesSent'
    | 'droppedTotal'
    | 'refusedTotal'
    | 'subscribeRefusedTotal'
    | 'connectRefusedTotal'
  >
>;

let internalsOf: (broker: Broker) => {
  engine: Engine;
  listeners: readonly Listener[];
  http: HttpApp;
  cluster: ClusterNode | undefined;
};

/**
 * An MQTT broker: the engine with its listeners, operations endpoints and storage. Construct it, add hooks,
 * then `start()` the configured listeners (or `listen()` for one TCP port); `close()` shuts down cleanly.
 */
export class Broker {
  readonly #engine: Engine;
  readonly #listeners: Listener[] = [];
  readonly #addresses = new Map<Listener, ListenerAddress>();
  readonly #configs: readonly ListenerConfig[];
  readonly #inlineClient: boolean;
  readonly #http: HttpApp;
  readonly #cluster: ClusterNode | undefined;
  readonly #heapTrim: IdleHeapTrim | undefined;
  #opened: Promise<void> | undefined;
  #startedHooksFired = false;

  static {
    internalsOf = (broker) => ({
      engine: broker.#engine,
      listeners: broker.#listeners,
      http: broker.#http,
      cluster: broker.#cluster,
    });
  }

  constructor(options: BrokerConstructorOptions = {}) {
    const {
      logger,
      listeners,
      inlineClient,
      sysInterval,
      storage,
      dashboard,
      cluster,
      trimHeapWhenIdle,
      ...protocol
    } = options;
    if (cluster !== undefined && storage !== undefined)
      throw new RangeError('a cluster keeps its state in Redis: give either cluster or storage, not both');
    const node =
      cluster === undefined
        ? undefined
        : new ClusterNode(new RedisBackend(cluster, () => this.#engine.logger), {
            ...(cluster.link === undefined ? {} : { link: cluster.link }),
            ...(cluster.linkTls === undefined ? {} : { linkTls: cluster.linkTls }),
          });
    const store = node?.backend.store ?? storage;
    this.#engine = new Engine({
      ...protocol,
      ...(logger === undefined ? {} : { logger }),
      ...(store === undefined ? {} : { storage: store }),
      ...(node === undefined ? {} : { routing: node.routing }),
      sysInterval: sysInterval ?? 10,
      version: VERSION,
    });
    node?.attach(this.#engine);
    const stats = this.#engine.stats;
    this.#heapTrim =
      trimHeapWhenIdle === true
        ? IdleHeapTrim.create(() => stats.messagesReceived + stats.connectionsTotal, this.#engine.logger)
        : undefined;
    this.#cluster = node;
    this.#configs = listeners ?? [];
    this.#inlineClient = inlineClient ?? true;
    this.#http = new HttpApp(this.#engine, dashboard ?? {}, {
      listeners: () =>
        this.#listeners.map((listener) => ({ listener, address: this.#addresses.get(listener) })),
      isUp: () => this.#isUp(),
      clusterNodes: async () =>
        node === undefined
          ? []
          : (await node.nodes()).map((n) => ({
              id: n.id,
              address: n.host,
              state: n.alive ? 'up' : 'down',
              self: n.self,
              clients: n.clients,
              link: n.link,
              linked: n.linked,
              linkTls: n.linkTls,
            })),
      ...(node === undefined
        ? {}
        : { metricLabels: { node: node.nodeId }, extraMetrics: () => node.metricsText() }),
    });
  }

  /** The broker's counters. */
  get stats(): BrokerStatsView {
    return this.#engine.stats;
  }

  /**
   * Load the stored state, then open every listener of the `listeners` option, in order. If one fails,
   * those already started are closed again and the error is rethrown. Resolves to the bound addresses.
   */
  async start(): Promise<ListenerAddress[]> {
    // The stored state is loaded before any listener opens (and even when there is none).
    await this.#open();
    const addresses: ListenerAddress[] = [];
    const started: Listener[] = [];
    try {
      for (const config of this.#configs) {
        const listener = createListener(config, this.#http.handle);
        addresses.push(await this.addListener(listener));
        started.push(listener);
      }
    } catch (err) {
      await Promise.all(started.map((listener) => listener.close()));
      for (const listener of started) this.#listeners.splice(this.#listeners.indexOf(listener), 1);
      throw err;
    }
    this.#started();
    return addresses;
  }

  /** Start a TCP listener (the same path as a `tcp` entry of `listeners`); port 0 picks a free port. */
  async listen(options: ListenOptions = {}): Promise<AddressInfo> {
    const address = await this.addListener({
      type: 'tcp',
      name: options.name ?? this.#freeName('tcp'),
      host: options.host ?? '0.0.0.0',
      port: options.port ?? 1883,
    });
    this.#started();
    return address as AddressInfo;
  }

  /** Start one more listener (a config entry, or a `Listener` of your own). Names must be unique. */
  async addListener(listener: Listener | ListenerConfig): Promise<ListenerAddress> {
    const instance = 'start' in listener ? listener : createListener(listener, this.#http.handle);
    if (this.#listeners.some((l) => l.name === instance.name)) {
      throw new RangeError(`a listener named '${instance.name}' already exists`);
    }
    const engine = this.#engine;
    await this.#open();
    const address = await instance.start(engine);
    this.#listeners.push(instance);
    this.#addresses.set(instance, address);
    if (instance.kind === 'http') this.#http.start();
    engine.startTimers();
    const where =
      typeof address === 'string' ? { path: address } : { address: address.address, port: address.port };
    engine.logger.info(
      { listener: instance.name, kind: instance.kind, ...where },
      `listener ${instance.name} started`,
    );
    return address;
  }

  /**
   * Stop listening, tell v5 clients the server is shutting down (0x8B), flush, commit and close. HTTP
   * listeners close last, once every other listener has let go of its connections, so `/healthz` answers
   * 503 through the whole grace period. With `timeoutMs`, connections still open after it are destroyed.
   */
  async close(options: { timeoutMs?: number } = {}): Promise<void> {
    const engine = this.#engine;
    this.#heapTrim?.stop();
    this.#cluster?.quiesce();
    const http = this.#listeners.filter((l) => l.kind === 'http');
    const closed = this.#listeners.filter((l) => l.kind !== 'http').map((l) => l.close());
    const done = engine.close();
    let timer: NodeJS.Timeout | undefined;
    if (options.timeoutMs !== undefined) {
      const timeoutMs = options.timeoutMs;
      const timedOut = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      });
      const first = await Promise.race([
        Promise.all(closed).then(() => 'closed'),
        timedOut.then(() => 'timeout'),
      ]);
      if (first === 'timeout') {
        engine.logger.warn(
          { open: engine.connections.size },
          'shutdown timed out; destroying remaining connections',
        );
        for (const conn of engine.connections) conn.stream.destroy();
      }
    }
    await Promise.all(closed);
    clearTimeout(timer);
    await done;
    await this.#cluster?.stop();
    this.#http.close();
    await Promise.all(http.map((listener) => listener.close()));
    this.#listeners.length = 0;
    for (const hook of engine.hooks.on.onStopped) hook.onStopped();
  }

  /** Add a hook; its `init` gets `config`. Hooks run in the order added. */
  addHook(hook: Hook, config?: unknown): Promise<void> {
    return this.#engine.addHook(hook, config);
  }

  /**
   * Publish from inside the server: bypasses the ACL and may publish to `$SYS/`. Returns the number of
   * sessions it was delivered or queued to. Throws when the `inlineClient` option is false.
   */
  publish(
    topic: string,
    payload: Buffer | string,
    options: { qos?: QoS; retain?: boolean; properties?: Properties } = {},
  ): number {
    this.#requireInlineClient('publish');
    return this.#engine.publish(topic, payload, options);
  }

  /**
   * Subscribe from inside the server through the same topic index, subscribe hooks and retained delivery as
   * a network client (the ACL is bypassed). Resolves, after the retained messages went to `handler`, to the
   * function that unsubscribes. Throws when the `inlineClient` option is false.
   */
  subscribe(filter: string, handler: InlineHandler, options?: InlineSubscribeOptions): Promise<Unsubscribe> {
    this.#requireInlineClient('subscribe');
    return this.#engine.subscribe(filter, handler, options);
  }

  /**
   * Process `packet` exactly as if `client` had sent it: a client id, the ClientInfo a hook was given, or a
   * client from `createClient`. Throws RangeError when that client is not connected.
   */
  injectPacket(client: InjectTarget, packet: Packet): void {
    this.#engine.injectPacket(client, packet);
  }

  /** Connect an in-process client (no socket) to inject packets as; resolves once the broker sent CONNACK. */
  createClient(clientId: string, options?: InProcessClientOptions): Promise<InProcessClient> {
    return this.#engine.createClient(clientId, options);
  }

  /** Join the cluster (when one is configured), then load the stored state; once. */
  #open(): Promise<void> {
    this.#opened ??= (async () => {
      await this.#cluster?.start();
      await this.#engine.open();
      this.#cluster?.serve();
    })();
    return this.#opened;
  }

  #isUp(): boolean {
    return !this.#engine.shuttingDown && this.#listeners.every((l) => l.listening);
  }

  #started(): void {
    if (this.#startedHooksFired) return;
    this.#startedHooksFired = true;
    this.#heapTrim?.start();
    for (const hook of this.#engine.hooks.on.onStarted) hook.onStarted();
  }

  #freeName(kind: string): string {
    let name = kind;
    for (let n = 2; this.#listeners.some((l) => l.name === name); n++) name = `${kind}-${n}`;
    return name;
  }

  #requireInlineClient(what: string): void {
    if (!this.#inlineClient)
      throw new Error(`broker.${what}: the inline client is disabled (inlineClient: false)`);
  }
}

/** The engine behind a broker: for the server layer's own parts (admin API) and the tests; not package API. */
export function engineOf(broker: Broker): Engine {
  return internalsOf(broker).engine;
}

/** The listeners a broker runs, in start order: for the server layer's own parts and the tests. */
export function listenersOf(broker: Broker): readonly Listener[] {
  return internalsOf(broker).listeners;
}

/** The dashboard mounted on the broker's HTTP listeners, once one is open (for the CLI's reload and tests). */
export function dashboardOf(broker: Broker): DashboardHandler | undefined {
  return internalsOf(broker).http.dashboardHandler;
}

/** The cluster node a broker runs as, when it has a `cluster` option (for the tests and the CLI). */
export function clusterOf(broker: Broker): ClusterNode | undefined {
  return internalsOf(broker).cluster;
}
