import { ReasonCode } from '../packets/reason-codes.js';
import type { WillMessage } from '../packets/types.js';
import type { AccessControl } from './access.js';
import type { DurableState } from './durable-state.js';
import type { HookRegistry } from './hook-registry.js';
import type { ClientInfo } from './hooks.js';
import { createMessage, type Message } from './message.js';
import { internalClient, type PublishPipeline } from './publish-pipeline.js';
import { Session } from './session.js';
import type { SessionLink } from './session-link.js';
import type { Subscriptions } from './subscriptions.js';
import { TimerWheel } from './timer-wheel.js';

const NEVER_EXPIRES = 0xffffffff;
/**
 * Resolution of session expiry and will delays (both counted in seconds by the protocol): one wheel tick.
 * 4 096 slots of 250 ms make one turn of the wheel about 17 minutes; longer deadlines wait in their slot.
 */
const TICK_MS = 250;
const SLOTS = 4096;

/** The live end of a session as the registry sees it when a client connects. */
export interface AttachingClient extends SessionLink, ClientInfo {
  readonly will: WillMessage | undefined;
}

/**
 * Every session, and its life around its connections (spec 4.1): take-over, resume or clean start at
 * CONNECT; at disconnect the will (with its delay) and the expiry timer; at the end, subscriptions out of
 * the router and a will still waiting published.
 */
export class SessionRegistry {
  readonly sessions = new Map<string, Session>();
  /** Offline sessions' expiry: one wheel, so a hundred thousand stored sessions are not as many timers. */
  private readonly expiries = new TimerWheel<Session>({
    tickMs: TICK_MS,
    slots: SLOTS,
    onExpire: (session) => this.expired(session),
  });
  /** Wills waiting for their delay, likewise. */
  private readonly delayedWills = new TimerWheel<Session>({
    tickMs: TICK_MS,
    slots: SLOTS,
    onExpire: (session) => this.willDue(session),
  });

  constructor(
    private readonly subscriptions: Subscriptions,
    private readonly pipeline: PublishPipeline,
    private readonly access: AccessControl,
    private readonly durable: DurableState,
    private readonly hooks: HookRegistry,
  ) {}

  get(clientId: string): Session | undefined {
    return this.sessions.get(clientId);
  }

  /** Take over any live connection of this client id, then resume or start its session. */
  attach(
    client: AttachingClient,
    clean: boolean,
    expiry: number,
  ): { session: Session; sessionPresent: boolean } {
    let session = this.sessions.get(client.clientId);
    const previous = session?.link;
    if (previous !== undefined && previous !== client && previous.kind === 'network') {
      // [MQTT-3.1.4-3] The existing connection is closed (v5: DISCONNECT 0x8E Session taken over).
      previous.disconnect(ReasonCode.SessionTakenOver);
      session = this.sessions.get(client.clientId);
    }
    if (session !== undefined && clean) {
      // [MQTT-3.1.2-4] Clean Start: the existing session is discarded.
      this.end(session);
      session = undefined;
    }
    let sessionPresent = false;
    if (session === undefined) {
      session = new Session(client.clientId);
      this.sessions.set(client.clientId, session);
    } else {
      // [MQTT-3.2.2-3] Session Present is 1 when a session is resumed.
      sessionPresent = true;
      if (session.expiryTimer !== undefined) this.expiries.remove(session.expiryTimer);
      session.expiryTimer = undefined;
      // [MQTT-3.1.3-9] A will waiting for its delay is cancelled when the session resumes in time.
      if (session.pendingWill !== undefined) this.delayedWills.remove(session.pendingWill.timer);
      session.pendingWill = undefined;
      session.disconnectedAt = 0;
    }
    session.expiryInterval = expiry;
    session.protocolVersion = client.protocolVersion;
    session.username = client.username;
    session.will = client.will;
    session.link = client;
    this.durable.sessionSaved(session, true);
    return { session, sessionPresent };
  }

  /** The connection of a session ended: publish or schedule its will, start the session's expiry. */
  detach(client: AttachingClient, session: Session): void {
    if (session.link !== client) return;
    session.link = undefined;
    session.disconnectedAt = Date.now();
    const will = client.will;
    session.will = undefined;
    if (will !== undefined) {
      // [MQTT-3.1.3-9] The will waits for the Will Delay Interval, or until the session ends.
      const delay = Math.min(will.properties?.willDelayInterval ?? 0, session.expiryInterval);
      if (delay === 0) this.publishWill(session, client, will);
      else this.scheduleWill(session, client, will, delay * 1000);
    }
    this.durable.sessionSaved(session, false);
    if (session.expiryInterval === 0) {
      // [MQTT-4.1.0-2] (3.1.1: [MQTT-3.1.2-6]) Session Expiry 0 (v3 clean session): the session ends with the connection.
      this.end(session);
    } else if (session.expiryInterval !== NEVER_EXPIRES) {
      this.armExpiry(session, session.expiryInterval * 1000);
    }
  }

  /** The expiry interval changed at DISCONNECT [MQTT-3.14.2-2]. */
  expiryChanged(session: Session, expiry: number): void {
    session.expiryInterval = expiry;
    this.durable.sessionSaved(session, session.link !== undefined);
  }

  /** Remove a session: its subscriptions leave the router; a will still waiting is published now. */
  end(session: Session): void {
    if (this.sessions.get(session.clientId) === session) this.sessions.delete(session.clientId);
    if (session.expiryTimer !== undefined) this.expiries.remove(session.expiryTimer);
    session.expiryTimer = undefined;
    this.subscriptions.removeAll(session);
    const pending = session.pendingWill;
    session.pendingWill = undefined;
    if (pending !== undefined) {
      this.delayedWills.remove(pending.timer);
      this.publishWill(session, undefined, pending.will);
    }
    this.durable.sessionEnded(session);
    session.reset();
  }

  /**
   * Another node of a cluster holds the session now: drop this node's copy without ending it (no will, no
   * store or hook report; the store keeps the session for its new holder). Its connection, if any, must be
   * closed first.
   */
  forget(session: Session): void {
    if (this.sessions.get(session.clientId) === session) this.sessions.delete(session.clientId);
    if (session.expiryTimer !== undefined) this.expiries.remove(session.expiryTimer);
    session.expiryTimer = undefined;
    if (session.pendingWill !== undefined) this.delayedWills.remove(session.pendingWill.timer);
    session.pendingWill = undefined;
    this.subscriptions.forgetAll(session);
    session.reset();
  }

  /** Stop every timer (the broker is closing; the store keeps what it has). */
  stopTimers(): void {
    this.expiries.clear();
    this.delayedWills.clear();
  }

  /** An offline session read from the store: arm its expiry (counted from when it went away) and its will. */
  restoreOffline(session: Session, now: number, willDueAt: number | undefined): void {
    this.sessions.set(session.clientId, session);
    const will = session.will;
    session.will = undefined;
    if (will !== undefined) {
      const due =
        willDueAt ?? now + Math.min(will.properties?.willDelayInterval ?? 0, session.expiryInterval) * 1000;
      if (due <= now) {
        this.publishWill(session, undefined, will);
        this.durable.sessionSaved(session, false);
      } else {
        this.scheduleWill(session, undefined, will, due - now);
      }
    }
    if (session.expiryInterval === NEVER_EXPIRES) return;
    const left = session.expiryInterval * 1000 - (now - session.disconnectedAt);
    if (left <= 0) this.end(session);
    else this.armExpiry(session, left);
  }

  private scheduleWill(
    session: Session,
    client: ClientInfo | undefined,
    will: WillMessage,
    ms: number,
  ): void {
    const timer = this.delayedWills.add(session, ms);
    session.pendingWill = { will, dueAt: Date.now() + ms, timer, client };
  }

  private willDue(session: Session): void {
    const pending = session.pendingWill;
    if (pending === undefined) return;
    session.pendingWill = undefined;
    this.publishWill(session, pending.client, pending.will);
    this.durable.sessionSaved(session, session.link !== undefined);
  }

  private armExpiry(session: Session, ms: number): void {
    session.expiryTimer = this.expiries.add(session, ms);
  }

  private expired(session: Session): void {
    session.expiryTimer = undefined;
    this.end(session);
    for (const hook of this.hooks.on.onClientExpired) hook.onClientExpired(session.clientId);
  }

  /**
   * The will of a client whose session is not held here (a cluster node that died had it, unstored): through
   * the will hooks and published as that client, like any other will.
   */
  publishWillOf(clientId: string, will: WillMessage): void {
    // All that is known of the client is its id.
    this.sendWillThroughHooks(clientId, undefined, internalClient(clientId, 'will', false), will);
  }

  private publishWill(session: Session, client: ClientInfo | undefined, will: WillMessage): void {
    this.sendWillThroughHooks(session.clientId, client, client ?? willClient(session), will);
  }

  /** `client`: the connected client (its write permission is checked), undefined for one long gone. */
  private sendWillThroughHooks(
    clientId: string,
    client: ClientInfo | undefined,
    publisher: ClientInfo,
    will: WillMessage,
  ): void {
    let message: Message | undefined = createMessage(
      will.topic,
      will.payload,
      will.qos,
      will.retain,
      will.properties,
      clientId,
      Date.now(),
    );
    for (const hook of this.hooks.on.onWill) {
      message = hook.onWill(clientId, message);
      if (message === undefined) return;
    }
    const ready = message;
    // The will is published with its client's write permission, as its own PUBLISH would be.
    const allowed = client === undefined ? true : this.access.authorize(client, ready.topic, 'write');
    if (allowed === true) this.sendWill(clientId, publisher, ready);
    else if (allowed instanceof Promise)
      allowed.then((ok) => ok && this.sendWill(clientId, publisher, ready));
  }

  private sendWill(clientId: string, publisher: ClientInfo, message: Message): void {
    this.pipeline.publish(message, publisher);
    for (const hook of this.hooks.on.onWillSent) hook.onWillSent(clientId, message);
  }
}

/** Who a will is published as when its connection is long gone (a delayed will, or one restored at start). */
function willClient(session: Session): ClientInfo {
  return {
    clientId: session.clientId,
    username: session.username,
    protocolVersion: session.protocolVersion,
    remoteAddress: undefined,
    remotePort: undefined,
    listener: 'will',
    inline: false,
  };
}
