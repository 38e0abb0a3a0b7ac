/** How many wrong passwords an address may send, and for how long it is then refused. */
export interface LoginLimits {
  /** Wrong passwords allowed within `windowMs` before the address is locked out. Default 5. */
  readonly maxFailures?: number;
  /** The window failures are counted in, ms. Default 60 000. */
  readonly windowMs?: number;
  /** How long a locked-out address is refused, ms; doubles with each further lockout, up to 1 h. Default 60 000. */
  readonly lockoutMs?: number;
}

interface AddressRecord {
  /** Times of recent failures, oldest first. */
  failures: number[];
  lockedUntil: number;
  lockouts: number;
}

/** Addresses remembered at once; beyond it the oldest records go (a flood of addresses cannot grow memory). */
const MAX_ADDRESSES = 10_000;
const MAX_LOCKOUT_MS = 3_600_000;

/**
 * Rate-limits wrong passwords per remote address: after `maxFailures` failures within `windowMs` the address
 * is refused for `lockoutMs` without its password even being checked (so a guesser costs no scrypt time),
 * and each further lockout doubles. A correct password clears the address's record.
 */
export class LoginLimiter {
  private readonly maxFailures: number;
  private readonly windowMs: number;
  private readonly lockoutMs: number;
  private readonly records = new Map<string, AddressRecord>();

  constructor(
    limits: LoginLimits = {},
    private readonly now: () => number = Date.now,
  ) {
    this.maxFailures = limits.maxFailures ?? 5;
    this.windowMs = limits.windowMs ?? 60_000;
    this.lockoutMs = limits.lockoutMs ?? 60_000;
  }

  /** Ms until `address` may try again; 0 when it may try now. */
  retryAfterMs(address: string): number {
    const record = this.records.get(address);
    if (record === undefined) return 0;
    return Math.max(0, record.lockedUntil - this.now());
  }

  /** Count a wrong password; returns the lockout it caused, ms (0: none yet). */
  failed(address: string): number {
    const now = this.now();
    let record = this.records.get(address);
    if (record === undefined) {
      if (this.records.size >= MAX_ADDRESSES) {
        const oldest = this.records.keys().next().value;
        if (oldest !== undefined) this.records.delete(oldest);
      }
      record = { failures: [], lockedUntil: 0, lockouts: 0 };
      this.records.set(address, record);
    }
    record.failures = record.failures.filter((at) => now - at < this.windowMs);
    record.failures.push(now);
    if (record.failures.length < this.maxFailures) return 0;
    const lockout = Math.min(MAX_LOCKOUT_MS, this.lockoutMs * 2 ** record.lockouts);
    record.lockouts++;
    record.lockedUntil = now + lockout;
    record.failures = [];
    return lockout;
  }

  /** A correct password: forget the address's failures. */
  succeeded(address: string): void {
    this.records.delete(address);
  }
}
