import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { memoryUsage } from '../broker/memory-usage.js';
import type { AdminPort, AdminStats } from './admin-port.js';
import { STATS_SERIES, type StatsHistory, type StatsPoint, type StatsSeriesName } from './wire-types.js';

/** One sample a second, 15 minutes kept: a page opened now shows the last quarter hour at once. */
export const SAMPLE_INTERVAL_MS = 1000;
export const HISTORY_POINTS = 900;
/** Resolution of the event-loop delay histogram, ms (its own timer period is taken off the figures). */
const LOOP_RESOLUTION_MS = 10;

export interface StatsHistoryOptions {
  readonly intervalMs?: number;
  readonly points?: number;
  /** Called when reading the port fails (the sample is skipped). */
  readonly onError?: (err: unknown) => void;
}

/**
 * Samples the broker through its AdminPort once a second and keeps the last `points` samples as columns,
 * ready for the charts. Counters become rates over the actual time between two samples; event-loop lag
 * (p99 and max over the second) and memory are measured here, in the process that serves the page.
 */
export class StatsRecorder {
  readonly intervalMs: number;
  private readonly points: number;
  private readonly t: number[] = [];
  private readonly series = Object.fromEntries(STATS_SERIES.map((name) => [name, [] as number[]])) as Record<
    StatsSeriesName,
    number[]
  >;
  private readonly listeners = new Set<(point: StatsPoint) => void>();
  private readonly loop: IntervalHistogram;
  private timer: NodeJS.Timeout | undefined;
  private previous: { at: number; stats: AdminStats } | undefined;
  private busy = false;

  constructor(
    private readonly port: AdminPort,
    private readonly options: StatsHistoryOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? SAMPLE_INTERVAL_MS;
    this.points = options.points ?? HISTORY_POINTS;
    this.loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  }

  /** Take a baseline now and a sample every interval until `stop`. */
  start(): void {
    if (this.timer !== undefined) return;
    this.loop.enable();
    void this.sample();
    this.timer = setInterval(() => void this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.loop.disable();
  }

  /** Called with each new point; returns the function that stops the calls. */
  onPoint(listener: (point: StatsPoint) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Everything kept, as columns (copies). */
  history(): StatsHistory {
    const series = {} as Record<StatsSeriesName, number[]>;
    for (const name of STATS_SERIES) series[name] = [...this.series[name]];
    return { intervalMs: this.intervalMs, t: [...this.t], series };
  }

  /** The newest point, if any. */
  latest(): StatsPoint | undefined {
    const last = this.t.length - 1;
    if (last < 0) return undefined;
    const values = {} as Record<StatsSeriesName, number>;
    for (const name of STATS_SERIES) values[name] = this.series[name][last] ?? 0;
    return { t: this.t[last] ?? 0, connectionsTotal: this.previous?.stats.connections.total ?? 0, values };
  }

  /** Read the port once; the first call only sets the baseline the rates of the next are measured from. */
  async sample(): Promise<StatsPoint | undefined> {
    // A port slower than the interval skips a beat instead of piling reads up.
    if (this.busy) return undefined;
    this.busy = true;
    let stats: AdminStats;
    try {
      stats = await this.port.stats();
    } catch (err) {
      this.options.onError?.(err);
      return undefined;
    } finally {
      this.busy = false;
    }
    const at = Date.now();
    const before = this.previous;
    this.previous = { at, stats };
    if (before === undefined) return undefined;
    const point = this.toPoint(at, (at - before.at) / 1000, before.stats, stats);
    this.append(point);
    for (const listener of this.listeners) listener(point);
    return point;
  }

  private toPoint(at: number, seconds: number, before: AdminStats, now: AdminStats): StatsPoint {
    const rate = (a: number, b: number): number => (seconds > 0 ? Math.max(0, b - a) / seconds : 0);
    const sum = (record: Readonly<Record<string, number>>): number =>
      Object.values(record).reduce((total, n) => total + n, 0);
    const inBefore = before.messages.receivedByQos;
    const inNow = now.messages.receivedByQos;
    const outBefore = before.messages.sentByQos;
    const outNow = now.messages.sentByQos;
    const lagMs = (ns: number): number =>
      this.loop.count === 0 || !Number.isFinite(ns) ? 0 : Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS);
    const values: Record<StatsSeriesName, number> = {
      clients: now.connections.clients,
      connections: now.connections.open,
      sessions: now.sessions,
      subscriptions: now.subscriptions,
      retained: now.retainedMessages,
      inflight: now.inflightMessages,
      queued: now.queuedMessages,
      msgsInQos0: rate(inBefore[0], inNow[0]),
      msgsInQos1: rate(inBefore[1], inNow[1]),
      msgsInQos2: rate(inBefore[2], inNow[2]),
      msgsOutQos0: rate(outBefore[0], outNow[0]),
      msgsOutQos1: rate(outBefore[1], outNow[1]),
      msgsOutQos2: rate(outBefore[2], outNow[2]),
      bytesIn: rate(before.bytes.received, now.bytes.received),
      bytesOut: rate(before.bytes.sent, now.bytes.sent),
      dropped: rate(sum(before.dropped), sum(now.dropped)),
      refused: rate(sum(before.refused), sum(now.refused)),
      lagP99Ms: lagMs(this.loop.percentile(99)),
      lagMaxMs: lagMs(this.loop.max),
      rssBytes: 0,
      heapUsedBytes: 0,
    };
    this.loop.reset();
    const memory = memoryUsage();
    values.rssBytes = memory.rss;
    values.heapUsedBytes = memory.heapUsed;
    return { t: at, connectionsTotal: now.connections.total, values };
  }

  private append(point: StatsPoint): void {
    this.t.push(point.t);
    for (const name of STATS_SERIES) this.series[name].push(point.values[name]);
    if (this.t.length > this.points) {
      this.t.shift();
      for (const name of STATS_SERIES) this.series[name].shift();
    }
  }
}
