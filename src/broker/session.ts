import type { QoS, WillMessage } from '../packets/types.js';
import type { ClientInfo } from './hooks.js';
import type { Outbound, SessionLink } from './session-link.js';
import type { TimerHandle } from './timer-wheel.js';

/** One subscription of one session, as stored in the topic index. */
export interface SessionSubscription {
  readonly session: Session;
  /** The filter as the client sent it (with `$share/group/` when shared). */
  readonly key: string;
  /** The filter without the share prefix. */
  readonly filter: string;
  readonly shareGroup: string | undefined;
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
  subscriptionId: number | undefined;
}

const NO_SUBSCRIPTIONS: ReadonlyMap<string, SessionSubscription> = new Map();

/**
 * The subscriptions of a session that has exactly one (the common case: a device listening on its own
 * topic), as a read-only map of one entry: a Map's hash table costs some 200 bytes more. Made when asked
 * for (subscribe, unsubscribe, persistence, inspection: never per message); the session keeps the record.
 */
class OneSubscription implements ReadonlyMap<string, SessionSubscription> {
  constructor(readonly record: SessionSubscription) {}
  get size(): number {
    return 1;
  }
  get(key: string): SessionSubscription | undefined {
    return key === this.record.key ? this.record : undefined;
  }
  has(key: string): boolean {
    return key === this.record.key;
  }
  forEach(
    callback: (
      value: SessionSubscription,
      key: string,
      map: ReadonlyMap<string, SessionSubscription>,
    ) => void,
    thisArg?: unknown,
  ): void {
    callback.call(thisArg, this.record, this.record.key, this);
  }
  *entries(): MapIterator<[string, SessionSubscription]> {
    yield [this.record.key, this.record];
  }
  *keys(): MapIterator<string> {
    yield this.record.key;
  }
  *values(): MapIterator<SessionSubscription> {
    yield this.record;
  }
  [Symbol.iterator](): MapIterator<[string, SessionSubscription]> {
    return this.entries();
  }
}

/** Messages waiting behind the inflight window, made with the first and dropped with the last. */
interface Queue {
  items: Outbound[];
  head: number;
  bytes: number;
}

/** What only an offline session needs: when it went away, its expiry, a will waiting for its delay. */
interface OfflineState {
  disconnectedAt: number;
  expiryTimer: TimerHandle | undefined;
  pendingWill: PendingWill | undefined;
}

/** A will waiting for its Will Delay Interval, with its entry in the registry's will wheel. */
export interface PendingWill {
  will: WillMessage;
  dueAt: number;
  timer: TimerHandle;
  client: ClientInfo | undefined;
}
const NOTHING_IN_FLIGHT: ReadonlyMap<number, Outbound> = new Map();

/** `Session.bits`: the next packet identifier (1..65535), the protocol version above it, then flags. */
const PACKET_ID_MASK = 0xffff;
const VERSION_SHIFT = 16;
const INLINE = 1 << 19;
const STORED_ONCE = 1 << 20;
const MUTED = 1 << 21;
const NO_PACKET_IDS: ReadonlySet<number> = new Set();

/**
 * Session state (spec 4.1): subscriptions, QoS 1/2 messages in flight and queued, inbound QoS 2 packet
 * identifiers awaiting PUBREL. It lives on while the client is offline until its expiry interval ends.
 * Its collections are made on first use and dropped when empty: an idle client costs no Map.
 */
export class Session {
  readonly clientId: string;
  /** No subscription, exactly one (the record itself), or a Map from the second on. */
  private subscriptionMap: Map<string, SessionSubscription> | SessionSubscription | undefined;
  private inflightMap: Map<number, Outbound> | undefined;
  private inboundIds: Set<number> | undefined;
  /** The live end, when the client is connected. */
  link: SessionLink | undefined;
  /**
   * The Session Expiry Interval as a signed 32-bit integer (`| 0`): V8 keeps a small integer in the object
   * itself, where 0xFFFFFFFF (never expires, every v3 persistent session) would turn the field into a heap
   * number of its own in every session.
   */
  private expiry = 0;
  /** When it went away and its timers, while offline (made when one is set). */
  private offline: OfflineState | undefined;
  /** What the store knows of the connection (username, will; the protocol version is in `bits`). */
  username: string | undefined;
  will: WillMessage | undefined;
  /** Messages this session did not get, all reasons together. */
  dropped = 0;
  /** Scratch fields of the router: merging overlapping subscriptions without allocating. */
  routeEpoch = 0;
  routeQos: QoS = 0;
  routeRetain = false;
  routeIds: number[] | undefined;

  private queue: Queue | undefined;
  /**
   * The next packet identifier to try (low 16 bits), the protocol version and three flags in one small
   * integer: one field in every session where five would cost 32 bytes more (see the accessors).
   */
  private bits = 1 | (4 << VERSION_SHIFT);

  constructor(clientId: string) {
    this.clientId = clientId;
  }

  /** What the store knows of the connection: its protocol version, kept for its records. */
  get protocolVersion(): 3 | 4 | 5 {
    return ((this.bits >> VERSION_SHIFT) & 7) as 3 | 4 | 5;
  }
  set protocolVersion(version: 3 | 4 | 5) {
    this.bits = (this.bits & ~(7 << VERSION_SHIFT)) | (version << VERSION_SHIFT);
  }
  /** True for sessions of the inline client (never stored). */
  get inline(): boolean {
    return (this.bits & INLINE) !== 0;
  }
  set inline(on: boolean) {
    this.setBit(INLINE, on);
  }
  /** The store holds a record of this session (so ending it must delete the record). */
  get storedOnce(): boolean {
    return (this.bits & STORED_ONCE) !== 0;
  }
  set storedOnce(on: boolean) {
    this.setBit(STORED_ONCE, on);
  }
  /** Its subscriptions are set aside in the router (a slow reader of QoS 0 only): see LocalRouter.mute. */
  get muted(): boolean {
    return (this.bits & MUTED) !== 0;
  }
  set muted(on: boolean) {
    this.setBit(MUTED, on);
  }
  private setBit(bit: number, on: boolean): void {
    this.bits = on ? this.bits | bit : this.bits & ~bit;
  }
  private get nextPacketId(): number {
    return this.bits & PACKET_ID_MASK;
  }
  private set nextPacketId(id: number) {
    this.bits = (this.bits & ~PACKET_ID_MASK) | id;
  }

  /** The subscriptions, by filter as the client sent it. */
  get subscriptions(): ReadonlyMap<string, SessionSubscription> {
    const map = this.subscriptionMap;
    if (map === undefined) return NO_SUBSCRIPTIONS;
    return map instanceof Map ? map : new OneSubscription(map);
  }

  /** How many subscriptions (without making a map of one). */
  get subscriptionCount(): number {
    const map = this.subscriptionMap;
    return map === undefined ? 0 : map instanceof Map ? map.size : 1;
  }

  /** Outbound messages sent and not yet acknowledged, in send order (a Map keeps insertion order). */
  get inflight(): ReadonlyMap<number, Outbound> {
    return this.inflightMap ?? NOTHING_IN_FLIGHT;
  }

  /** Inbound QoS 2 packet identifiers received and not yet released by PUBREL. [MQTT-4.3.3-3] */
  get inboundQos2(): ReadonlySet<number> {
    return this.inboundIds ?? NO_PACKET_IDS;
  }

  setSubscription(record: SessionSubscription): void {
    const map = this.subscriptionMap;
    if (map instanceof Map) map.set(record.key, record);
    else if (map === undefined || map.key === record.key) this.subscriptionMap = record;
    else
      this.subscriptionMap = new Map([
        [map.key, map],
        [record.key, record],
      ]);
  }

  deleteSubscription(key: string): void {
    const map = this.subscriptionMap;
    if (map instanceof Map) {
      if (map.delete(key) && map.size === 1) {
        for (const record of map.values()) this.subscriptionMap = record;
      }
    } else if (map?.key === key) {
      this.subscriptionMap = undefined;
    }
  }

  /** Session Expiry Interval in seconds; 0xFFFFFFFF never expires. */
  get expiryInterval(): number {
    return this.expiry >>> 0;
  }
  set expiryInterval(seconds: number) {
    this.expiry = seconds | 0;
  }

  /** When the client went away (ms since epoch), for expiry; 0 while connected. */
  get disconnectedAt(): number {
    return this.offline?.disconnectedAt ?? 0;
  }
  set disconnectedAt(at: number) {
    const offline = this.offline;
    this.setOffline(at, offline?.expiryTimer, offline?.pendingWill);
  }

  /** The session's entry in the registry's expiry wheel while it is offline. */
  get expiryTimer(): TimerHandle | undefined {
    return this.offline?.expiryTimer;
  }
  set expiryTimer(timer: TimerHandle | undefined) {
    const offline = this.offline;
    this.setOffline(offline?.disconnectedAt ?? 0, timer, offline?.pendingWill);
  }

  /** A will waiting for its Will Delay Interval, with its entry in the registry's will wheel. */
  get pendingWill(): PendingWill | undefined {
    return this.offline?.pendingWill;
  }
  set pendingWill(pending: PendingWill | undefined) {
    const offline = this.offline;
    this.setOffline(offline?.disconnectedAt ?? 0, offline?.expiryTimer, pending);
  }

  private setOffline(
    disconnectedAt: number,
    expiryTimer: TimerHandle | undefined,
    pendingWill: PendingWill | undefined,
  ): void {
    const offline = this.offline;
    if (disconnectedAt === 0 && expiryTimer === undefined && pendingWill === undefined) {
      this.offline = undefined;
    } else if (offline === undefined) {
      this.offline = { disconnectedAt, expiryTimer, pendingWill };
    } else {
      offline.disconnectedAt = disconnectedAt;
      offline.expiryTimer = expiryTimer;
      offline.pendingWill = pendingWill;
    }
  }

  setInflight(out: Outbound): void {
    this.inflightMap ??= new Map();
    this.inflightMap.set(out.packetId, out);
  }

  deleteInflight(packetId: number): void {
    if (this.inflightMap?.delete(packetId) === true && this.inflightMap.size === 0)
      this.inflightMap = undefined;
  }

  addInboundQos2(packetId: number): void {
    this.inboundIds ??= new Set();
    this.inboundIds.add(packetId);
  }

  /** Release an inbound QoS 2 packet id; false when it was not held. */
  deleteInboundQos2(packetId: number): boolean {
    const ids = this.inboundIds;
    if (ids === undefined || !ids.delete(packetId)) return false;
    if (ids.size === 0) this.inboundIds = undefined;
    return true;
  }

  /** A session the store keeps: it may outlive its connection. Inline sessions are never stored. */
  get persistent(): boolean {
    // `expiry` itself, not `expiryInterval`: 0xFFFFFFFF (never expires) read unsigned is no small integer,
    // and every read of it would allocate a number.
    return this.expiry !== 0 && !this.inline;
  }

  get queuedCount(): number {
    const queue = this.queue;
    return queue === undefined ? 0 : queue.items.length - queue.head;
  }

  get queuedByteCount(): number {
    return this.queue?.bytes ?? 0;
  }

  /** The next packet identifier not in flight. [MQTT-2.2.1-3] */
  allocatePacketId(): number {
    for (let tries = 0; tries < 65_535; tries++) {
      const id = this.nextPacketId;
      this.nextPacketId = id === 65_535 ? 1 : id + 1;
      if (this.inflightMap?.has(id) !== true) return id;
    }
    return 0;
  }

  /** Queue a message behind the inflight window. Returns false when the queue limits refuse it. */
  enqueue(out: Outbound, maxMessages: number, maxBytes: number): boolean {
    if (this.queuedCount >= maxMessages) return false;
    if (maxBytes > 0 && this.queuedByteCount + out.message.size > maxBytes) return false;
    this.queue ??= { items: [], head: 0, bytes: 0 };
    this.queue.items.push(out);
    this.queue.bytes += out.message.size;
    return true;
  }

  peekQueued(): Outbound | undefined {
    const queue = this.queue;
    return queue?.items[queue.head];
  }

  shiftQueued(): Outbound | undefined {
    const queue = this.queue;
    if (queue === undefined) return undefined;
    const items = queue.items;
    const out = items[queue.head];
    if (out === undefined) return undefined;
    items[queue.head] = undefined as unknown as Outbound;
    queue.head++;
    queue.bytes -= out.message.size;
    if (queue.head === items.length) {
      this.queue = undefined;
    } else if (queue.head > 1024 && queue.head * 2 > items.length) {
      queue.items = items.slice(queue.head);
      queue.head = 0;
    }
    return out;
  }

  /** Everything queued, in order (for inspection and persistence). */
  queuedMessages(): Outbound[] {
    const queue = this.queue;
    return queue === undefined ? [] : queue.items.slice(queue.head);
  }

  /** Forget everything: a clean start or an expired session. */
  reset(): void {
    this.subscriptionMap = undefined;
    this.inflightMap = undefined;
    this.inboundIds = undefined;
    this.queue = undefined;
    this.nextPacketId = 1;
  }
}
