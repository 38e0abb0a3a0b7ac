/**
 * Readers that stopped reading while the kernel still takes what is written to them. A socket accepts
 * megabytes (its send buffer grows to `tcp_wmem`'s maximum) before a write is left waiting in the broker, so
 * a reader that stalls is invisible to the write backlog for a long while, and a thousand of them cost the
 * broker a write per message each until the kernel's own TCP memory runs out. The kernel tells how much each
 * connection holds unacknowledged (`/proc/net/tcp`, Linux; for a peer on this machine, also what it received
 * and did not read): a connection holding STALL_MIN_QUEUED or more whose peer took less than
 * STALL_MAX_PROGRESS since the previous look is stalled, and what the kernel holds for it counts as its backlog
 * (muted and dropped to like any slow reader) until its peer takes STALL_RESUME_PROGRESS between two looks.
 */
import { readFileSync } from 'node:fs';
import { isIPv4, Socket } from 'node:net';
import { endianness } from 'node:os';
import type { Duplex } from 'node:stream';

/** Bytes the broker writes between two looks at the kernel; below that, nothing new can have stalled. */
export const KERNEL_LOOK_AFTER_BYTES = 1024 * 1024;
/** How often the engine offers a look (most offers are declined: too little written, or too soon). */
export const KERNEL_LOOK_INTERVAL_MS = 100;
/** A look may take at most this share of the time: the next waits COST_SPACING times as long as it took. */
const COST_SPACING = 20;
/**
 * Connections beyond which the watch stands aside: a look reads every TCP socket of the machine and blocks the
 * broker meanwhile (measured: 45-50 ms for 18 600 sockets, 10 ms for 2 000), too long a pause for every
 * other client. Such a broker tells slow readers by their write backlog alone, as without the watch.
 */
const MAX_WATCHED_CONNECTIONS = 5_000;
/**
 * Looks taken KERNEL_LOOK_INTERVAL_MS apart, whatever they cost, when the machine's TCP memory first rises past
 * the threshold: a reader is told stalled only by two looks that see its queue, and when many readers stall at
 * once (a burst to readers that never read) the first look often sees their bytes still on the way (in the
 * peers' receive buffers) and the second sees them queued. Spaced by cost, those three looks took a second,
 * in which the broker wrote half a megabyte to each stalled reader.
 */
const QUICK_LOOKS = 3;
/** How often a reader held stalled is looked at again while nothing else calls for a look. */
const STALLED_LOOK_MS = 1_000;
/** The kernel counts TCP memory in pages. */
const PAGE_BYTES = 4096;
/** A kernel send queue below this is never a stall (a reader that keeps up holds a few segments). */
const STALL_MIN_QUEUED = 16 * 1024;
/** Bytes a peer takes between two looks (0.1 to 1 s apart) below which it is not reading: a reader that slow
 * with 16 KiB or more waiting is as good as stalled for QoS 0. */
const STALL_MAX_PROGRESS = 4 * 1024;

/**
 * Bytes a reader held stalled must take between two looks to be let go. Higher than STALL_MAX_PROGRESS: a
 * reader that never reads still takes a few kilobytes now and then while its peer's receive window opens
 * (a thousand such readers, seen stalled at one look, were three quarters let go at the next and muted
 * again only 400 ms later); one that reads again takes its whole queue at once.
 */
const STALL_RESUME_PROGRESS = 64 * 1024;

/** A connection as the watch sees it. */
export interface KernelWatched {
  readonly stream: Duplex;
  readonly state: string;
  /** Bytes the peer had taken at the last look (-1: not looked at while it held a queue). */
  kernelAcked: number;
  /** What the kernel holds for a stalled reader (0 when it reads). */
  kernelQueued: number;
}

/** The `/proc/net/tcp` form of an address: each 32-bit word in the machine's byte order, in hex. */
export function procAddress(address: string): string | undefined {
  const bytes = addressBytes(address);
  if (bytes === undefined) return undefined;
  const little = endianness() === 'LE';
  let hex = '';
  for (let word = 0; word < bytes.length; word += 4) {
    for (let i = 0; i < 4; i++) {
      const byte = bytes[word + (little ? 3 - i : i)] as number;
      hex += byte.toString(16).padStart(2, '0');
    }
  }
  return hex.toUpperCase();
}

function addressBytes(address: string): number[] | undefined {
  if (isIPv4(address)) return address.split('.').map(Number);
  const plain = address.split('%')[0] ?? '';
  const halves = plain.split('::');
  if (halves.length > 2) return undefined;
  const groups = (part: string | undefined): number[] | undefined => {
    if (part === undefined || part === '') return [];
    const out: number[] = [];
    for (const group of part.split(':')) {
      if (isIPv4(group)) {
        const [a = 0, b = 0, c = 0, d = 0] = group.split('.').map(Number);
        out.push((a << 8) | b, (c << 8) | d);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(group)) out.push(Number.parseInt(group, 16));
      else return undefined;
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = groups(halves[1]);
  if (head === undefined || tail === undefined) return undefined;
  const fill = 8 - head.length - tail.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) return undefined;
  const words = [...head, ...new Array<number>(fill).fill(0), ...tail];
  return words.flatMap((w) => [w >> 8, w & 0xff]);
}

/** The key of a plain TCP connection in `/proc/net/tcp{,6}` (TLS and WebSocket streams have none). */
export function connectionKey(stream: Duplex): string | undefined {
  if (!(stream instanceof Socket) || 'encrypted' in stream) return undefined;
  const { remoteAddress, remotePort, localPort } = stream;
  if (remoteAddress === undefined || remotePort === undefined || localPort === undefined) return undefined;
  const remote = procAddress(remoteAddress);
  return remote === undefined ? undefined : `${remote}:${remotePort}>${localPort}`;
}

const ESTABLISHED_LINE =
  /^\s*\d+: ([0-9A-F]+):([0-9A-F]{4}) ([0-9A-F]+):([0-9A-F]{4}) 01 ([0-9A-F]{8}):([0-9A-F]{8})/gm;

/**
 * What established connections hold for their readers, by connection key: the kernel's send queue (written,
 * not acknowledged by the peer's kernel), plus, when the peer is on this machine and so listed too, its
 * receive queue (acknowledged, not read by the peer). A local reader that stopped reading shows at once; a
 * remote one only once its receive window closed. Parts below `min` bytes are left out.
 */
export function parseSendQueues(text: string, min: number, into: Map<string, number>): void {
  ESTABLISHED_LINE.lastIndex = 0;
  for (let m = ESTABLISHED_LINE.exec(text); m !== null; m = ESTABLISHED_LINE.exec(text)) {
    const sendQueue = Number.parseInt(m[5] as string, 16);
    const receiveQueue = Number.parseInt(m[6] as string, 16);
    if (sendQueue < min && receiveQueue < min) continue;
    const localPort = Number.parseInt(m[2] as string, 16);
    const remotePort = Number.parseInt(m[4] as string, 16);
    // Seen from the broker's socket: its peer's address and port, and the broker's port.
    if (sendQueue >= min) add(into, `${m[3]}:${remotePort}>${localPort}`, sendQueue);
    // Seen from a peer's socket, the same key is its own address and port, and the broker's port.
    if (receiveQueue >= min) add(into, `${m[1]}:${localPort}>${remotePort}`, receiveQueue);
  }
}

function add(into: Map<string, number>, key: string, bytes: number): void {
  into.set(key, (into.get(key) ?? 0) + bytes);
}

/** Looks at the kernel's send queues now and then, and marks the connections whose readers stalled. */
export class KernelStallWatch {
  private unavailable = process.platform !== 'linux';
  private bytesAtLastLook = 0;
  private readonly stalled = new Set<KernelWatched>();
  private nextLookAt = 0;
  private lastLookAt = 0;
  /** Looks left to take soon (QUICK_LOOKS): refilled when the machine's TCP memory is back under the threshold
   * and no reader is held stalled. */
  private quickLooks = QUICK_LOOKS;
  /** The last look held a new reader stalled or let one go. */
  private changed = false;
  /** Looks in a row that found readers held stalled and nothing new. */
  private settledLooks = 0;
  private readonly keys = new WeakMap<Duplex, string>();
  /** How many looks were taken, and how long the last one took (ms). */
  looks = 0;
  lastLookMs = 0;

  /**
   * @param kernelBytesToLook what all TCP sockets of the machine may hold in the kernel
   *   (`/proc/net/sockstat`) before the broker's own connections are looked at: readers that keep up hold
   *   little there, stalled ones a lot.
   */
  constructor(
    private readonly kernelBytesToLook: number,
    private readonly clock: () => number = () => performance.now(),
    private readonly readQueues: () => Map<string, number> = readSendQueues,
  ) {}

  /**
   * Called every KERNEL_LOOK_INTERVAL_MS: look when the broker wrote at least KERNEL_LOOK_AFTER_BYTES since the
   * last look and the machine's TCP sockets hold more than `kernelBytesToLook` (one small read), and every
   * STALLED_LOOK_MS while a reader is held stalled; never more often than the looks' own cost allows (a look
   * that took 5 ms waits 100 ms, one that took 15 ms 300 ms), except the look right after readers were first
   * seen holding a queue (it tells whether they stalled) and the first QUICK_LOOKS after the machine's TCP
   * memory rose past the threshold; and further apart, up to STALLED_LOOK_MS, while looks find only the same
   * stalled readers. The read is synchronous on purpose: a look must land while the broker is busiest, and an
   * asynchronous read of a /proc file takes a loop turn per chunk (seconds when each turn is a large fan-out).
   */
  maybeLook(connections: ReadonlySet<KernelWatched>, bytesSent: number): void {
    if (this.unavailable) return;
    const started = this.clock();
    if (started < this.nextLookAt) return;
    if (connections.size > MAX_WATCHED_CONNECTIONS) {
      if (this.stalled.size > 0) this.release();
      return;
    }
    const wrote = bytesSent - this.bytesAtLastLook >= KERNEL_LOOK_AFTER_BYTES;
    const recheck = this.stalled.size > 0 && started - this.lastLookAt >= STALLED_LOOK_MS;
    if (!recheck) {
      if (!wrote) return;
      if (kernelTcpBytes() <= this.kernelBytesToLook) {
        // Asked again within a turn after every large write: the machine-wide figure is read 10 times a
        // second at most.
        this.nextLookAt = started + KERNEL_LOOK_INTERVAL_MS;
        if (this.stalled.size === 0) this.quickLooks = QUICK_LOOKS;
        return;
      }
    }
    this.bytesAtLastLook = bytesSent;
    this.lastLookAt = started;
    let queues: Map<string, number>;
    try {
      queues = this.readQueues();
    } catch {
      // No /proc (a container without it): the write backlog alone tells slow readers, as before.
      this.unavailable = true;
      this.release();
      return;
    }
    const fresh = this.apply(connections, queues);
    this.looks++;
    this.lastLookMs = this.clock() - started;
    // A reader seen with a queue for the first time is told stalled or not by the next look: take it soon;
    // so too the first looks after the machine's TCP memory rose (QUICK_LOOKS).
    const soon = fresh || this.quickLooks > 0;
    if (this.quickLooks > 0) this.quickLooks--;
    // Readers held stalled and nothing new: each such look in a row doubles the wait, up to STALLED_LOOK_MS
    // (what the stalled readers hold keeps the machine's TCP memory high, so every large write would call
    // for a look that finds the same).
    this.settledLooks = !soon && !this.changed && this.stalled.size > 0 ? this.settledLooks + 1 : 0;
    const byCost = Math.max(KERNEL_LOOK_INTERVAL_MS, this.lastLookMs * COST_SPACING);
    const wait = soon
      ? KERNEL_LOOK_INTERVAL_MS
      : Math.max(byCost, Math.min(STALLED_LOOK_MS, byCost * 2 ** this.settledLooks));
    this.nextLookAt = started + wait;
  }

  /**
   * Stop holding readers stalled (none has a queue, or the watch stands aside): their backlog is their write
   * buffer again.
   */
  private release(): void {
    for (const conn of this.stalled) forget(conn);
    this.stalled.clear();
  }

  /** A connection's key, worked out once (it reads the socket's addresses). */
  private keyOf(stream: Duplex): string | undefined {
    let key = this.keys.get(stream);
    if (key === undefined) {
      key = connectionKey(stream) ?? '';
      this.keys.set(stream, key);
    }
    return key === '' ? undefined : key;
  }

  /**
   * Mark the stalled readers; true when some reader holding a queue was seen for the first time. Sets
   * `changed` when a reader was newly held stalled or let go.
   */
  private apply(connections: ReadonlySet<KernelWatched>, queues: Map<string, number>): boolean {
    for (const conn of this.stalled) {
      if (conn.state === 'closed') this.stalled.delete(conn);
    }
    let fresh = false;
    let changes = 0;
    connections.forEach((conn) => {
      const key = conn.state === 'connected' ? this.keyOf(conn.stream) : undefined;
      const queued = key === undefined ? 0 : (queues.get(key) ?? 0);
      const socket = conn.stream as Socket;
      if (queued === 0) {
        if (this.stalled.delete(conn)) changes++;
        if (key === undefined) {
          if (conn.kernelAcked >= 0 || conn.kernelQueued > 0) forget(conn);
        } else if (conn.kernelAcked >= 0) {
          // Taken everything: the baseline moves on, so that its next queue is judged at once (a reader
          // that keeps up holds a queue at one look and none at the next; seen fresh each time, it would
          // call for a quick look every time).
          conn.kernelQueued = 0;
          conn.kernelAcked = socket.bytesWritten - socket.writableLength;
        }
        return;
      }
      const acked = socket.bytesWritten - socket.writableLength - queued;
      const before = conn.kernelAcked;
      conn.kernelAcked = acked;
      if (before < 0 && queued >= STALL_MIN_QUEUED) fresh = true;
      const slow = conn.kernelQueued > 0 ? STALL_RESUME_PROGRESS : STALL_MAX_PROGRESS;
      if (before >= 0 && queued >= STALL_MIN_QUEUED && acked - before < slow) {
        if (conn.kernelQueued === 0) changes++;
        conn.kernelQueued = queued;
        this.stalled.add(conn);
      } else if (conn.kernelQueued > 0) {
        conn.kernelQueued = 0;
        this.stalled.delete(conn);
        changes++;
      }
    });
    this.changed = changes > 0;
    return fresh;
  }
}

function forget(conn: KernelWatched): void {
  conn.kernelAcked = -1;
  conn.kernelQueued = 0;
}

/** What the machine's TCP sockets hold in the kernel (`TCP: ... mem PAGES` in /proc/net/sockstat). */
function kernelTcpBytes(): number {
  let text: string;
  try {
    text = readFileSync('/proc/net/sockstat', 'latin1');
  } catch {
    // Without it, every look that enough writing calls for is taken.
    return Number.POSITIVE_INFINITY;
  }
  const pages = /^TCP:.* mem (\d+)/m.exec(text)?.[1];
  return pages === undefined ? Number.POSITIVE_INFINITY : Number(pages) * PAGE_BYTES;
}

function readSendQueues(): Map<string, number> {
  const queues = new Map<string, number>();
  let found = false;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'latin1');
    } catch {
      continue;
    }
    found = true;
    // Every queue, not only the large ones: a reader's first look (its baseline) should come early.
    parseSendQueues(text, 1, queues);
  }
  if (!found) throw new Error('no /proc/net/tcp');
  return queues;
}
