/**
 * `bench keepalive` split over processes and agents: one part is a contiguous range of the run's
 * connections, run by {@link runKeepalive} in one process. A part's result travels as plain JSON (encoded
 * histograms, no NaN) and parts merge exactly: counts add, failure tables add, histograms add bucket by
 * bucket, time series add interval by interval, per-connection rows concatenate in connection order.
 */
import { LatencyHistogram } from './histogram.js';
import { runKeepalive } from './keepalive.js';
import type {
  KeepaliveCounts,
  KeepaliveOptions,
  KeepaliveResult,
  KeepaliveRunHooks,
} from './keepalive-types.js';
import type { LatencySampleSink } from './result-builder.js';
import type { ShareCounters } from './scenarios/common.js';
import { readSystemLimits } from './system-limits.js';
import { ThroughputTimeSeries, type TimeSeriesSnapshot } from './timeseries.js';

/** What one process is asked to hold. Plain JSON. */
export interface KeepalivePartTask {
  readonly processIndex: number;
  /** Everything {@link runKeepalive} takes but the limits, which each process reads for itself. */
  readonly options: Omit<KeepaliveOptions, 'limits' | 'tls'> & { readonly insecure?: boolean };
}

/** What one part measured. Plain JSON. */
export interface KeepalivePartResult extends KeepaliveCounts {
  readonly processIndex: number;
  readonly startedAtMs: number;
  /** Encoded HDR histograms, us. */
  readonly connectLatencyUs: string;
  readonly pingLatencyUs: string;
  readonly timeseries: TimeSeriesSnapshot;
  /** Per connection in order: connect latency in us (null when it failed) and what went wrong. */
  readonly perClient: readonly { readonly latencyUs: number | null; readonly error?: string }[];
  readonly cpu: { readonly user: number; readonly system: number };
  readonly aborted: boolean;
}

/** Live figures of a part while it runs. */
export interface KeepalivePartLive {
  readonly signal: AbortSignal;
  readonly counters: ShareCounters;
  readonly latency: LatencySampleSink;
}

/** Runs one part in this process. Rejects like {@link runKeepalive} (bad options, limits). */
export async function runKeepalivePart(
  task: KeepalivePartTask,
  live: KeepalivePartLive,
): Promise<KeepalivePartResult> {
  const { insecure, ...options } = task.options;
  const hooks: KeepaliveRunHooks = { signal: live.signal, counters: live.counters, latency: live.latency };
  const result = await runKeepalive(
    {
      ...options,
      limits: readSystemLimits(),
      ...(insecure === true ? { tls: { rejectUnauthorized: false } } : {}),
    },
    hooks,
  );
  return keepalivePartResult(task.processIndex, result);
}

/** The JSON form of one process's result. */
export function keepalivePartResult(processIndex: number, result: KeepaliveResult): KeepalivePartResult {
  return {
    processIndex,
    startedAtMs: result.startedAt.getTime(),
    url: result.url,
    plan: result.plan,
    clientIdPrefix: result.clientIdPrefix,
    requested: result.requested,
    attempted: result.attempted,
    connected: result.connected,
    failed: result.failed,
    failures: result.failures,
    unexpectedDisconnects: result.unexpectedDisconnects,
    disconnects: result.disconnects,
    peakOpen: result.peakOpen,
    openAtHold: result.openAtHold,
    openAtEnd: result.openAtEnd,
    connectLatencyUs: result.connectLatency.encode(),
    pingLatencyUs: result.pingLatency.encode(),
    pingsSent: result.pingsSent,
    pingsAnswered: result.pingsAnswered,
    rampMs: result.rampMs,
    holdMs: result.holdMs,
    wallClockMs: result.wallClockMs,
    timeseries: result.timeseries.toJSON(),
    perClient: result.perClient.map((row) => ({
      latencyUs: Number.isFinite(row.latencyUs) ? row.latencyUs : null,
      ...(row.error === undefined ? {} : { error: row.error }),
    })),
    memory: result.memory,
    cpu: result.cpu,
    aborted: result.aborted,
  };
}

function addTables(into: Record<string, number>, table: Readonly<Record<string, number>>): void {
  for (const [reason, count] of Object.entries(table)) into[reason] = (into[reason] ?? 0) + count;
}

/** How the parts of a run were spread, for the merged result. */
export interface KeepaliveMergeInfo {
  /** The options of the whole run (all connections, the whole rate). */
  readonly options: KeepaliveResult['options'];
  readonly url: string;
  readonly startedAt: Date;
  /** Bound on the run's wall clock, ms (from its start to the last part's end). */
  readonly wallClockMs: number;
  /** Extra CPU spent outside the parts (the coordinating process), us. */
  readonly coordinatorCpu?: { readonly user: number; readonly system: number };
}

/**
 * Merges the parts (in any order) into one result: counts and tables add, histograms and time series
 * merge exactly, connection rows are put back in connection order. Peak and memory figures are sums of the
 * parts' own, since the parts held their connections at the same time.
 */
export function mergeKeepaliveParts(
  parts: readonly KeepalivePartResult[],
  info: KeepaliveMergeInfo,
): KeepaliveResult {
  const ordered = [...parts].sort((a, b) => a.processIndex - b.processIndex);
  const connectLatency = new LatencyHistogram();
  const pingLatency = new LatencyHistogram();
  const failures: Record<string, number> = {};
  const disconnects: Record<string, number> = {};
  const first = ordered[0];
  const timeseries = new ThroughputTimeSeries(first?.timeseries.originMs ?? info.startedAt.getTime(), 1000);
  const sum = (pick: (part: KeepalivePartResult) => number): number =>
    ordered.reduce((total, part) => total + pick(part), 0);
  const max = (pick: (part: KeepalivePartResult) => number): number =>
    ordered.reduce((most, part) => Math.max(most, pick(part)), 0);
  for (const part of ordered) {
    connectLatency.merge(LatencyHistogram.decode(part.connectLatencyUs));
    pingLatency.merge(LatencyHistogram.decode(part.pingLatencyUs));
    addTables(failures, part.failures);
    addTables(disconnects, part.disconnects);
    timeseries.merge(part.timeseries);
  }
  const openAtHold = sum((part) => part.openAtHold);
  const rssBefore = sum((part) => part.memory.rssBeforeBytes);
  const rssPeak = sum((part) => part.memory.rssPeakBytes);
  const grown = sum((part) => part.memory.bytesPerConnection * part.openAtHold);
  const sources = [...new Set(ordered.flatMap((part) => part.plan.sourceAddresses))];
  const cpu = {
    user: sum((part) => part.cpu.user) + (info.coordinatorCpu?.user ?? 0),
    system: sum((part) => part.cpu.system) + (info.coordinatorCpu?.system ?? 0),
  };
  return {
    startedAt: info.startedAt,
    url: info.url,
    options: info.options,
    plan: {
      ok: ordered.every((part) => part.plan.ok),
      sourceAddresses: sources,
      fileDescriptorsNeeded: max((part) => part.plan.fileDescriptorsNeeded),
      problems: ordered.flatMap((part) => part.plan.problems),
      advice: [...new Set(ordered.flatMap((part) => part.plan.advice))],
    },
    clientIdPrefix: first?.clientIdPrefix ?? '',
    requested: sum((part) => part.requested),
    attempted: sum((part) => part.attempted),
    connected: sum((part) => part.connected),
    failed: sum((part) => part.failed),
    failures,
    unexpectedDisconnects: sum((part) => part.unexpectedDisconnects),
    disconnects,
    peakOpen: sum((part) => part.peakOpen),
    openAtHold,
    openAtEnd: sum((part) => part.openAtEnd),
    connectLatency,
    pingLatency,
    pingsSent: sum((part) => part.pingsSent),
    pingsAnswered: sum((part) => part.pingsAnswered),
    // The parts ramp side by side from one instant: the slowest one's ramp is the run's.
    rampMs: max((part) => part.rampMs),
    holdMs: ordered.reduce((least, part) => Math.min(least, part.holdMs), Number.POSITIVE_INFINITY) || 0,
    wallClockMs: info.wallClockMs,
    timeseries,
    perClient: ordered.flatMap((part) =>
      part.perClient.map((row) => ({
        latencyUs: row.latencyUs ?? Number.NaN,
        ...(row.error === undefined ? {} : { error: row.error }),
      })),
    ),
    memory: {
      rssBeforeBytes: rssBefore,
      rssPeakBytes: rssPeak,
      bytesPerConnection: openAtHold > 0 ? grown / openAtHold : 0,
    },
    cpu,
    aborted: ordered.some((part) => part.aborted),
    processes: ordered.length + (info.coordinatorCpu === undefined ? 0 : 1),
  };
}
