import type { HookRegistry } from './hook-registry.js';
import { memoryUsage } from './memory-usage.js';
import { createMessage, type Message } from './message.js';
import type { BrokerStats } from './stats.js';

/** What the `$SYS` publisher reads and where it publishes. */
export interface SysSource {
  readonly stats: BrokerStats;
  readonly hooks: HookRegistry;
  /** `starling version x.y.z` names this. */
  readonly version: string;
  counts(): { sessions: number; subscriptions: number; stored: number; retained: number };
  /** The persistent store's size in bytes, when there is one. */
  storeBytes(): number | undefined;
  storeLowOnSpace(): boolean;
  /** The memory budget of slow readers and what they hold, in bytes. */
  budget(): { budget: number; buffered: number; queued: number; held: number };
  /** Through the publish pipeline, as the `$sys` client. */
  publish(message: Message): void;
  /** QoS 0 messages muted readers missed so far, not yet in the stats (see `LocalRouter.missedWhileMuted`). */
  missedWhileMuted(): number;
}

/** Averaging windows of the `load/...` topics, in seconds (Mosquitto's 1, 5 and 15 minutes). */
const LOAD_WINDOWS = [
  ['1min', 60],
  ['5min', 300],
  ['15min', 900],
] as const;

export const SYS_PREFIX = '$SYS/broker/';

/**
 * The `$SYS/broker/...` topics, under Mosquitto's names, published retained every `intervalSeconds`
 * (0 disables them). A topic is republished only when its value changed, so a `$SYS/#` subscriber sees
 * movement, not a flood. The same figures go to `onSysInfoTick` hooks.
 */
export class SysTopics {
  private timer: NodeJS.Timeout | undefined;
  private readonly published = new Map<string, string>();
  private lastAt = 0;
  private lastReceived = 0;
  private lastSent = 0;
  /** Exponentially decaying per-minute rates, per window. */
  private readonly loadReceived = [0, 0, 0];
  private readonly loadSent = [0, 0, 0];

  constructor(
    private readonly source: SysSource,
    readonly intervalSeconds: number,
  ) {}

  /** Start the timer (idempotent); the first values go out at once. */
  start(): void {
    if (this.timer !== undefined || this.intervalSeconds <= 0) return;
    this.lastAt = Date.now();
    this.tick();
    this.timer = setInterval(() => this.tick(), this.intervalSeconds * 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The current figures, keyed by topic below `$SYS/broker/`. */
  snapshot(now = Date.now()): Record<string, number | string> {
    const source = this.source;
    const stats = source.stats;
    const counts = source.counts();
    let packetsIn = 0;
    for (const count of Object.values(stats.packetsIn)) packetsIn += count;
    let packetsOut = 0;
    for (const count of Object.values(stats.packetsOut)) packetsOut += count;
    const total = counts.sessions;
    const info: Record<string, number | string> = {
      version: `starling version ${source.version}`,
      uptime: `${Math.floor((now - stats.startedAt) / 1000)} seconds`,
      'clients/connected': stats.clientsConnected,
      'clients/disconnected': Math.max(0, total - stats.clientsConnected),
      'clients/total': total,
      'clients/maximum': stats.clientsMaximum,
      // Mosquitto counts every MQTT packet here, and PUBLISH alone under publish/messages/.
      'messages/received': packetsIn,
      'messages/sent': packetsOut + stats.messagesSent,
      'messages/stored': counts.stored,
      'publish/messages/dropped': stats.droppedTotal + source.missedWhileMuted(),
      // Starling's own: PUBLISH packets from clients refused, not delivered (ACL, hooks, limits, store).
      'publish/messages/refused': stats.refusedTotal,
      // Starling's own too: subscription filters refused (invalid, ACL, hooks, limits, store), and
      // connections refused before CONNACK success (auth, client id, version, limits, malformed, timeout).
      'subscriptions/refused': stats.subscribeRefusedTotal,
      'clients/refused': stats.connectRefusedTotal,
      'publish/messages/received': stats.messagesReceived,
      'publish/messages/sent': stats.messagesSent,
      'subscriptions/count': counts.subscriptions,
      'retained messages/count': counts.retained,
      'bytes/received': stats.bytesReceived,
      'bytes/sent': stats.bytesSent,
      'heap/current': memoryUsage().heapUsed,
    };
    const budget = source.budget();
    // Starling's own: what slow readers hold against the budget (`--max-memory`).
    info['memory/budget'] = budget.budget;
    info['memory/buffered'] = budget.buffered;
    info['memory/queued'] = budget.queued;
    info['memory/held'] = budget.held;
    const bytes = source.storeBytes();
    if (bytes !== undefined) {
      // Starling's own: the store behind the durability promise (Mosquitto has no equivalent topics).
      info['store/commits'] = stats.commits;
      info['store/commit failures'] = stats.commitFailures;
      info['store/commit latency p99 ms'] = round2(stats.commitLatencyPercentile(99));
      info['store/rows per commit'] = stats.commits === 0 ? 0 : round2(stats.commitRows / stats.commits);
      info['store/bytes'] = bytes;
      info['store/low on space'] = source.storeLowOnSpace() ? 1 : 0;
    }
    LOAD_WINDOWS.forEach(([name], i) => {
      info[`load/messages/received/${name}`] = round2(this.loadReceived[i] as number);
      info[`load/messages/sent/${name}`] = round2(this.loadSent[i] as number);
    });
    return info;
  }

  /** Update the load averages, publish what changed, tell the hooks. */
  tick(now = Date.now()): void {
    const stats = this.source.stats;
    const elapsed = (now - this.lastAt) / 1000;
    if (elapsed > 0) {
      const receivedRate = ((stats.messagesReceived - this.lastReceived) / elapsed) * 60;
      const sentRate = ((stats.messagesSent - this.lastSent) / elapsed) * 60;
      LOAD_WINDOWS.forEach(([, window], i) => {
        const decay = Math.exp(-elapsed / window);
        this.loadReceived[i] = receivedRate + decay * ((this.loadReceived[i] as number) - receivedRate);
        this.loadSent[i] = sentRate + decay * ((this.loadSent[i] as number) - sentRate);
      });
    }
    this.lastAt = now;
    this.lastReceived = stats.messagesReceived;
    this.lastSent = stats.messagesSent;
    const info = this.snapshot(now);
    for (const [name, value] of Object.entries(info)) {
      const text = String(value);
      if (this.published.get(name) === text) continue;
      this.published.set(name, text);
      const message = createMessage(
        `${SYS_PREFIX}${name}`,
        Buffer.from(text),
        0,
        true,
        undefined,
        undefined,
        now,
      );
      this.source.publish(message);
    }
    for (const hook of this.source.hooks.on.onSysInfoTick) {
      try {
        hook.onSysInfoTick(info);
      } catch (err) {
        this.source.hooks.reportError(err, 'onSysInfoTick');
      }
    }
  }
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
