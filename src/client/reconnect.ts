/**
 * Reconnect policy: exponential backoff with jitter, and which failures are worth retrying.
 */
import { isMqttError } from '../packets/errors.js';
import { ReasonCode } from '../packets/reason-codes.js';
import type { ReconnectOptions } from './types.js';

/** A fully specified reconnect policy. */
export interface ReconnectPolicy {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  readonly factor: number;
  readonly jitter: number;
}

/** 1 s doubling up to 30 s, full jitter. */
export const DEFAULT_RECONNECT_POLICY: ReconnectPolicy = Object.freeze({
  initialDelayMs: 1000,
  maxDelayMs: 30_000,
  factor: 2,
  jitter: 1,
});

/** The policy for the `reconnect` option, or undefined when reconnecting is off. Throws RangeError on bad values. */
export function resolveReconnectPolicy(
  option: false | ReconnectOptions | undefined,
): ReconnectPolicy | undefined {
  if (option === false) return undefined;
  const policy: ReconnectPolicy = { ...DEFAULT_RECONNECT_POLICY, ...option };
  if (!(policy.initialDelayMs >= 0) || !(policy.maxDelayMs >= policy.initialDelayMs)) {
    throw new RangeError('reconnect: need 0 <= initialDelayMs <= maxDelayMs');
  }
  if (!(policy.factor >= 1)) throw new RangeError('reconnect: factor must be >= 1');
  if (!(policy.jitter >= 0 && policy.jitter <= 1)) throw new RangeError('reconnect: jitter must be in 0..1');
  return policy;
}

/**
 * The delay before reconnect attempt `attempt` (1-based): `min(maxDelayMs, initialDelayMs * factor^(attempt-1))`
 * reduced by a random fraction of up to `jitter`, so that many clients dropped together do not return together.
 */
export function backoffDelay(
  attempt: number,
  policy: ReconnectPolicy,
  random: () => number = Math.random,
): number {
  const exponential = policy.initialDelayMs * policy.factor ** Math.max(0, attempt - 1);
  const capped = Math.min(policy.maxDelayMs, exponential);
  return Math.round(capped * (1 - policy.jitter * random()));
}

/**
 * Reason codes after which reconnecting cannot succeed without a change on either side (credentials,
 * protocol version, client id, configuration), or would fight another client over the session.
 */
const FATAL_REASON_CODES: ReadonlySet<number> = new Set([
  ReasonCode.UnsupportedProtocolVersion,
  ReasonCode.ClientIdentifierNotValid,
  ReasonCode.BadUserNameOrPassword,
  ReasonCode.NotAuthorized,
  ReasonCode.Banned,
  ReasonCode.BadAuthenticationMethod,
  ReasonCode.SessionTakenOver,
  ReasonCode.UseAnotherServer,
  ReasonCode.ServerMoved,
]);

/** True when the client should reconnect after losing its connection for `reason`. */
export function shouldReconnect(reason: unknown): boolean {
  return !(isMqttError(reason) && FATAL_REASON_CODES.has(reason.reasonCode));
}
