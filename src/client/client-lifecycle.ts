/**
 * The connection lifecycle of a client: connect attempts, the CONNACK, dispatch of inbound packets,
 * reconnects and the final shutdown. {@link Client} adds the public API on top.
 */
import { MqttError } from '../packets/index.js';
import { ReasonCode } from '../packets/reason-codes.js';
import type { ConnackPacket, Packet } from '../packets/types.js';
import { EnhancedAuth } from './auth.js';
import { capabilitiesFrom, connackError, connackReasonCode } from './connack.js';
import { Connection, type ConnectionEvents, type PacketHooks } from './connection.js';
import { EventHub } from './event-hub.js';
import { Inbound } from './inbound.js';
import type { RequestEntry } from './inflight.js';
import { buildConnectPacket, type ResolvedOptions, randomClientId } from './options.js';
import { Outbound } from './outbound.js';
import { backoffDelay, shouldReconnect } from './reconnect.js';
import { subscribePacket } from './requests.js';
import type { Transport } from './transport.js';
import { openTransport } from './transport-open.js';
import type { ClientStatus, PacketObserver } from './types.js';

/** @internal Test hook: the client's `PacketHooks`, to observe packets on the wire. */
export const testHooks: unique symbol = Symbol('starling.client.testHooks');

/** The error of operations on a closing or closed client. */
export function closedError(cause?: unknown): MqttError {
  return new MqttError(ReasonCode.UnspecifiedError, 'client closed', { cause });
}

export function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

/** The session state and connection handling shared by every client; see {@link Client}. */
export abstract class ClientLifecycle {
  /** @internal */
  readonly [testHooks]: PacketHooks = {};
  protected state: ClientStatus = 'connecting';
  protected currentClientId: string;
  protected connection: Connection | undefined;
  protected readonly outbound: Outbound;
  protected readonly hub = new EventHub();
  protected readonly auth: EnhancedAuth | undefined;
  protected readonly inbound: Inbound;
  protected hasConnected = false;
  protected reconnectAttempt = 0;
  protected reconnectTimer: NodeJS.Timeout | undefined;
  protected connectAbort: AbortController | undefined;
  protected handshake: { resolve(): void; reject(error: Error): void } | undefined;
  protected drainWaiter: { promise: Promise<void>; resolve(): void } | undefined;
  protected closing: Promise<void> | undefined;
  /** The `onPacket` option, made safe: a throwing observer becomes an 'error' event. */
  private readonly observer: PacketObserver | undefined;

  protected constructor(protected readonly resolved: ResolvedOptions) {
    this.currentClientId = resolved.raw.clientId ?? randomClientId();
    this.outbound = new Outbound(resolved.protocolVersion);
    this.inbound = new Inbound(resolved.protocolVersion, (error) => this.hub.emit({ type: 'error', error }));
    const method = resolved.authenticationMethod;
    if (method !== undefined)
      this.auth = new EnhancedAuth(method, resolved.raw.auth, resolved.raw.authenticationData);
    const observe = resolved.raw.onPacket;
    if (observe !== undefined) {
      this.observer = (direction, packet) => {
        try {
          observe(direction, packet);
        } catch (error) {
          this.hub.emit({ type: 'error', error: toError(error) });
        }
      };
    }
  }

  protected waitForDrain(): Promise<void> {
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
  protected async establish(): Promise<void> {
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
    conn = new Connection(
      transport,
      protocolVersion,
      raw.maximumPacketSize,
      events,
      this[testHooks],
      this.observer,
    );
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
  protected shutdown(reason: Error | undefined): void {
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
