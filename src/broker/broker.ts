import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { HookRegistry } from '../hooks/registry.js';
import type { AclAccess, ClientInfo, DisconnectInfo, Hook } from '../hooks/types.js';
import type { Listener, ListenerAddress, ListenerConfig } from '../listeners/listener.js';
import { MqttError } from '../packets/errors.js';
import { encode, isValidTopicName } from '../packets/index.js';
import { ReasonCode, toV3ConnackCode } from '../packets/reason-codes.js';
import type { ConnectPacket, Packet, Properties, QoS, Subscription } from '../packets/types.js';
import { Connection, type ConnectionFacts } from './connection.js';
import { drainSession, drop, resumeSession } from './delivery.js';
import { EnhancedAuth } from './enhanced-auth.js';
import {
  createInProcessClient,
  type InjectTarget,
  type InProcessClient,
  type InProcessClientOptions,
  resolveInjectTarget,
} from './injection.js';
import {
  type InlineHandler,
  type InlineSubscribeOptions,
  subscribeInline,
  type Unsubscribe,
} from './inline-client.js';
import { createMessage, detached, type Message } from './message.js';
import { type BrokerOptions, type ResolvedBrokerOptions, resolveBrokerOptions } from './options.js';
import { Router } from './router.js';
import type { Session, SessionSubscription } from './session.js';
import { SessionLifecycle } from './session-lifecycle.js';
import { BrokerStats } from './stats.js';
import { SysTopics } from './sys-topics.js';
import { TopicIndex } from './topic-index.js';

const SWEEP_INTERVAL_MS = 500;

/** Where the broker writes what it has to say; the CLI passes pino, the library defaults to silence. */
export interface BrokerLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

const silentLogger: BrokerLogger = { info() {}, warn() {}, error() {}, debug() {} };

export interface ListenOptions {
  host?: string;
  port?: number;
  /** Listener name, reported to hooks and logs. Default `tcp`. */
  name?: string;
}

/** Broker construction options: the protocol options plus where to log and what to listen on. */
export interface BrokerConstructorOptions extends BrokerOptions {
  logger?: BrokerLogger;
  /** Listeners opened by `start()` (TCP, TLS, WebSocket, Unix socket, HTTP). */
  listeners?: ListenerConfig[];
  /** Allow `publish` / `subscribe` from inside the process. Default true; false makes both throw. */
  inlineClient?: boolean;
  /** Seconds between `$SYS/broker/...` updates (fractions allowed). Default 10; 0 turns $SYS off. */
  sysInterval?: number;
}

/**
 * The MQTT broker engine: sessions, the topic index, retained messages and routing, for MQTT 3.1,
 * 3.1.1 and 5.0 on one engine (3.x is the same engine applying v3 rules). Listeners hand it byte
 * streams with `handleConnection`; `listen` is the built-in TCP listener.
 */
export class Broker {
  readonly options: ResolvedBrokerOptions;
  readonly hooks = new HookRegistry();
  readonly stats = new BrokerStats();
  readonly index = new TopicIndex<SessionSubscription, Message>();
  readonly sessions = new Map<string, Session>();
  readonly connections = new Set<Connection>();
  readonly auth = new EnhancedAuth(this);
  private readonly router = new Router(this);
  private readonly lifecycle = new SessionLifecycle(this);
  logger: BrokerLogger;
  private readonly servers: Server[] = [];
  private sweepTimer: NodeJS.Timeout | undefined;
  private flushList: Connection[] = [];
  private flushScheduled = false;
  private closing = false;
  /** Listeners started through `start` or `addListener`, in start order. */
  readonly listeners: Listener[] = [];
  private readonly listenerConfigs: readonly ListenerConfig[];
  /** Clients past CONNACK, per listener name: the per-listener connection limit counts these. */
  private readonly connectedByListener = new Map<string, number>();
  private readonly inlineClient: boolean;
  /** The `$SYS/broker/...` publisher, started with the first listener or connection. */
  readonly sys: SysTopics;

  constructor(options: BrokerConstructorOptions = {}) {
    const { logger, listeners, inlineClient, sysInterval, ...rest } = options;
    this.options = resolveBrokerOptions(rest);
    this.logger = logger ?? silentLogger;
    this.listenerConfigs = listeners ?? [];
    this.inlineClient = inlineClient ?? true;
    if (sysInterval !== undefined && !(sysInterval >= 0))
      throw new RangeError(`sysInterval must be >= 0, got ${sysInterval}`);
    this.sys = new SysTopics(this, sysInterval ?? 10);
  }

  /** True once `close` has begun: health checks report unavailable from then on. */
  get shuttingDown(): boolean {
    return this.closing;
  }

  /**
   * Open every listener of the `listeners` option, in order. If one fails, those already started are
   * closed again and the error is rethrown. Resolves to the bound addresses, in the same order.
   */
  async start(): Promise<ListenerAddress[]> {
    // Loaded on demand so the core module itself imports no transport.
    const { createListener } = await import('../listeners/create.js');
    const addresses: ListenerAddress[] = [];
    const started: Listener[] = [];
    try {
      for (const config of this.listenerConfigs) {
        const listener = createListener(config);
        addresses.push(await this.addListener(listener));
        started.push(listener);
      }
    } catch (err) {
      await Promise.all(started.map((listener) => listener.close()));
      for (const listener of started) this.listeners.splice(this.listeners.indexOf(listener), 1);
      throw err;
    }
    for (const hook of this.hooks.on.onStarted) hook.onStarted();
    return addresses;
  }

  /** Start one listener and serve what it accepts. Listener names must be unique. */
  async addListener(listener: Listener): Promise<ListenerAddress> {
    if (this.listeners.some((l) => l.name === listener.name)) {
      throw new RangeError(`a listener named '${listener.name}' already exists`);
    }
    const address = await listener.start(this);
    this.listeners.push(listener);
    this.startSweep();
    const where =
      typeof address === 'string' ? { path: address } : { address: address.address, port: address.port };
    this.logger.info(
      { listener: listener.name, kind: listener.kind, ...where },
      `listener ${listener.name} started`,
    );
    return address;
  }

  /**
   * Refuse a CONNECT beyond the global or per-listener connection limit (v5 CONNACK 0x97, v3 return
   * code 3) or the listener's connection rate (v5 CONNACK 0x9F, v3 return code 3). A client taking
   * over its own live connection on the same listener is not counted twice.
   */
  checkConnectionLimits(conn: Connection): void {
    const previous = this.sessions.get(conn.clientId)?.link;
    const takesOver = previous instanceof Connection && previous !== conn && previous.state === 'connected';
    const global = this.options.maxConnections;
    if (global > 0 && this.stats.clientsConnected - (takesOver ? 1 : 0) >= global) {
      throw new MqttError(ReasonCode.QuotaExceeded, 'server connection limit reached');
    }
    const listener = this.listeners.find((l) => l.name === conn.listener);
    const limit = listener?.maxConnections ?? 0;
    if (limit > 0) {
      const sameListener = takesOver && previous.listener === conn.listener;
      const count = (this.connectedByListener.get(conn.listener) ?? 0) - (sameListener ? 1 : 0);
      if (count >= limit) {
        throw new MqttError(ReasonCode.QuotaExceeded, `listener ${conn.listener} connection limit reached`);
      }
    }
    // Checked last so a CONNECT refused for another reason does not spend a token of the rate.
    if (listener?.admitConnect?.() === false) {
      throw new MqttError(
        ReasonCode.ConnectionRateExceeded,
        `listener ${conn.listener} connection rate exceeded`,
      );
    }
  }

  /** Add a hook; its `init` gets `config`. Hooks run in the order added. */
  async addHook(hook: Hook, config?: unknown): Promise<void> {
    if (hook.init !== undefined) await hook.init(config);
    this.hooks.add(hook);
  }

  /** Start a TCP listener; port 0 picks a free port. Resolves to the bound address. */
  listen(options: ListenOptions = {}): Promise<AddressInfo> {
    const name = options.name ?? 'tcp';
    const server = createServer({ noDelay: true }, (socket: Socket) => {
      this.handleConnection(socket, {
        listener: name,
        remoteAddress: socket.remoteAddress,
        remotePort: socket.remotePort,
      });
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 1883, options.host ?? '0.0.0.0', () => {
        server.off('error', reject);
        server.on('error', (err) => this.logger.error({ err }, 'listener error'));
        this.servers.push(server);
        this.startSweep();
        for (const hook of this.hooks.on.onStarted) hook.onStarted();
        resolve(server.address() as AddressInfo);
      });
    });
  }

  /** Serve one byte stream (TCP, TLS, WebSocket, ...): the core imports no transport. */
  handleConnection(stream: Duplex, facts: ConnectionFacts): Connection {
    const conn = new Connection(this, stream, facts);
    this.connections.add(conn);
    this.stats.connectionsTotal++;
    this.startSweep();
    if (this.closing) conn.close();
    return conn;
  }

  /**
   * Stop listening, tell v5 clients the server is shutting down (0x8B), flush, and close. HTTP listeners
   * close last, once every other listener has let go of its connections, so `/healthz` answers 503
   * through the whole grace period instead of refusing connections.
   */
  async close(): Promise<void> {
    this.closing = true;
    const closed = this.servers.map(
      (server) => new Promise<void>((resolve) => server.close(() => resolve())),
    );
    const operations = this.listeners.filter((l) => l.kind === 'http');
    for (const listener of this.listeners) if (listener.kind !== 'http') closed.push(listener.close());
    for (const conn of [...this.connections]) conn.disconnect(ReasonCode.ServerShuttingDown);
    this.flushAll();
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    this.sys.stop();
    for (const session of this.sessions.values()) {
      if (session.expiryTimer !== undefined) clearTimeout(session.expiryTimer);
      if (session.pendingWill !== undefined) clearTimeout(session.pendingWill.timer);
    }
    await Promise.all(closed);
    await Promise.all(operations.map((listener) => listener.close()));
    this.servers.length = 0;
    this.listeners.length = 0;
    for (const hook of this.hooks.on.onStopped) hook.onStopped();
  }

  // ---- authentication and authorization (hooks; with none registered, everyone is allowed) ----

  authenticate(client: ClientInfo, packet: ConnectPacket): boolean | Promise<boolean> {
    const hooks = this.hooks.on.onConnectAuthenticate;
    if (hooks.length === 0) return true;
    return anyAllows(hooks, (hook) => hook.onConnectAuthenticate(client, packet));
  }

  authorize(client: ClientInfo, topic: string, access: AclAccess): boolean | Promise<boolean> {
    const hooks = this.hooks.on.onAclCheck;
    if (hooks.length === 0) return true;
    return anyAllows(hooks, (hook) => hook.onAclCheck(client, topic, access));
  }

  // ---- sessions ----

  capExpiry(requested: number): number {
    const cap = this.options.maximumSessionExpiryInterval;
    return cap !== undefined && requested > cap ? cap : requested;
  }

  /** Take over any live connection of this client id, then resume or start its session. */
  attachSession(
    conn: Connection,
    clean: boolean,
    expiry: number,
  ): { session: Session; sessionPresent: boolean } {
    return this.lifecycle.attach(conn, clean, expiry);
  }

  /** Remove a session: its subscriptions leave the index; a will still waiting is published now. */
  endSession(session: Session): void {
    this.lifecycle.end(session);
  }

  onSessionEstablished(conn: Connection, session: Session, sessionPresent: boolean): void {
    this.stats.clientsConnected++;
    this.connectedByListener.set(conn.listener, (this.connectedByListener.get(conn.listener) ?? 0) + 1);
    if (this.stats.clientsConnected > this.stats.clientsMaximum)
      this.stats.clientsMaximum = this.stats.clientsConnected;
    for (const hook of this.hooks.on.onConnect) hook.onConnect(conn, conn.connect!);
    if (sessionPresent) resumeSession(this, session);
    for (const hook of this.hooks.on.onSessionEstablished) hook.onSessionEstablished(conn, sessionPresent);
    this.logger.debug(
      { clientId: conn.clientId, listener: conn.listener, sessionPresent },
      'client connected',
    );
  }

  /** A connection ended: detach its session, publish or schedule its will, start the session's expiry. */
  onConnectionClosed(conn: Connection, wasConnected: boolean, info: DisconnectInfo): void {
    this.connections.delete(conn);
    const session = conn.session;
    if (!wasConnected || session === undefined) return;
    this.stats.clientsConnected--;
    this.connectedByListener.set(conn.listener, (this.connectedByListener.get(conn.listener) ?? 1) - 1);
    try {
      for (const hook of this.hooks.on.onDisconnect) hook.onDisconnect(conn, info);
    } finally {
      // A hook that throws is the caller's to log; the session is detached and its will settled regardless.
      this.logger.debug(
        { clientId: conn.clientId, reasonCode: info.reasonCode, by: info.by },
        'client disconnected',
      );
      this.lifecycle.detach(conn, session);
    }
  }

  // ---- subscriptions and retained messages ----

  addSubscription(record: SessionSubscription): void {
    const session = record.session;
    session.subscriptions.set(record.key, record);
    this.index.subscribe(session.clientId, record.filter, record, record.shareGroup);
    const hooks = this.hooks.on.onSubscriptionChanged;
    if (hooks.length > 0) {
      const subscription: Subscription = {
        topicFilter: record.key,
        qos: record.qos,
        noLocal: record.noLocal,
        retainAsPublished: record.retainAsPublished,
        retainHandling: record.retainHandling,
      };
      for (const hook of hooks) hook.onSubscriptionChanged(session.clientId, record.key, subscription);
    }
  }

  removeSubscription(record: SessionSubscription): void {
    const session = record.session;
    session.subscriptions.delete(record.key);
    this.index.unsubscribe(session.clientId, record.filter, record.shareGroup);
    for (const hook of this.hooks.on.onSubscriptionChanged)
      hook.onSubscriptionChanged(session.clientId, record.key, undefined);
  }

  /** Storage hooks: a session was attached, detached, or its expiry changed. */
  sessionChanged(session: Session): void {
    const hooks = this.hooks.on.onSessionChanged;
    if (hooks.length === 0) return;
    const state = { expiryInterval: session.expiryInterval, connected: session.link !== undefined };
    for (const hook of hooks) hook.onSessionChanged(session.clientId, state);
  }

  /** Store, replace, or (empty payload) delete a retained message. [MQTT-3.3.1-5] [MQTT-3.3.1-6] [MQTT-3.3.1-7] */
  retain(message: Message): void {
    let stored: Message | undefined;
    if (message.payload.length > 0) {
      const kept = detached(message);
      stored = kept.retain ? kept : { ...kept, retain: true };
    }
    this.index.setRetained(message.topic, stored);
    for (const hook of this.hooks.on.onRetainedChanged) hook.onRetainedChanged(message.topic, stored);
    for (const hook of this.hooks.on.onRetainMessage) hook.onRetainMessage(message);
  }

  /** Send the retained messages matching a new subscription, RETAIN set. [MQTT-3.3.1-8] */
  deliverRetained(record: SessionSubscription): void {
    this.router.deliverRetained(record);
  }

  /** Deliver a message to every matching subscription; returns the number of deliveries. */
  route(message: Message): number {
    return this.router.route(message);
  }

  /** The PUBLISH header shared by every subscriber of one message (packet id patched per subscriber). */
  publishHeader(message: Message, v5: boolean, qos: QoS, retain: boolean, dup: boolean): Buffer {
    return this.router.publishHeader(message, v5, qos, retain, dup);
  }

  drainSession(session: Session): void {
    drainSession(this, session);
  }

  qosComplete(session: Session, packetId: number): void {
    for (const hook of this.hooks.on.onQosComplete) hook.onQosComplete(session.clientId, packetId);
    for (const hook of this.hooks.on.onInflightChanged)
      hook.onInflightChanged(session.clientId, packetId, undefined);
  }

  dropMessage(session: Session, message: Message, reason: Parameters<typeof drop>[3]): void {
    drop(this, session, message, reason);
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
    this.requireInlineClient('publish');
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
    if (message.retain) this.retain(message);
    return this.route(message);
  }

  /**
   * Subscribe from inside the server through the same topic index, subscribe hooks and retained delivery as
   * a network client (the ACL is bypassed). Resolves, after the retained messages went to `handler`, to the
   * function that unsubscribes. Throws when the `inlineClient` option is false.
   */
  subscribe(filter: string, handler: InlineHandler, options?: InlineSubscribeOptions): Promise<Unsubscribe> {
    this.requireInlineClient('subscribe');
    return subscribeInline(this, filter, handler, options);
  }

  /**
   * Process `packet` exactly as if `client` had sent it: a client id, the ClientInfo a hook was given, or a
   * client from `createClient`. Throws RangeError when that client is not connected.
   */
  injectPacket(client: InjectTarget, packet: Packet): void {
    resolveInjectTarget(this, client).inject(packet);
  }

  /** Connect an in-process client (no socket) to inject packets as; resolves once the broker sent CONNACK. */
  createClient(clientId: string, options?: InProcessClientOptions): Promise<InProcessClient> {
    return createInProcessClient(this, clientId, options);
  }

  private requireInlineClient(what: string): void {
    if (!this.inlineClient)
      throw new Error(`broker.${what}: the inline client is disabled (inlineClient: false)`);
  }

  // ---- writes ----

  /** Queue a connection for this turn's flush: everything it got in this turn goes out in one write. */
  scheduleFlush(conn: Connection): void {
    if (conn.writer.scheduled) return;
    conn.writer.scheduled = true;
    this.flushList.push(conn);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flushAll());
    }
  }

  private flushAll(): void {
    this.flushScheduled = false;
    const list = this.flushList;
    this.flushList = [];
    let bytes = 0;
    for (const conn of list) {
      conn.writer.scheduled = false;
      bytes += conn.writer.flush();
    }
    this.stats.bytesSent += bytes;
  }

  // ---- refusals, errors, timers ----

  /** A CONNECT that cannot be accepted: CONNACK with the reason (v3: the mapped return code), then close. */
  refuseConnect(conn: Connection, error: MqttError): void {
    let code = error.reasonCode;
    let version = conn.protocolVersion;
    if (code === ReasonCode.UnsupportedProtocolVersion) {
      // [MQTT-3.1.2-2] Unsupported level: CONNACK 0x84 (v5) or return code 0x01 (v3), then close.
      version = (error.protocolLevel ?? 4) >= 5 ? 5 : 4;
    } else if (conn.connect === undefined) {
      // [MQTT-3.1.4-1] A CONNECT that does not parse: close without CONNACK.
      conn.close();
      return;
    }
    if (version !== 5) {
      const v3 = toV3ConnackCode(code);
      if (v3 === undefined) {
        conn.close();
        return;
      }
      code = v3;
    }
    conn.protocolVersion = version;
    conn.writer.append(encode({ type: 'connack', sessionPresent: false, reasonCode: code }, version));
    conn.close();
  }

  logError(err: unknown, conn: Connection): void {
    this.logger.error({ err, clientId: conn.clientId }, 'unexpected error while handling a packet');
  }

  private startSweep(): void {
    if (this.closing) return;
    this.sys.start();
    if (this.sweepTimer !== undefined) return;
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
  }

  /** One coarse timer for every connection: keep alive, connect timeout, stuck slow readers. */
  private sweep(): void {
    const now = Date.now();
    const options = this.options;
    for (const conn of this.connections) {
      if (conn.state === 'connecting') {
        if (now - conn.openedAt > options.connectTimeoutMs) conn.close();
        continue;
      }
      if (conn.state !== 'connected') continue;
      // [MQTT-3.1.2-24] No packet within 1.5 times the keep alive: the connection is closed (v5: 0x8D).
      if (conn.keepaliveMs > 0 && now - conn.lastActivity > conn.keepaliveMs * 1.5) {
        conn.disconnect(ReasonCode.KeepAliveTimeout, 'keep alive timeout');
        continue;
      }
      if (conn.writer.backlog > options.maxWriteBuffer) {
        if (conn.congestedSince === 0) conn.congestedSince = now;
        else if (now - conn.congestedSince > options.slowClientTimeoutMs) {
          conn.disconnect(ReasonCode.QuotaExceeded, 'client is not reading');
        }
      } else {
        conn.congestedSince = 0;
      }
    }
  }
}

/**
 * Allow if any hook allows: hooks are asked in order and the first yes stops the asking. Synchronous
 * while every answer is; from the first promise on, the rest are asked after it settles.
 */
function anyAllows<H>(
  hooks: readonly H[],
  ask: (hook: H) => boolean | Promise<boolean>,
): boolean | Promise<boolean> {
  for (let i = 0; i < hooks.length; i++) {
    const answer = ask(hooks[i] as H);
    if (answer === true) return true;
    if (answer instanceof Promise) {
      return answer.then(async (ok) => {
        if (ok) return true;
        for (let j = i + 1; j < hooks.length; j++) if (await ask(hooks[j] as H)) return true;
        return false;
      });
    }
  }
  return false;
}

export { MqttError };
