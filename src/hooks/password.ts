import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';

/** scrypt cost parameters written into every new hash (16 MiB of memory, tens of ms per check). */
const DEFAULT_PARAMS = { N: 16_384, r: 8, p: 1 } as const;
const SALT_BYTES = 16;
const KEY_BYTES = 32;
const PREFIX = '$scrypt$';

/** The parts of a `$scrypt$N=..,r=..,p=..$<salt>$<hash>` string. */
interface ParsedHash {
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

function scryptAsync(
  password: string,
  salt: Buffer,
  keyLength: number,
  params: ScryptOptions,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keyLength, params, (err, key) => (err === null ? resolve(key) : reject(err)));
  });
}

/** Memory scrypt needs for these parameters, with headroom, so Node's 32 MiB default cap never refuses it. */
function maxmemFor(N: number, r: number, p: number): number {
  return 128 * N * r * (p + 1) + 1024 * 1024;
}

/**
 * Hash a password for the auth ledger: `$scrypt$N=16384,r=8,p=1$<salt base64>$<hash base64>`, with a fresh
 * random salt, so equal passwords give different strings.
 */
export async function hashPassword(password: string): Promise<string> {
  const { N, r, p } = DEFAULT_PARAMS;
  const salt = randomBytes(SALT_BYTES);
  const key = await scryptAsync(password, salt, KEY_BYTES, { N, r, p, maxmem: maxmemFor(N, r, p) });
  return `${PREFIX}N=${N},r=${r},p=${p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Parse a stored hash; undefined when it is not in the `$scrypt$` format or its parameters are unsafe. */
export function parsePasswordHash(stored: string): ParsedHash | undefined {
  if (!stored.startsWith(PREFIX)) return undefined;
  const [params, saltB64, hashB64, extra] = stored.slice(PREFIX.length).split('$');
  if (params === undefined || saltB64 === undefined || hashB64 === undefined || extra !== undefined)
    return undefined;
  const values = new Map<string, number>();
  for (const part of params.split(',')) {
    const match = /^([Nrp])=(\d{1,9})$/.exec(part);
    if (match === null) return undefined;
    values.set(match[1] as string, Number(match[2]));
  }
  const N = values.get('N');
  const r = values.get('r');
  const p = values.get('p');
  if (N === undefined || r === undefined || p === undefined) return undefined;
  // N must be a power of two above 1; the bounds keep a hostile config from exhausting memory.
  if (N < 2 || N > 1_048_576 || (N & (N - 1)) !== 0 || r < 1 || r > 32 || p < 1 || p > 16) return undefined;
  const salt = Buffer.from(saltB64, 'base64');
  const hash = Buffer.from(hashB64, 'base64');
  if (salt.length === 0 || hash.length < 16) return undefined;
  return { N, r, p, salt, hash };
}

/** True when `password` matches `stored` (compared in constant time); false for a malformed hash too. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parsePasswordHash(stored);
  if (parsed === undefined) return false;
  const { N, r, p, salt, hash } = parsed;
  const key = await scryptAsync(password, salt, hash.length, { N, r, p, maxmem: maxmemFor(N, r, p) });
  return timingSafeEqual(key, hash);
}
