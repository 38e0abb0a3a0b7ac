/**
 * Records of the storage seam (`src/broker/storage.ts`) for store tests: an offline persistent session, a
 * delivery, a plain subscription.
 */
import type { Message } from '../../src/broker/message.js';
import type { StoredDelivery, StoredSession, StoredSubscription } from '../../src/broker/storage.js';

/** An offline persistent v5 session (expiry 600 s), without a will. */
export const offlineSession = (clientId: string): StoredSession => ({
  clientId,
  expiryInterval: 600,
  protocolVersion: 5,
  username: undefined,
  connected: false,
  disconnectedAt: 1_700_000_000_000,
  will: undefined,
  willDueAt: undefined,
});

/** A delivery of `m` at its QoS, packet id = seq (0 while queued). */
export const storedDelivery = (
  seq: number,
  m: Message,
  state: StoredDelivery['state'] = 'publish',
): StoredDelivery => ({
  seq,
  message: m,
  qos: m.qos,
  retain: false,
  subscriptionIds: undefined,
  packetId: state === 'queued' ? 0 : seq,
  state,
});

/** A QoS 1 subscription with no options. */
export const plainSubscription = (key: string): StoredSubscription => ({
  key,
  qos: 1,
  noLocal: false,
  retainAsPublished: false,
  retainHandling: 0,
  subscriptionId: undefined,
});
