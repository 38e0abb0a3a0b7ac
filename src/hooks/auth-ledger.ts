import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import type { AclAccess, ClientInfo, Hook } from '../broker/hooks.js';
import type { ConnectPacket } from '../packets/types.js';
import { parsePasswordHash, verifyPassword } from './password.js';

/** One user of the ledger. `clientId` and `remoteAddress` are optional extra conditions (`*` matches any run). */
export interface LedgerUser {
  readonly username: string;
  /** A `$scrypt$...` hash made by `starling passwd`. */
  readonly password: string;
  readonly clientId?: string;
  readonly remoteAddress?: string;
}

export const ACL_ACCESS = ['read', 'write', 'readwrite', 'deny'] as const;
export type LedgerAccess = (typeof ACL_ACCESS)[number];

/**
 * One ACL rule. `filter` may hold `%u` (username) and `%c` (client id); a rule naming `username` applies to
 * that user only. Rules are tried in order; the first whose user and filter match decides.
 */
export interface LedgerRule {
  readonly filter: string;
  readonly access: LedgerAccess;
  readonly username?: string;
}

/** The ledger's config: users, ACL rules, and whether clients without a username may connect. */
export interface LedgerConfig {
  readonly users?: readonly LedgerUser[];
  readonly acl?: readonly LedgerRule[];
  /** Accept clients that send no username (their ACL rules must not need `%u`). Default false. */
  readonly anonymous?: boolean;
}

/** A config the ledger cannot use: names the offending entry. */
export class LedgerConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LedgerConfigError';
  }
}

/**
 * The built-in auth hook: users with scrypt password hashes (matched on username, client id and remote
 * address) and topic ACL rules with first-match-wins. `reload()` swaps in a re-read file atomically, so live
 * connections stay; a broken file keeps the previous rules.
 */
export class AuthLedger implements Hook {
  readonly id = 'auth-ledger';
  private config: Required<LedgerConfig>;
  private readonly path: string | undefined;

  private constructor(config: Required<LedgerConfig>, path: string | undefined) {
    this.config = config;
    this.path = path;
  }

  /** A ledger from an already-parsed object (e.g. the `auth` section of the broker config). */
  static fromObject(obj: unknown): AuthLedger {
    return new AuthLedger(validateLedger(obj), undefined);
  }

  /** A ledger read from a JSON (`.json`) or YAML file; `reload()` re-reads the same file. */
  static async fromFile(path: string): Promise<AuthLedger> {
    return new AuthLedger(await readLedgerFile(path), path);
  }

  /** Re-read the file (or use `obj` when given); on error the current rules stay and the error is thrown. */
  async reload(obj?: unknown): Promise<void> {
    if (obj !== undefined) this.config = validateLedger(obj);
    else if (this.path !== undefined) this.config = await readLedgerFile(this.path);
    else
      throw new LedgerConfigError('this ledger was not loaded from a file: pass the new config to reload()');
  }

  get userCount(): number {
    return this.config.users.length;
  }

  async onConnectAuthenticate(client: ClientInfo, connect: ConnectPacket): Promise<boolean> {
    const { users, anonymous } = this.config;
    if (connect.username === undefined) return anonymous;
    const password = connect.password === undefined ? '' : connect.password.toString('utf8');
    for (const user of users) {
      if (user.username !== connect.username) continue;
      if (user.clientId !== undefined && !globMatch(user.clientId, client.clientId)) continue;
      if (
        user.remoteAddress !== undefined &&
        !globMatch(user.remoteAddress, normalizeAddress(client.remoteAddress))
      ) {
        continue;
      }
      if (await verifyPassword(password, user.password)) return true;
    }
    return false;
  }

  onAclCheck(client: ClientInfo, topic: string, access: AclAccess): boolean {
    const rules = this.config.acl;
    // A ledger without rules only authenticates: every authenticated client may use every topic.
    if (rules.length === 0) return true;
    for (const rule of rules) {
      if (rule.username !== undefined && rule.username !== client.username) continue;
      const filter = substitute(rule.filter, client);
      if (filter === undefined || !filterCovers(filter, topic)) continue;
      if (rule.access === 'deny') return false;
      return rule.access === 'readwrite' || rule.access === access;
    }
    return false;
  }
}

async function readLedgerFile(path: string): Promise<Required<LedgerConfig>> {
  const text = await readFile(path, 'utf8');
  let obj: unknown;
  try {
    obj = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new LedgerConfigError(`${path}: ${(err as Error).message}`);
  }
  return validateLedger(obj);
}

function validateLedger(obj: unknown): Required<LedgerConfig> {
  if (typeof obj !== 'object' || obj === null) throw new LedgerConfigError('auth config must be an object');
  const raw = obj as Record<string, unknown>;
  const users = arrayField(raw.users, 'users').map((entry, i) => validateUser(entry, `users[${i}]`));
  const acl = arrayField(raw.acl, 'acl').map((entry, i) => validateRule(entry, `acl[${i}]`));
  if (raw.anonymous !== undefined && typeof raw.anonymous !== 'boolean') {
    throw new LedgerConfigError('anonymous must be true or false');
  }
  return { users, acl, anonymous: raw.anonymous === true };
}

function arrayField(value: unknown, name: string): Record<string, unknown>[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new LedgerConfigError(`${name} must be a list`);
  return value.map((entry, i) => {
    if (typeof entry !== 'object' || entry === null)
      throw new LedgerConfigError(`${name}[${i}] must be an object`);
    return entry as Record<string, unknown>;
  });
}

function stringField(
  entry: Record<string, unknown>,
  key: string,
  where: string,
  required: boolean,
): string | undefined {
  const value = entry[key];
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'string' || value.length === 0)
    throw new LedgerConfigError(`${where}.${key} must be a non-empty string`);
  return value;
}

function validateUser(entry: Record<string, unknown>, where: string): LedgerUser {
  const username = stringField(entry, 'username', where, true) as string;
  const password = stringField(entry, 'password', where, true) as string;
  // Plain-text passwords are refused: the file holds only hashes made by `starling passwd`.
  if (parsePasswordHash(password) === undefined) {
    throw new LedgerConfigError(
      `${where}.password must be a $scrypt$ hash (make one with 'starling passwd')`,
    );
  }
  const clientId = stringField(entry, 'clientId', where, false);
  const remoteAddress = stringField(entry, 'remoteAddress', where, false);
  return {
    username,
    password,
    ...(clientId === undefined ? {} : { clientId }),
    ...(remoteAddress === undefined ? {} : { remoteAddress }),
  };
}

function validateRule(entry: Record<string, unknown>, where: string): LedgerRule {
  const filter = stringField(entry, 'filter', where, true) as string;
  const access = entry.access ?? 'readwrite';
  if (!ACL_ACCESS.includes(access as LedgerAccess)) {
    throw new LedgerConfigError(`${where}.access must be one of ${ACL_ACCESS.join(', ')}`);
  }
  const username = stringField(entry, 'username', where, false);
  return { filter, access: access as LedgerAccess, ...(username === undefined ? {} : { username }) };
}

/** `%u` / `%c` replaced; undefined when the rule needs a username the client does not have. */
function substitute(filter: string, client: ClientInfo): string | undefined {
  if (!filter.includes('%')) return filter;
  if (filter.includes('%u') && client.username === undefined) return undefined;
  // A username or client id holding wildcards or separators must not widen the rule.
  const unsafe = /[+#/]/;
  if (filter.includes('%u') && unsafe.test(client.username ?? '')) return undefined;
  if (filter.includes('%c') && unsafe.test(client.clientId)) return undefined;
  return filter.replaceAll('%u', client.username ?? '').replaceAll('%c', client.clientId);
}

/**
 * True when every topic `target` can name is also matched by `rule`: a topic name for publishes, a topic
 * filter for subscriptions (so `a/+` is covered by `a/#` but not by `a/b`).
 */
export function filterCovers(rule: string, target: string): boolean {
  const ruleLevels = rule.split('/');
  const targetLevels = target.split('/');
  for (let i = 0; i < ruleLevels.length; i++) {
    const r = ruleLevels[i] as string;
    const t = targetLevels[i];
    if (r === '#') {
      // [MQTT-4.7.2-1] A wildcard at the first level does not match topics starting with '$'.
      return !(i === 0 && t?.startsWith('$') === true);
    }
    if (t === undefined) return false;
    if (r === '+') {
      if (t === '#') return false;
      if (i === 0 && t.startsWith('$')) return false;
      continue;
    }
    if (r !== t) return false;
  }
  return ruleLevels.length === targetLevels.length;
}

function globMatch(pattern: string, value: string | undefined): boolean {
  if (value === undefined) return false;
  if (!pattern.includes('*')) return pattern === value;
  const parts = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('.*')}$`).test(value);
}

/** IPv4-mapped IPv6 addresses compare as plain IPv4, so a rule can say `127.0.0.1`. */
function normalizeAddress(address: string | undefined): string | undefined {
  return address?.startsWith('::ffff:') === true ? address.slice(7) : address;
}
