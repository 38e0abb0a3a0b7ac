/**
 * The Starling MQTT client: session lifecycle and the public API, over one `Connection` at a time.
 *
 * Layers: Client (session, API) -> Connection (parser, write coalescing, keep alive) -> Transport (bytes).
 */
import { isValidTopicName, MqttError } from '../packets/index.js';
import { ReasonCode } from '../packets/reason-codes.js';
import type { ConnackPacket, DisconnectPacket, Packet, Properties, PublishPacket } from '../packets/types.js';
import { EnhancedAuth } from './auth.js';
import { capabilitiesFrom, connackError, connackReasonCode } from './connack.js';
import { Connection, type ConnectionEvents, type PacketHooks } from './connection.js';
import { EventHub } from './event-hub.js';
import { Inbound } from './inbound.js';
import type { RequestEntry } from './inflight.js';
import { buildConnectPacket, type ResolvedOptions, randomClientId, resolveOptions } from './options.js';
import { Outbound } from './outbound.js';
import { backoffDelay, shouldReconnect } from './reconnect.js';
import { checkSubscribe, publishProblem, subscribePacket, unsubscribePacket } from './requests.js';
import { Subscription, type SubscriptionOwner } from './subscription.js';
import { openTransport, type Transport } from './transport.js';
import type {
  ClientEvent,
  ClientOptions,
  ClientStatus,
  EndOptions,
  Message,
  PublishOptions,
  ServerCapabilities,
  SubscribeOptions,
} from './types.js';

/** @internal Test hook: the client's `PacketHooks`, to observe packets on the wire. */
export const testHooks: unique symbol = Symbol('starling.client.testHooks');
/** @internal Test hook: destroys the current connection as if the network failed. */
export const dropConnection: unique symbol = Symbol('starling.client.dropConnection');

const RESOLVED: Promise<void> = Promise.resolve();
const EMPTY = Buffer.alloc(0);

function closedError(cause?: unknown): MqttError {
  return new MqttError(ReasonCode.UnspecifiedError, 'client closed', { cause });
}

function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

/** An MQTT client. Create it with {@link connect}. */
export class Client implements SubscriptionOwner {
  /** @internal */
  readonly [testHooks]: PacketHooks = {};
  private state: ClientStatus = 'connecting';
  private currentClientId: string;
  private connection: Connection | undefined;
  private readonly outbound: Outbound;
  private readonly hub = new EventHub();
  private readonly auth: EnhancedAuth | undefined;
  private readonly inbound: Inbound;
  private hasConnected = false;
  private reconnectAttempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private connectAbort: AbortController | undefined;
  private handshake: { resolve(): void; reject(error: Error): void } | undefined;
  private drainWaiter: { promise: Promise<void>; resolve(): void } | undefined;
  private closing: Promise<void> | undefined;
  /** Reused for QoS 0 publishes, which are encoded synchronously and never kept by the client. */
  private readonly scratch: PublishPacket = {
    type: 'publish',
    topic: '',
    payload: EMPTY,
    qos: 0,
    retain: false,
    dup: false,
  };
  /** The last topic name that passed validation: a publishing loop validates its topic once. */
  private lastValidTopic: string | undefined;

  private constructor(private readonly resolved: ResolvedOptions) {
    this.currentClientId = resolved.raw.clientId ?? randomClientId();
    this.outbound = new Outbound(resolved.protocolVersion);
    this.inbound = new Inbound(resolved.protocolVersion, (error) => this.hub.emit({ type: 'error', error }));
    const method = resolved.authenticationMethod;
    if (method !== undefined)
      this.auth = new EnhancedAuth(method, resolved.raw.auth, resolved.raw.authenticationData);
  }

  /** Connects; resolves once the server accepted the connection (see {@link connect}). */
  static async connect(url: string, options?: ClientOptions): Promise<Client> {
    const client = new Client(resolveOptions(url, options));
    try {
      await client.establish();
    } catch (error) {
      client.shutdown(toError(error));
      throw error;
    }
    return client;
  }

  /** Where the client is in its lifecycle. */
  get status(): ClientStatus {
    return this.state;
  }

  /** The client identifier in use (the server-assigned one if the server assigned it). */
  get clientId(): string {
    return this.currentClientId;
  }

  /** What the server announced in the last CONNACK. */
  get server(): Readonly<ServerCapabilities> {
    return this.outbound.capabilities;
  }

  /** QoS 1/2 publishes sent and not yet acknowledged. */
  get inflightCount(): number {
    return this.outbound.inflight.publishCount;
  }

  /**
   * Publishes a message. QoS 0 resolves once written to the transport (after 'drain' when the transport
   * is full, so awaiting it applies backpressure); QoS 1 on PUBACK; QoS 2 on PUBCOMP. Rejects with an
   * MqttError carrying the server's reason code (>= 0x80), or locally: 0x90 invalid topic, 0x9B QoS above
   * the server maximum, 0x9A retain unavailable, 0x95 packet too large. QoS 1/2 publishes beyond the
   * server's Receive Maximum, and every publish made while disconnected, wait in order.
   */
  publish(topic: string, payload: Buffer | string, options?: PublishOptions): Promise<void> {
    const qos = options?.qos ?? 0;
    const retain = options?.retain ?? false;
    const problem = this.publishProblem(topic, qos, retain, options);
    if (problem !== undefined) return Promise.reject(problem);
    const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
    const conn = this.outbound.current;
    if (qos === 0 && conn !== undefined && this.outbound.inflight.waiting.length === 0) {
      const packet = this.scratch;
      packet.topic = topic;
      packet.payload = body;
      packet.retain = retain;
      packet.properties = options?.properties;
      let written: boolean;
      try {
        written = this.outbound.writePublish(conn, packet);
      } catch (error) {
        return Promise.reject(error);
      } finally {
        packet.payload = EMPTY;
        packet.properties = undefined;
      }
      return written ? RESOLVED : this.waitForDrain();
    }
    const packet: PublishPacket = {
      type: 'publish',
      topic,
      payload: body,
      qos,
      retain,
      dup: options?.dup === true,
    };
    if (options?.properties !== undefined) packet.properties = options.properties;
    return new Promise<void>((resolve, reject) => {
      this.outbound.enqueue({ kind: 'publish', packet, awaiting: 'puback', resolve, reject });
    });
  }

  /**
   * Subscribes to one or more topic filters; resolves after SUBACK with a {@link Subscription}, an async
   * iterable of the matching messages. Rejects with an MqttError when a filter is refused (its SUBACK code;
   * the other filters of the call are then unsubscribed again) or invalid (0x8F).
   *
   * Across reconnects: when the server resumes the session (Session Present 1) it still holds the
   * subscriptions and nothing is sent; when it does not, the active subscriptions are subscribed again
   * with their original options before anything else is sent.
   */
  async subscribe(filter: string | readonly string[], options: SubscribeOptions = {}): Promise<Subscription> {
    if (this.state === 'closing' || this.state === 'closed') throw closedError();
    const filters = typeof filter === 'string' ? [filter] : [...filter];
    const version = this.resolved.protocolVersion;
    checkSubscribe(filters, options, this.outbound.capabilities, version);
    const subscription = new Subscription(filters, options, this);
    // Registered before SUBACK: retained messages follow the SUBACK, possibly in the same read.
    this.inbound.subscriptions.add(subscription);
    let codes: number[];
    try {
      codes = await this.request('subscribe', subscribePacket(filters, options, version));
    } catch (error) {
      this.inbound.subscriptions.delete(subscription);
      subscription.close();
      throw error;
    }
    subscription.granted = codes;
    const refused = codes.find((code) => code >= 0x80);
    if (refused !== undefined) {
      this.inbound.subscriptions.delete(subscription);
      subscription.close();
      const accepted = filters.filter((_, i) => (codes[i] ?? 0x80) < 0x80);
      if (accepted.length > 0)
        this.request('unsubscribe', unsubscribePacket(accepted)).catch(() => undefined);
      throw new MqttError(refused, `subscription to ${filters.join(', ')} refused`);
    }
    return subscription;
  }

  /** @internal Called by `Subscription.unsubscribe()`: UNSUBSCRIBE for filters no other subscription uses. */
  async unsubscribe(subscription: Subscription): Promise<void> {
    this.inbound.subscriptions.delete(subscription);
    subscription.close();
    if (this.state === 'closing' || this.state === 'closed') return;
    const stillUsed = new Set<string>();
    for (const other of this.inbound.subscriptions) for (const f of other.filters) stillUsed.add(f);
    const filters = subscription.filters.filter((f) => !stillUsed.has(f));
    if (filters.length === 0) return;
    const codes = await this.request('unsubscribe', unsubscribePacket(filters));
    const refused = codes.find((code) => code >= 0x80);
    if (refused !== undefined) throw new MqttError(refused, `unsubscribe from ${filters.join(', ')} refused`);
  }

  /**
   * Calls `handler` synchronously for every received message, before subscription iterators see it: the
   * cheap path for load tools. Returns a function that removes the handler. A throwing handler is reported
   * as an 'error' event.
   */
  onMessage(handler: (message: Message) => void): () => void {
    return this.inbound.addHandler(handler);
  }

  /**
   * The preferred way to follow the client's lifecycle: an async iterable of the events from now on, ending
   * after 'closed'. A consumer more than 1000 events behind loses the oldest.
   */
  events(): AsyncIterableIterator<ClientEvent> {
    return this.hub.iterate();
  }

  /** A synchronous event listener, for code that cannot consume `events()`. Returns its remover. */
  onEvent(listener: (event: ClientEvent) => void): () => void {
    return this.hub.listen(listener);
  }

  /**
   * v5 re-authentication (spec 4.12.1): sends AUTH 0x19 with the authentication method and `data`
   * (default: the `authenticationData` option); the `auth` option answers further challenges. Resolves when
   * the server answers AUTH 0x00; when it fails the server disconnects and this rejects.
   */
  reauthenticate(data?: Buffer): Promise<void> {
    if (this.auth === undefined) {
      return Promise.reject(MqttError.protocol('re-authentication needs MQTT 5 and an authenticationMethod'));
    }
    const conn = this.outbound.current;
    if (conn === undefined)
      return Promise.reject(new MqttError(ReasonCode.UnspecifiedError, 'not connected'));
    return this.auth.reauthenticate(conn, data);
  }

  /**
   * Sends DISCONNECT, waits until it is flushed and the server closed, and closes the client. Publishes and
   * requests still unacknowledged are rejected; subscription iterators end after their buffered messages.
   */
  async end(options: EndOptions = {}): Promise<void> {
    if (this.state === 'closed') return;
    if (this.closing !== undefined) return this.closing;
    const { sessionExpiryInterval } = options;
    if (
      sessionExpiryInterval !== undefined &&
      sessionExpiryInterval !== 0 &&
      this.resolved.sessionExpiryInterval === 0
    ) {
      // Spec 3.14.2.2.2: a non-zero interval on DISCONNECT is a Protocol Error if CONNECT sent 0.
      throw MqttError.protocol('sessionExpiryInterval cannot become non-zero on DISCONNECT');
    }
    const conn = this.outbound.current;
    this.state = 'closing';
    clearTimeout(this.reconnectTimer);
    this.connectAbort?.abort(closedError());
    this.closing = (async () => {
      if (conn?.isOpen === true) await conn.end(options.timeoutMs ?? 5000, this.disconnectPacket(options));
      this.shutdown(undefined);
    })();
    return this.closing;
  }

  /** @internal Destroys the connection as if the network failed (tests). */
  [dropConnection](): void {
    this.connection?.destroy(new Error('connection dropped by test hook'));
  }

  private disconnectPacket(options: EndOptions): DisconnectPacket {
    const disconnect: DisconnectPacket = { type: 'disconnect' };
    if (this.resolved.protocolVersion !== 5) return disconnect;
    if (options.reasonCode !== undefined) disconnect.reasonCode = options.reasonCode;
    const properties: Properties = { ...options.properties };
    if (options.sessionExpiryInterval !== undefined)
      properties.sessionExpiryInterval = options.sessionExpiryInterval;
    if (Object.keys(properties).length > 0) disconnect.properties = properties;
    return disconnect;
  }

  private publishProblem(
    topic: string,
    qos: number,
    retain: boolean,
    options?: PublishOptions,
  ): Error | undefined {
    if (this.state === 'closing' || this.state === 'closed') return closedError();
    if (topic !== this.lastValidTopic) {
      const aliasOnly = topic === '' && options?.properties?.topicAlias !== undefined;
      if (!aliasOnly) {
        if (!isValidTopicName(topic))
          return new MqttError(ReasonCode.TopicNameInvalid, `invalid topic name '${topic}'`);
        this.lastValidTopic = topic;
      }
    }
    return publishProblem(this.outbound.capabilities, qos, retain, options);
  }

  /** Queues a SUBSCRIBE/UNSUBSCRIBE; resolves with the reason codes of its acknowledgement. */
  private request(kind: RequestEntry['kind'], packet: RequestEntry['packet']): Promise<number[]> {
    return new Promise<number[]>((resolve, reject) =>
      this.outbound.enqueue({ kind, packet, resolve, reject }),
    );
  }

  private waitForDrain(): Promise<void> {
    if (this.drainWaiter === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      this.drainWaiter = { promise, resolve };
    }
    return this.drainWaiter.promise;
  }

  private resolveDrain(): void {
    const waiter = this.drainWaiter;
    this.drainWaiter = undefined;
    waiter?.resolve();
  }

  /** One attempt: open the transport, send CONNECT, await CONNACK (with enhanced auth in between). */
  private async establish(): Promise<void> {
    const { endpoint, connectTimeoutMs, raw } = this.resolved;
    const controller = new AbortController();
    this.connectAbort = controller;
    const timer = setTimeout(
      () => controller.abort(new Error(`no CONNACK within ${connectTimeoutMs} ms`)),
      connectTimeoutMs,
    );
    try {
      const transport = await openTransport(endpoint, raw, controller.signal);
      if (controller.signal.aborted) {
        transport.destroy();
        throw toError(controller.signal.reason);
      }
      const current = this.openConnection(transport);
      this.connection = current;
      await new Promise<void>((resolve, reject) => {
        this.handshake = { resolve, reject };
        const abort = (): void => {
          const reason = toError(controller.signal.reason);
          current.destroy(reason);
          // Rejected here too: after shutdown() the connection's close no longer reaches this attempt.
          reject(reason);
        };
        controller.signal.addEventListener('abort', abort, { once: true });
        current.send(buildConnectPacket(this.resolved, this.currentClientId));
      });
    } finally {
      clearTimeout(timer);
      if (this.connectAbort === controller) this.connectAbort = undefined;
      this.handshake = undefined;
    }
  }

  /**
   * Wraps a transport in a Connection reporting to this client. A method of its own so that the event
   * closures capture only the connection, not the scope of a connect attempt (which would keep its
   * AbortController and timers alive as long as the connection).
   */
  private openConnection(transport: Transport): Connection {
    let conn: Connection | undefined;
    const events: ConnectionEvents = {
      packet: (packet) => this.onPacket(conn as Connection, packet),
      drain: () => this.resolveDrain(),
      closed: (reason) => this.onConnectionClosed(conn as Connection, reason),
    };
    const { protocolVersion, raw } = this.resolved;
    conn = new Connection(transport, protocolVersion, raw.maximumPacketSize, events, this[testHooks]);
    return conn;
  }

  private onPacket(conn: Connection, packet: Packet): void {
    if (this.handshake !== undefined) {
      // [MQTT-3.2.0-1] nothing but AUTH may precede the CONNACK.
      if (packet.type === 'connack') this.onConnack(conn, packet);
      else if (packet.type === 'auth' && this.auth !== undefined) this.auth.receive(conn, packet, true);
      else throw MqttError.protocol(`${packet.type} received before CONNACK`);
      return;
    }
    switch (packet.type) {
      case 'publish':
        this.inbound.receivePublish(conn, packet);
        break;
      case 'puback':
      case 'pubrec':
      case 'pubcomp':
      case 'suback':
      case 'unsuback':
        this.outbound.acknowledge(conn, packet);
        break;
      case 'pubrel':
        this.inbound.receivePubrel(conn, packet.packetId);
        break;
      case 'pingresp':
        break;
      case 'disconnect': {
        const text = packet.properties?.reasonString;
        const detail = text === undefined ? '' : `: ${text}`;
        conn.destroy(new MqttError(packet.reasonCode ?? 0, `server sent DISCONNECT${detail}`));
        break;
      }
      case 'auth':
        if (this.auth === undefined) throw MqttError.protocol('AUTH without enhanced authentication');
        this.auth.receive(conn, packet, false);
        break;
      default:
        // [MQTT-3.2.0-2] a second CONNACK, or a packet only clients send.
        throw MqttError.protocol(`unexpected ${packet.type} from the server`);
    }
  }

  /**
   * Handled synchronously as the CONNACK is parsed, so that packets following it in the same read (a
   * resumed session's messages) already find the client connected.
   */
  private onConnack(conn: Connection, connack: ConnackPacket): void {
    const handshake = this.handshake;
    this.handshake = undefined;
    const version = this.resolved.protocolVersion;
    const code = connackReasonCode(connack.reasonCode, version);
    if (code !== 0) {
      const error = connackError(code, connack.properties?.reasonString);
      conn.destroy(error);
      handshake?.reject(error);
      return;
    }
    const properties = version === 5 ? connack.properties : undefined;
    const capabilities = capabilitiesFrom(connack, version);
    if (properties?.assignedClientIdentifier !== undefined)
      this.currentClientId = properties.assignedClientIdentifier;
    // [MQTT-3.2.2-21] the Server Keep Alive replaces ours.
    conn.startKeepalive(properties?.serverKeepAlive ?? this.resolved.keepalive);
    const resumed = connack.sessionPresent;
    this.inbound.reset(resumed, this.resolved.topicAliasMaximum);
    this.state = 'connected';
    this.reconnectAttempt = 0;
    this.outbound.attach(conn, capabilities, this.resolved.autoAssignTopicAlias);
    this.outbound.restore(conn, resumed, resumed || !this.hasConnected ? [] : this.resubscriptions());
    this.hasConnected = true;
    this.outbound.pump();
    handshake?.resolve();
    this.hub.emit({ type: 'connected', sessionPresent: resumed });
  }

  /** SUBSCRIBE requests that restore the active subscriptions on a new session. */
  private resubscriptions(): RequestEntry[] {
    const entries: RequestEntry[] = [];
    for (const subscription of this.inbound.subscriptions) {
      if (subscription.granted.length === 0) continue;
      const packet = subscribePacket(
        subscription.filters,
        subscription.options,
        this.resolved.protocolVersion,
      );
      entries.push({
        kind: 'subscribe',
        packet,
        resolve: (codes) => {
          subscription.granted = codes;
          const refused = codes.find((code) => code >= 0x80);
          if (refused !== undefined) {
            const error = new MqttError(refused, `resubscribe to ${subscription.filters.join(', ')} refused`);
            this.hub.emit({ type: 'error', error });
          }
        },
        reject: () => undefined,
      });
    }
    return entries;
  }

  private onConnectionClosed(conn: Connection, reason: Error | undefined): void {
    if (conn !== this.connection) return;
    this.connection = undefined;
    this.outbound.detach();
    this.resolveDrain();
    const lost = reason ?? new Error('connection closed by the server');
    this.auth?.abort(lost);
    const handshake = this.handshake;
    if (handshake !== undefined) {
      this.handshake = undefined;
      handshake.reject(reason ?? new Error('connection closed before CONNACK'));
      return;
    }
    // While connecting, establish() reports the failure; while closing, end() does.
    if (this.state !== 'connected') return;
    const retry = this.resolved.reconnect !== undefined && shouldReconnect(lost);
    // Settled before listeners run, so that one calling end() finds the client where it is.
    this.state = retry ? 'reconnecting' : 'closing';
    this.hub.emit({ type: 'disconnected', reason: lost });
    if (this.state === 'reconnecting') this.scheduleReconnect();
    else if (this.state === 'closing' && this.closing === undefined) this.shutdown(lost);
  }

  private scheduleReconnect(): void {
    const policy = this.resolved.reconnect;
    if (policy === undefined) return;
    const attempt = ++this.reconnectAttempt;
    const delayMs = backoffDelay(attempt, policy);
    this.state = 'reconnecting';
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.state !== 'reconnecting') return;
      this.state = 'connecting';
      this.establish().catch((error: unknown) => {
        if (this.state !== 'connecting') return;
        if (shouldReconnect(error)) this.scheduleReconnect();
        else this.shutdown(toError(error));
      });
    }, delayMs);
    this.hub.emit({ type: 'reconnecting', attempt, delayMs });
  }

  /** The final state: everything pending is rejected, iterators end, 'closed' is emitted. */
  private shutdown(reason: Error | undefined): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.reconnectTimer);
    this.connectAbort?.abort(closedError(reason));
    const conn = this.connection;
    this.connection = undefined;
    this.outbound.detach();
    conn?.destroy();
    this.resolveDrain();
    const error = reason ?? closedError();
    this.outbound.inflight.rejectAll(error);
    this.auth?.abort(error);
    this.inbound.closeAll();
    this.hub.emit(reason === undefined ? { type: 'closed' } : { type: 'closed', reason });
    this.hub.close();
  }
}

/**
 * Connects to an MQTT server. `url` is `mqtt://`, `tcp://`, `mqtts://`, `ssl://`, `ws://` or `wss://`, with
 * optional `user:password@`. Resolves once the CONNACK accepted the connection; rejects with an MqttError
 * carrying the CONNACK reason code (v3 return codes mapped to v5 codes) or with the connection error.
 */
export function connect(url: string, options?: ClientOptions): Promise<Client> {
  return Client.connect(url, options);
}
