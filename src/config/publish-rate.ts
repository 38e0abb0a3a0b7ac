import type { ClientInfo, DisconnectInfo, Hook, PublishVerdict } from '../broker/hooks.js';
import { ReasonCode } from '../packets/reason-codes.js';

/** What happens to a client publishing faster than allowed. */
export const PublishRateAction = {
  /** v5: DISCONNECT 0x96 Message rate too high; v3: the connection is closed. */
  Disconnect: 'disconnect',
  /** Hold the client's packets until it is back under the rate: TCP backpressure slows it down. */
  Throttle: 'throttle',
} as const;
export type PublishRateAction = (typeof PublishRateAction)[keyof typeof PublishRateAction];

export interface PublishRateLimit {
  /** PUBLISH packets per second per client, sustained. */
  readonly perSecond: number;
  /** Packets a client may send at once above the sustained rate. Default `perSecond`. */
  readonly burst?: number;
  readonly action: PublishRateAction;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** A client the broker can end with a reason code (the broker's Connection is one). */
interface Disconnectable {
  disconnect(reasonCode: number, reasonString?: string): void;
}

const CONTINUE: PublishVerdict = { action: 'continue' };

/**
 * A hook enforcing a per-client publish rate with a token bucket. Throttling works because the broker
 * stops reading a client while one of its hooks is pending, so a delayed verdict is backpressure.
 */
export function publishRateLimiter(limit: PublishRateLimit): Hook {
  if (!(limit.perSecond > 0)) throw new RangeError(`publish rate must be > 0, got ${limit.perSecond}`);
  const burst = limit.burst ?? limit.perSecond;
  const buckets = new Map<string, Bucket>();
  return {
    id: 'publish-rate-limit',
    onPublish(client: ClientInfo): PublishVerdict | Promise<PublishVerdict> {
      const now = Date.now();
      let bucket = buckets.get(client.clientId);
      if (bucket === undefined) {
        bucket = { tokens: burst, at: now };
        buckets.set(client.clientId, bucket);
      }
      bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * limit.perSecond);
      bucket.at = now;
      bucket.tokens -= 1;
      if (bucket.tokens >= 0) return CONTINUE;
      if (limit.action === 'throttle') {
        const waitMs = Math.ceil((-bucket.tokens / limit.perSecond) * 1000);
        return new Promise((resolve) => setTimeout(() => resolve(CONTINUE), waitMs));
      }
      if (isDisconnectable(client))
        client.disconnect(ReasonCode.MessageRateTooHigh, 'publish rate limit exceeded');
      return { action: 'reject', reasonCode: ReasonCode.MessageRateTooHigh };
    },
    onDisconnect(client: ClientInfo, _info: DisconnectInfo): void {
      buckets.delete(client.clientId);
    },
  };
}

function isDisconnectable(client: ClientInfo): client is ClientInfo & Disconnectable {
  return typeof (client as Partial<Disconnectable>).disconnect === 'function';
}
