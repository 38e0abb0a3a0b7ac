/**
 * The engine's one coarse timer over every connection (no connection has a timer of its own): keep alive,
 * the connect timeout, stuck slow readers, and the memory budget's exact figures.
 */
import { ReasonCode } from '../packets/reason-codes.js';
import type { Connection } from './connection.js';
import type { LocalRouter } from './local-router.js';
import type { MemoryBudget } from './memory-budget.js';
import type { ResolvedBrokerOptions } from './options.js';
import type { Session } from './session.js';
import type { BrokerStats } from './stats.js';

/** How often the engine sweeps its connections. */
export const SWEEP_INTERVAL_MS = 500;
/** A muted reader's backlog below which it takes messages again. */
const UNMUTE_BELOW = 16 * 1024;
/**
 * Connections past the connect timeout closed per event-loop turn: a flood of sockets that never send CONNECT
 * times out in waves of hundreds per sweep, and closing them all in one turn would stall every other client.
 */
const TIMEOUT_CLOSES_PER_TURN = 64;

/** One sweep over the engine's connections and sessions. */
export function sweepConnections(
  connections: ReadonlySet<Connection>,
  sessions: ReadonlyMap<string, Session>,
  router: LocalRouter,
  memory: MemoryBudget,
  options: ResolvedBrokerOptions,
  stats: BrokerStats,
): void {
  const now = Date.now();
  let buffered = 0;
  let queued = 0;
  // forEach, not for-of: a sweep runs too seldom to be optimized, and an unoptimized for-of makes an
  // iterator result per element (garbage in proportion to the clients, twice a second).
  sessions.forEach((session) => {
    queued += session.queuedByteCount;
  });
  connections.forEach((conn) => {
    buffered += conn.backlogBytes();
  });
  memory.reset(buffered, queued);
  // Muted readers that really caught up (or went away) take messages again; one that is merely below the
  // limit stays muted, or it would fill up again and be muted again every sweep.
  for (const session of router.mutedSessions) {
    if (session.link === undefined || session.link.backlogBytes() < UNMUTE_BELOW) router.unmute(session);
  }
  const timedOut: Connection[] = [];
  connections.forEach((conn) => {
    if (conn.state === 'connecting') {
      if (now - conn.openedAt > options.connectTimeoutMs) timedOut.push(conn);
      return;
    }
    if (conn.state !== 'connected') return;
    conn.trim();
    // [MQTT-3.1.2-22] (3.1.1: [MQTT-3.1.2-24]) Nothing within 1.5 times the keep alive: closed (v5: 0x8D).
    // A client not read while its acknowledgements wait for commits is silent because of us.
    if (conn.keepaliveMs > 0 && !conn.readsHeld && now - conn.lastActivity > conn.keepaliveMs * 1.5) {
      conn.disconnect(ReasonCode.KeepAliveTimeout, 'keep alive timeout');
      return;
    }
    if (conn.congested()) {
      if (conn.congestedSince === 0) conn.congestedSince = now;
      else if (now - conn.congestedSince > options.slowClientTimeoutMs) {
        conn.disconnect(ReasonCode.QuotaExceeded, 'client is not reading');
      }
    } else if (conn.congestedSince !== 0) {
      conn.congestedSince = 0;
    }
  });
  if (timedOut.length > 0) closeTimedOut(timedOut, 0, () => stats.connectRefused['connect-timeout']++);
}

/** What closing a timed-out connection needs of it. */
interface Closable {
  readonly state: string;
  close(): void;
}

/**
 * Close the connections still waiting for CONNECT, TIMEOUT_CLOSES_PER_TURN now and the rest in later turns;
 * `closed` is told of each one closed.
 */
export function closeTimedOut(list: readonly Closable[], from = 0, closed?: () => void): void {
  const end = Math.min(list.length, from + TIMEOUT_CLOSES_PER_TURN);
  for (let i = from; i < end; i++) {
    const conn = list[i] as Closable;
    // Its CONNECT may have come in since the sweep.
    if (conn.state !== 'connecting') continue;
    conn.close();
    closed?.();
  }
  if (end < list.length) setImmediate(closeTimedOut, list, end, closed);
}
