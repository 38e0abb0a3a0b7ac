import type { ClientInfo } from '../hooks/types.js';
import { ReasonCode } from '../packets/reason-codes.js';
import type { Broker } from './broker.js';
import { Connection } from './connection.js';
import { createMessage, type Message } from './message.js';
import { Session } from './session.js';

const NEVER_EXPIRES = 0xffffffff;
/** setTimeout's largest delay; longer session expiries are re-armed in steps. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * A session's life around its connections (spec 4.1): take-over, resume or clean start at CONNECT; at
 * disconnect the will (with its delay) and the expiry timer; at the end, subscriptions out of the index
 * and a will still waiting published.
 */
export class SessionLifecycle {
  constructor(private readonly broker: Broker) {}

  /** Take over any live connection of this client id, then resume or start its session. */
  attach(conn: Connection, clean: boolean, expiry: number): { session: Session; sessionPresent: boolean } {
    let session = this.broker.sessions.get(conn.clientId);
    const previous = session?.link;
    if (previous instanceof Connection && previous !== conn) {
      // [MQTT-3.1.4-3] The existing connection is closed (v5: DISCONNECT 0x8E Session taken over).
      previous.disconnect(ReasonCode.SessionTakenOver);
      session = this.broker.sessions.get(conn.clientId);
    }
    if (session !== undefined && clean) {
      // [MQTT-3.1.2-4] Clean Start: the existing session is discarded.
      this.end(session);
      session = undefined;
    }
    let sessionPresent = false;
    if (session === undefined) {
      session = new Session(conn.clientId);
      this.broker.sessions.set(conn.clientId, session);
    } else {
      // [MQTT-3.2.2-3] Session Present is 1 when a session is resumed.
      sessionPresent = true;
      if (session.expiryTimer !== undefined) clearTimeout(session.expiryTimer);
      session.expiryTimer = undefined;
      // [MQTT-3.1.3-9] A will waiting for its delay is cancelled when the session resumes in time.
      if (session.pendingWill !== undefined) clearTimeout(session.pendingWill.timer);
      session.pendingWill = undefined;
    }
    session.expiryInterval = expiry;
    session.link = conn;
    conn.session = session;
    this.broker.sessionChanged(session);
    return { session, sessionPresent };
  }

  /** The connection of a session ended: publish or schedule its will, start the session's expiry. */
  detach(conn: Connection, session: Session): void {
    if (session.link !== conn) return;
    session.link = undefined;
    session.disconnectedAt = Date.now();
    this.broker.sessionChanged(session);
    const will = conn.will;
    if (will !== undefined) {
      // [MQTT-3.1.3-9] The will waits for the Will Delay Interval, or until the session ends.
      const delay = Math.min(will.properties?.willDelayInterval ?? 0, session.expiryInterval);
      if (delay === 0) {
        this.publishWill(session.clientId, conn, will);
      } else {
        const timer = setTimeout(() => {
          session.pendingWill = undefined;
          this.publishWill(session.clientId, conn, will);
        }, delay * 1000);
        timer.unref();
        session.pendingWill = { will, timer };
      }
    }
    if (session.expiryInterval === 0) {
      // [MQTT-4.1.0-2] (3.1.1: [MQTT-3.1.2-6]) Session Expiry 0 (v3 clean session): the session ends with the connection.
      this.end(session);
    } else if (session.expiryInterval !== NEVER_EXPIRES) {
      this.armExpiry(session, session.expiryInterval * 1000);
    }
  }

  private armExpiry(session: Session, ms: number): void {
    const step = Math.min(ms, MAX_TIMER_MS);
    session.expiryTimer = setTimeout(() => {
      if (ms > step) this.armExpiry(session, ms - step);
      else {
        this.end(session);
        for (const hook of this.broker.hooks.on.onClientExpired) hook.onClientExpired(session.clientId);
      }
    }, step);
    session.expiryTimer.unref();
  }

  /** Remove a session: its subscriptions leave the index; a will still waiting is published now. */
  end(session: Session): void {
    if (this.broker.sessions.get(session.clientId) === session) this.broker.sessions.delete(session.clientId);
    if (session.expiryTimer !== undefined) clearTimeout(session.expiryTimer);
    session.expiryTimer = undefined;
    for (const record of session.subscriptions.values()) {
      this.broker.index.unsubscribe(session.clientId, record.filter, record.shareGroup);
    }
    const pending = session.pendingWill;
    session.pendingWill = undefined;
    if (pending !== undefined) {
      clearTimeout(pending.timer);
      this.publishWill(session.clientId, undefined, pending.will);
    }
    session.reset();
    for (const hook of this.broker.hooks.on.onSessionRemoved) hook.onSessionRemoved(session.clientId);
  }

  private publishWill(
    clientId: string,
    client: ClientInfo | undefined,
    will: NonNullable<Connection['will']>,
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
    for (const hook of this.broker.hooks.on.onWill) {
      message = hook.onWill(clientId, message);
      if (message === undefined) return;
    }
    const ready = message;
    // The will is published with its client's write permission, as its own PUBLISH would be.
    const allowed = client === undefined ? true : this.broker.authorize(client, ready.topic, 'write');
    if (allowed === true) this.sendWill(clientId, ready);
    else if (allowed instanceof Promise) allowed.then((ok) => ok && this.sendWill(clientId, ready));
  }

  private sendWill(clientId: string, message: Message): void {
    if (message.retain) this.broker.retain(message);
    this.broker.route(message);
    for (const hook of this.broker.hooks.on.onWillSent) hook.onWillSent(clientId, message);
  }
}
