/**
 * The Starling MQTT client: the public API, over the connection lifecycle of `ClientLifecycle`.
 *
 * Layers: Client (session, API) -> Connection (parser, write coalescing, keep alive) -> Transport (bytes).
 */
import { isValidTopicName, MqttError } from '../packets/index.js';
import { ReasonCode } from '../packets/reason-codes.js';
import type { DisconnectPacket, Properties, PublishPacket } from '../packets/types.js';
import { ClientLifecycle, closedError, testHooks, toError } from './client-lifecycle.js';
import type { RequestEntry } from './inflight.js';
import { type ResolvedOptions, resolveOptions } from './options.js';
import { checkSubscribe, publishProblem, subscribePacket, unsubscribePacket } from './requests.js';
import { Subscription, type SubscriptionOwner } from './subscription.js';
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

export { testHooks };
/** @internal Test hook: destroys the current connection as if the network failed. */
export const dropConnection: unique symbol = Symbol('starling.client.dropConnection');

const RESOLVED: Promise<void> = Promise.resolve();
const EMPTY = Buffer.alloc(0);

/** An MQTT client. Create it with {@link connect}. */
export class Client extends ClientLifecycle implements SubscriptionOwner {
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

  private constructor(resolved: ResolvedOptions) {
    super(resolved);
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
}

/**
 * Connects to an MQTT server. `url` is `mqtt://`, `tcp://`, `mqtts://`, `ssl://`, `ws://` or `wss://`, with
 * optional `user:password@`. Resolves once the CONNACK accepted the connection; rejects with an MqttError
 * carrying the CONNACK reason code (v3 return codes mapped to v5 codes) or with the connection error.
 */
export function connect(url: string, options?: ClientOptions): Promise<Client> {
  return Client.connect(url, options);
}
