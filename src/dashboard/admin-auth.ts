import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isLoopbackAddress } from '../hooks/allow-all.js';
import { hashPassword, parsePasswordHash, verifyPassword } from '../hooks/password.js';
import { LoginLimiter, type LoginLimits } from './login-limiter.js';
import type { AdminRole, WhoAmI } from './wire-types.js';

/** One dashboard user, as the config file's `admin.users` lists them. */
export interface AdminUser {
  readonly username: string;
  /** A `$scrypt$...` hash made by `starling passwd`. */
  readonly password: string;
  readonly role: AdminRole;
}

/** Who made a request, once authenticated. */
export interface Principal {
  readonly username: string | undefined;
  readonly role: AdminRole;
  readonly mode: 'open' | 'login' | 'basic';
  /** What `X-CSRF-Token` must hold on a write; undefined for HTTP Basic (no cookie, so no CSRF). */
  readonly csrfToken: string | undefined;
}

/** An authentication that did not go through: the status and the reason to answer with. */
export interface AuthRefusal {
  readonly status: 401 | 403 | 429;
  readonly error: string;
  /** Seconds, for Retry-After on 429. */
  readonly retryAfter?: number;
}

export type AuthOutcome = Principal | AuthRefusal;

export interface AdminAuthOptions {
  readonly loginLimits?: LoginLimits;
  /** A login session ends after this long without a request, ms. Default 1 h. */
  readonly sessionIdleMs?: number;
  /** A login session ends this long after login whatever happens, ms. Default 12 h. */
  readonly sessionMaxMs?: number;
}

interface LoginSession {
  readonly username: string;
  readonly csrfToken: string;
  readonly createdAt: number;
  lastSeen: number;
}

export const SESSION_COOKIE = 'starling_admin';
const MAX_SESSIONS = 1_000;
const BASIC_CACHE_MS = 60_000;
const MAX_BASIC_CACHE = 256;

/** The line the broker logs at start when no admin user is configured. */
export const OPEN_DASHBOARD_NOTICE =
  'no admin user configured: the dashboard and admin API answer loopback clients only, without login';

/** True when an authentication (or a login, or a password check) was refused. */
export function isRefusal<T extends object>(outcome: T | AuthRefusal): outcome is AuthRefusal {
  return 'status' in outcome;
}

/**
 * Logins, roles and CSRF for the dashboard. With admin users configured, a request needs a session cookie
 * (from `POST /api/v1/login`) or HTTP Basic credentials; wrong passwords are rate-limited per address.
 * With none, loopback clients are let in as admin without login and everyone else is refused.
 */
export class AdminAuth {
  private users = new Map<string, AdminUser>();
  private readonly sessions = new Map<string, LoginSession>();
  private readonly basicCache = new Map<string, { username: string; until: number }>();
  private readonly limiter: LoginLimiter;
  private readonly idleMs: number;
  private readonly maxMs: number;
  private readonly openCsrfToken = token();
  private dummyHash: Promise<string> | undefined;

  constructor(users: readonly AdminUser[], options: AdminAuthOptions = {}) {
    this.setUsers(users);
    this.limiter = new LoginLimiter(options.loginLimits);
    this.idleMs = options.sessionIdleMs ?? 3_600_000;
    this.maxMs = options.sessionMaxMs ?? 12 * 3_600_000;
  }

  /** Replace the users (e.g. on a config reload); sessions of removed users end, role changes apply at once. */
  setUsers(users: readonly AdminUser[]): void {
    const next = new Map<string, AdminUser>();
    for (const user of users) {
      if (next.has(user.username)) throw new RangeError(`admin user '${user.username}' is listed twice`);
      if (parsePasswordHash(user.password) === undefined)
        throw new RangeError(
          `admin user '${user.username}': password is not a hash made by \`starling passwd\``,
        );
      if (user.role !== 'admin' && user.role !== 'read-only')
        throw new RangeError(`admin user '${user.username}': role must be admin or read-only`);
      next.set(user.username, user);
    }
    this.users = next;
    this.basicCache.clear();
  }

  /** True when no admin user is configured (loopback-only, no login). */
  get open(): boolean {
    return this.users.size === 0;
  }

  /** What to log at start, when there is something to say. */
  get notice(): string | undefined {
    return this.open ? OPEN_DASHBOARD_NOTICE : undefined;
  }

  /** Who is calling: a session cookie, HTTP Basic, or (no users configured) a loopback caller. */
  async authenticate(req: IncomingMessage): Promise<AuthOutcome> {
    if (this.open) {
      if (!isLoopbackAddress(req.socket.remoteAddress))
        return {
          status: 403,
          error: 'no admin user is configured: the dashboard answers loopback clients only',
        };
      // A loopback caller naming another host is a page of another site reaching us by DNS rebinding.
      if (!isLoopbackHost(req.headers.host))
        return { status: 403, error: 'no admin user is configured: requests must name a loopback host' };
      return { username: undefined, role: 'admin', mode: 'open', csrfToken: this.openCsrfToken };
    }
    const session = this.sessionOf(req);
    if (session !== undefined) {
      const user = this.users.get(session.username);
      if (user !== undefined)
        return { username: user.username, role: user.role, mode: 'login', csrfToken: session.csrfToken };
    }
    const basic = parseBasic(req.headers.authorization);
    if (basic !== undefined) return this.checkBasic(req, basic.username, basic.password);
    return { status: 401, error: 'login required' };
  }

  /** Check a username and password; on success start a session and return its cookie value. */
  async login(
    req: IncomingMessage,
    username: string,
    password: string,
  ): Promise<{ principal: Principal; cookie: string } | AuthRefusal> {
    if (this.open)
      return { status: 403, error: 'no admin user is configured: there is nothing to log in to' };
    const user = await this.verify(req, username, password);
    if (isRefusal(user)) return user;
    const now = Date.now();
    this.pruneSessions(now);
    const value = token();
    const session: LoginSession = {
      username: user.username,
      csrfToken: token(),
      createdAt: now,
      lastSeen: now,
    };
    this.sessions.set(value, session);
    const principal: Principal = {
      username: user.username,
      role: user.role,
      mode: 'login',
      csrfToken: session.csrfToken,
    };
    return { principal, cookie: value };
  }

  /** End the session the request carries, if any. */
  logout(req: IncomingMessage): void {
    const value = cookieValue(req.headers.cookie, SESSION_COOKIE);
    if (value !== undefined) this.sessions.delete(value);
  }

  /**
   * The reason to refuse a state-changing request (403), or undefined to let it through: another site's
   * page (Origin or Sec-Fetch-Site), a missing or wrong CSRF token on cookie and open sessions, a read-only
   * role where `needsAdmin` (everything but logout). HTTP Basic needs no token: a browser never adds our
   * credentials to another site's request unasked.
   */
  refuseWrite(req: IncomingMessage, principal: Principal, needsAdmin: boolean): string | undefined {
    const crossSite = refuseCrossSite(req);
    if (crossSite !== undefined) return crossSite;
    if (principal.csrfToken !== undefined && req.headers['x-csrf-token'] !== principal.csrfToken)
      return 'missing or wrong CSRF token (send the token from GET /api/v1/whoami as X-CSRF-Token)';
    if (needsAdmin && principal.role !== 'admin')
      return `user '${principal.username ?? ''}' has role ${principal.role}; this needs role admin`;
    return undefined;
  }

  /**
   * Whether a principal authenticated earlier may still read: its login session has not ended (logout,
   * expiry) and its user is still configured. A live stream asks this before each event.
   */
  stillValid(req: IncomingMessage, principal: Principal): boolean {
    if (principal.mode === 'open') return this.open;
    if (principal.username === undefined || !this.users.has(principal.username)) return false;
    if (principal.mode === 'basic') return true;
    const value = cookieValue(req.headers.cookie, SESSION_COOKIE);
    const session = value === undefined ? undefined : this.sessions.get(value);
    return (
      session !== undefined && session.username === principal.username && !this.expired(session, Date.now())
    );
  }

  /** What GET /api/v1/whoami answers. */
  whoami(outcome: AuthOutcome): WhoAmI {
    if (isRefusal(outcome))
      return {
        authenticated: false,
        username: undefined,
        role: undefined,
        mode: undefined,
        csrfToken: undefined,
      };
    return {
      authenticated: true,
      username: outcome.username,
      role: outcome.role,
      mode: outcome.mode,
      csrfToken: outcome.csrfToken,
    };
  }

  private sessionOf(req: IncomingMessage): LoginSession | undefined {
    const value = cookieValue(req.headers.cookie, SESSION_COOKIE);
    if (value === undefined) return undefined;
    const session = this.sessions.get(value);
    if (session === undefined) return undefined;
    const now = Date.now();
    if (this.expired(session, now)) {
      this.sessions.delete(value);
      return undefined;
    }
    session.lastSeen = now;
    return session;
  }

  private expired(session: LoginSession, now: number): boolean {
    return now - session.lastSeen > this.idleMs || now - session.createdAt > this.maxMs;
  }

  private async checkBasic(req: IncomingMessage, username: string, password: string): Promise<AuthOutcome> {
    // scrypt costs tens of ms: a script calling in a loop is checked once a minute, not on every call.
    const key = createHash('sha256').update(`${username}\0${password}`).digest('base64');
    const cached = this.basicCache.get(key);
    const user = this.users.get(username);
    if (cached !== undefined && cached.until > Date.now() && user !== undefined)
      return { username, role: user.role, mode: 'basic', csrfToken: undefined };
    const verified = await this.verify(req, username, password);
    if (isRefusal(verified)) return verified;
    if (this.basicCache.size >= MAX_BASIC_CACHE) this.basicCache.clear();
    this.basicCache.set(key, { username, until: Date.now() + BASIC_CACHE_MS });
    return { username, role: verified.role, mode: 'basic', csrfToken: undefined };
  }

  /** The user when the password is right; 401, or 429 while the address is locked out. */
  private async verify(
    req: IncomingMessage,
    username: string,
    password: string,
  ): Promise<AdminUser | AuthRefusal> {
    const address = req.socket.remoteAddress ?? 'unknown';
    const wait = this.limiter.retryAfterMs(address);
    if (wait > 0) return tooMany(wait);
    const user = this.users.get(username);
    // An unknown user costs the same scrypt as a known one, so timing does not tell which names exist.
    this.dummyHash ??= hashPassword(token());
    const ok = await verifyPassword(password, user?.password ?? (await this.dummyHash));
    if (ok && user !== undefined) {
      this.limiter.succeeded(address);
      return user;
    }
    const lockout = this.limiter.failed(address);
    if (lockout > 0) return tooMany(lockout);
    return { status: 401, error: 'wrong username or password' };
  }

  private pruneSessions(now: number): void {
    for (const [value, session] of this.sessions) {
      if (now - session.lastSeen > this.idleMs || now - session.createdAt > this.maxMs)
        this.sessions.delete(value);
    }
    // Still full: the oldest login goes.
    if (this.sessions.size >= MAX_SESSIONS) {
      const oldest = this.sessions.keys().next().value;
      if (oldest !== undefined) this.sessions.delete(oldest);
    }
  }
}

function tooMany(ms: number): AuthRefusal {
  const seconds = Math.ceil(ms / 1000);
  return {
    status: 429,
    error: `too many wrong passwords from this address; try again in ${seconds} s`,
    retryAfter: seconds,
  };
}

function token(): string {
  return randomBytes(32).toString('base64url');
}

/** A request another site's page made: its Origin names another host, or Sec-Fetch-Site says cross-site. */
export function refuseCrossSite(req: IncomingMessage): string | undefined {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none')
    return `cross-site request refused (Sec-Fetch-Site: ${site})`;
  const origin = req.headers.origin;
  if (origin === undefined) return undefined;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    return `cross-origin request refused (Origin: ${origin})`;
  }
  if (host !== req.headers.host) return `cross-origin request refused (Origin: ${origin})`;
  return undefined;
}

/** True for a Host header naming this machine: localhost, 127.0.0.0/8 or [::1], with or without a port. */
export function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined) return false;
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '');
  return name === 'localhost' || name === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

function parseBasic(header: string | undefined): { username: string; password: string } | undefined {
  if (header === undefined || !/^basic /i.test(header)) return undefined;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** One cookie's value from a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
