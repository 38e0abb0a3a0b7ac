/**
 * `bench keepalive`: opens N idle connections at a set rate, holds them with a keep-alive for a while and
 * reports what a broker does with many quiet clients: connect latency, refusals, connections it drops,
 * PINGRESP latency, and what the generator itself spent in memory and CPU.
 */
import { performance } from 'node:perf_hooks';
import { parseEndpoint } from '../client/options.js';
import { LatencyHistogram } from './histogram.js';
import { IdleConnection, type IdleConnectionObserver } from './idle-connection.js';
import {
  type KeepaliveOptions,
  KeepalivePhase,
  type KeepaliveProgress,
  type KeepaliveResult,
  type KeepaliveRunHooks,
} from './keepalive-types.js';
import { nowMillis } from './payload.js';
import { describePlan, planConnections, readSystemLimits } from './system-limits.js';
import { ThroughputTimeSeries } from './timeseries.js';

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** Bound on waiting for every connection to close at the end. */
const CLOSE_ALL_TIMEOUT_MS = 5_000;
/** Connections opened in one turn of the event loop at most (pings, progress and the controller wait). */
const MAX_OPENS_PER_TURN = 100;
/** Largest run accepted; far beyond what one process can hold anyway. */
const MAX_CLIENTS = 1_000_000;

function checkOptions(options: KeepaliveOptions): void {
  const positive = (name: string, value: number, max: number): void => {
    if (!(Number.isFinite(value) && value > 0 && value <= max)) {
      throw new RangeError(`${name} must be > 0 and <= ${max}, got ${value}`);
    }
  };
  if (!Number.isInteger(options.clients)) throw new RangeError('clients must be an integer');
  positive('clients', options.clients, MAX_CLIENTS);
  positive('rate', options.rate, 1_000_000);
  if (!(options.durationMs >= 0 && options.durationMs <= 7 * 24 * 3600 * 1000)) {
    throw new RangeError(`duration must be within 0 .. 1 week, got ${options.durationMs} ms`);
  }
  if (!(Number.isInteger(options.keepalive) && options.keepalive >= 0 && options.keepalive <= 0xffff)) {
    throw new RangeError(`keepalive must be an integer in 0..65535, got ${options.keepalive}`);
  }
}

function increment(table: Record<string, number>, key: string): void {
  table[key] = (table[key] ?? 0) + 1;
}

/** Resolves after `ms`, or at once when `signal` aborts or `until()` turns true (checked every 50 ms). */
async function waitFor(ms: number, signal: AbortSignal | undefined, until: () => boolean): Promise<void> {
  const deadline = performance.now() + ms;
  // Bounded by the deadline: each turn sleeps at most 50 ms.
  while (performance.now() < deadline && signal?.aborted !== true && !until()) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(50, deadline - performance.now())));
  }
}

/**
 * Opens `clients` idle connections at `rate` per second, holds them for `durationMs`, then disconnects them.
 * Rejects with RangeError for bad options or when the run does not fit the system limits (the message says
 * how to raise them); network failures are counted in the result, never thrown.
 */
export async function runKeepalive(
  options: KeepaliveOptions,
  hooks: KeepaliveRunHooks = {},
): Promise<KeepaliveResult> {
  checkOptions(options);
  const endpoints = (
    options.urls !== undefined && options.urls.length > 0 ? options.urls : [options.url]
  ).map((url) => parseEndpoint(url));
  for (const { kind } of endpoints) {
    if (kind !== 'tcp' && kind !== 'tls') {
      throw new RangeError(`bench keepalive opens raw TCP/TLS connections; ${kind} is not supported`);
    }
  }
  const endpoint = endpoints[0]!;
  const firstClient = options.firstClient ?? 0;
  const limits = options.limits ?? readSystemLimits();
  const plan = planConnections(
    {
      clients: options.clients,
      host: endpoint.host,
      ...(options.brokerInProcess === undefined ? {} : { brokerInProcess: options.brokerInProcess }),
      ...(options.sourceAddresses === undefined ? {} : { sourceAddresses: options.sourceAddresses }),
    },
    limits,
  );
  if (!plan.ok) throw new RangeError(`the run does not fit this system\n${describePlan(limits, plan)}`);

  const { signal, onProgress, counters: live } = hooks;
  // Every part of a run opens its first connection at the same agreed instant.
  if (options.startAtMs !== undefined) {
    await waitFor(options.startAtMs - nowMillis(), signal, () => false);
  }
  const startedAt = new Date();
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  const rssBefore = process.memoryUsage.rss();
  let rssPeak = rssBefore;
  const timeseries = new ThroughputTimeSeries(options.originMs ?? nowMillis(), 1000);
  const connectLatency = new LatencyHistogram();
  const pingLatency = new LatencyHistogram();
  const failures: Record<string, number> = {};
  const disconnects: Record<string, number> = {};
  const perClient: { latencyUs: number; error?: string }[] = [];
  const index = new Map<IdleConnection, number>();
  const connections: IdleConnection[] = [];
  const counts = {
    connected: 0,
    failed: 0,
    disconnected: 0,
    open: 0,
    peakOpen: 0,
    pingsSent: 0,
    pingsAnswered: 0,
  };
  let phase: KeepalivePhase = KeepalivePhase.Connecting;

  const observer: IdleConnectionObserver = {
    connected(connection, latencyUs) {
      counts.connected++;
      counts.open++;
      if (counts.open > counts.peakOpen) counts.peakOpen = counts.open;
      connectLatency.record(latencyUs);
      hooks.latency?.record(latencyUs);
      if (live !== undefined) {
        live.received++;
        live.done++;
        live.connected++;
      }
      timeseries.recordReceived(nowMillis());
      const row = perClient[index.get(connection) ?? -1];
      if (row) row.latencyUs = latencyUs;
    },
    connectFailed(connection, reason) {
      counts.failed++;
      if (live !== undefined) live.errors++;
      increment(failures, reason);
      const row = perClient[index.get(connection) ?? -1];
      if (row) row.error = reason;
    },
    pingSent() {
      counts.pingsSent++;
    },
    pingAnswered(_connection, rttUs) {
      counts.pingsAnswered++;
      pingLatency.record(rttUs);
    },
    disconnected(connection, reason) {
      counts.disconnected++;
      counts.open--;
      if (live !== undefined) {
        live.errors++;
        live.connected--;
      }
      increment(disconnects, reason);
      const row = perClient[index.get(connection) ?? -1];
      if (row) row.error = `disconnected: ${reason}`;
    },
  };

  const progress = (): KeepaliveProgress => ({
    phase,
    elapsedMs: performance.now() - start,
    requested: options.clients,
    attempted: connections.length,
    connected: counts.connected,
    open: counts.open,
    failed: counts.failed,
    unexpectedDisconnects: counts.disconnected,
    pingsSent: counts.pingsSent,
    pingsAnswered: counts.pingsAnswered,
  });
  const sampleMemory = (): number => {
    const rss = process.memoryUsage.rss();
    if (rss > rssPeak) rssPeak = rss;
    return rss;
  };
  const ticker = setInterval(() => {
    sampleMemory();
    onProgress?.(progress());
  }, options.progressIntervalMs ?? 1000);

  const prefix = options.clientIdPrefix ?? `starling-ka-${process.pid}-`;
  const password = options.password === undefined ? undefined : Buffer.from(options.password);
  const openOne = (): void => {
    const i = connections.length;
    const localAddress =
      plan.sourceAddresses.length > 0 ? plan.sourceAddresses[i % plan.sourceAddresses.length] : undefined;
    const target = endpoints[(firstClient + i) % endpoints.length]!;
    perClient.push({ latencyUs: Number.NaN });
    timeseries.recordSent(nowMillis());
    if (live !== undefined) live.sent++;
    const connection = IdleConnection.open(
      {
        host: target.host,
        port: target.port,
        protocolVersion: options.protocolVersion ?? 4,
        clientId: `${prefix}${firstClient + i}`,
        keepalive: options.keepalive,
        connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
        ...(target.kind === 'tls' ? { tls: options.tls ?? {} } : {}),
        ...(localAddress === undefined ? {} : { localAddress }),
        ...(options.username === undefined ? {} : { username: options.username }),
        ...(password === undefined ? {} : { password }),
      },
      observer,
    );
    index.set(connection, i);
    connections.push(connection);
  };

  try {
    // Ramp: connection i is due at start + i / rate; each wake-up opens what is due, at most a burst's
    // worth, so a ramp that fell behind (slow binds, a busy machine) never blocks the loop for long.
    const intervalMs = 1000 / options.rate;
    while (connections.length < options.clients && signal?.aborted !== true) {
      const now = performance.now();
      const due = Math.min(
        options.clients,
        Math.floor((now - start) / intervalMs) + 1,
        connections.length + MAX_OPENS_PER_TURN,
      );
      while (connections.length < due) openOne();
      if (connections.length >= options.clients) break;
      const nextAt = start + connections.length * intervalMs;
      await new Promise((resolve) => setTimeout(resolve, Math.max(1, nextAt - performance.now())));
    }
    const settled = (): boolean => counts.connected + counts.failed >= connections.length;
    await waitFor((options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS) + 1000, signal, settled);
    const rampMs = performance.now() - start;
    const rssAtHold = sampleMemory();
    const openAtHold = counts.open;
    phase = KeepalivePhase.Holding;
    onProgress?.(progress());
    const holdStart = performance.now();
    // Nothing left to hold once every connection is gone; waiting out the duration would only waste time.
    await waitFor(options.durationMs, signal, () => counts.open <= 0);
    const holdMs = performance.now() - holdStart;
    const openAtEnd = counts.open;
    phase = KeepalivePhase.Closing;
    onProgress?.(progress());
    await Promise.race([
      Promise.all(connections.map((connection) => connection.close())),
      new Promise((resolve) => setTimeout(resolve, CLOSE_ALL_TIMEOUT_MS).unref()),
    ]);
    if (live !== undefined) live.connected -= counts.open;
    const cpu = process.cpuUsage(cpuStart);
    const { limits: _limits, password: _password, tls: _tls, ...shown } = options;
    return {
      startedAt,
      url: options.url,
      options: shown,
      plan,
      clientIdPrefix: prefix,
      requested: options.clients,
      attempted: connections.length,
      connected: counts.connected,
      failed: counts.failed,
      failures,
      unexpectedDisconnects: counts.disconnected,
      disconnects,
      peakOpen: counts.peakOpen,
      openAtHold,
      openAtEnd,
      connectLatency,
      pingLatency,
      pingsSent: counts.pingsSent,
      pingsAnswered: counts.pingsAnswered,
      rampMs,
      holdMs,
      wallClockMs: performance.now() - start,
      timeseries,
      perClient,
      memory: {
        rssBeforeBytes: rssBefore,
        rssPeakBytes: rssPeak,
        bytesPerConnection: openAtHold > 0 ? Math.max(0, rssAtHold - rssBefore) / openAtHold : 0,
      },
      cpu,
      aborted: signal?.aborted === true,
    };
  } finally {
    clearInterval(ticker);
    // Whatever happened above, no socket outlives the run.
    for (const connection of connections) void connection.close();
  }
}
