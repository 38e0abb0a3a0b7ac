/**
 * What `bench keepalive` takes and gives: the run's options, its phases and live progress, its callbacks,
 * and the result (see `runKeepalive` in `keepalive.ts`).
 */
import type { ProtocolVersionNumber } from '../packets/types.js';
import type { AgentSummary } from './bench-result.js';
import type { LatencyHistogram } from './histogram.js';
import type { LatencySampleSink } from './result-builder.js';
import type { ShareCounters } from './scenarios/common.js';
import type { ConnectionPlan, SystemLimits } from './system-limits.js';
import type { ThroughputTimeSeries } from './timeseries.js';

/** What to run. Durations in the units their names say. */
export interface KeepaliveOptions {
  /** `mqtt://host:port` or `mqtts://host:port` (idle connections are raw TCP/TLS sockets). */
  readonly url: string;
  /**
   * Several brokers (the nodes of a cluster): connection number n of the whole run goes to
   * `urls[n % length]`. Absent: every connection goes to `url`.
   */
  readonly urls?: readonly string[];
  /** Number of this run's first connection in the whole run (several processes or agents); default 0. */
  readonly firstClient?: number;
  /** How many connections to open (1..1 000 000). */
  readonly clients: number;
  /** New connections per second. */
  readonly rate: number;
  /** How long to hold the connections once the last one has connected (or failed), ms. */
  readonly durationMs: number;
  /** Keep alive sent in CONNECT, seconds; a PINGREQ goes out every period. */
  readonly keepalive: number;
  /** 3, 4 (3.1.1, default) or 5. */
  readonly protocolVersion?: ProtocolVersionNumber;
  readonly username?: string;
  readonly password?: string;
  /** Client ids are the prefix plus the connection index; default `starling-ka-<pid>-`. */
  readonly clientIdPrefix?: string;
  /** Per connection, from opening the socket to CONNACK; default 10 000 ms. */
  readonly connectTimeoutMs?: number;
  /** Source addresses to spread over; default from {@link planConnections}. */
  readonly sourceAddresses?: readonly string[];
  /** The broker runs in this process (an embedded broker): counts its descriptors too. */
  readonly brokerInProcess?: boolean;
  /** TLS settings for mqtts. */
  readonly tls?: { readonly rejectUnauthorized?: boolean; readonly ca?: string | Buffer };
  /** Limits to plan against; default read from /proc. */
  readonly limits?: SystemLimits;
  /** How often `onProgress` is called, default 1000 ms. */
  readonly progressIntervalMs?: number;
  /** Start of the time series (epoch ms on the bench clock), shared by every part of a run; default now. */
  readonly originMs?: number;
  /** Bench-clock epoch ms at which to open the first connection; default at once. */
  readonly startAtMs?: number;
}

/** The phases of a run, in order. */
export const KeepalivePhase = {
  Connecting: 'connecting',
  Holding: 'holding',
  Closing: 'closing',
} as const;
/** One of the {@link KeepalivePhase} values. */
export type KeepalivePhase = (typeof KeepalivePhase)[keyof typeof KeepalivePhase];

/** A live view of the run for progress output. */
export interface KeepaliveProgress {
  readonly phase: KeepalivePhase;
  readonly elapsedMs: number;
  readonly requested: number;
  readonly attempted: number;
  readonly connected: number;
  /** Connections open right now. */
  readonly open: number;
  readonly failed: number;
  readonly unexpectedDisconnects: number;
  readonly pingsSent: number;
  readonly pingsAnswered: number;
}

/** Callbacks and cancellation of {@link runKeepalive}. */
export interface KeepaliveRunHooks {
  readonly onProgress?: (progress: KeepaliveProgress) => void;
  /** Aborting stops opening connections, ends the hold and closes everything; the result is partial. */
  readonly signal?: AbortSignal;
  /**
   * Live figures, kept up to date as connections go: attempts as `sent`, CONNACKs as `received` (and
   * `done`), open connections as `connected`, failed attempts and unexpected disconnects as `errors`.
   */
  readonly counters?: ShareCounters;
  /** Sees every connect latency (us) as it is measured. */
  readonly latency?: LatencySampleSink;
}

/** Generator memory over the run. */
export interface KeepaliveMemory {
  readonly rssBeforeBytes: number;
  readonly rssPeakBytes: number;
  /** RSS when the hold began, minus RSS before, per open connection (includes an in-process broker). */
  readonly bytesPerConnection: number;
}

/** The counts a whole run and each of its parts report alike. */
export interface KeepaliveCounts {
  readonly url: string;
  readonly plan: ConnectionPlan;
  /** Connection i used the client id `clientIdPrefix + i`. */
  readonly clientIdPrefix: string;
  readonly requested: number;
  readonly attempted: number;
  readonly connected: number;
  readonly failed: number;
  /** Failed connection attempts by reason (`ECONNREFUSED`, `CONNACK refused: ...`, timeouts). */
  readonly failures: Readonly<Record<string, number>>;
  readonly unexpectedDisconnects: number;
  /** Connections lost during the run by reason. */
  readonly disconnects: Readonly<Record<string, number>>;
  /** Most connections open at once. */
  readonly peakOpen: number;
  /** Connections open when the hold began. */
  readonly openAtHold: number;
  /** Connections still open when the hold ended. */
  readonly openAtEnd: number;
  readonly pingsSent: number;
  readonly pingsAnswered: number;
  /** From the first connection attempt until every attempt had an outcome, ms. */
  readonly rampMs: number;
  /** How long the connections were held, ms. */
  readonly holdMs: number;
  readonly wallClockMs: number;
  readonly memory: KeepaliveMemory;
}

/** Everything a run measured. */
export interface KeepaliveResult extends KeepaliveCounts {
  readonly startedAt: Date;
  readonly options: Readonly<Omit<KeepaliveOptions, 'limits' | 'password' | 'tls'>>;
  /** Socket open to CONNACK, microseconds. */
  readonly connectLatency: LatencyHistogram;
  /** PINGREQ written to PINGRESP read, microseconds. */
  readonly pingLatency: LatencyHistogram;
  /** Attempts (as "sent") and CONNACKs (as "received") per second. */
  readonly timeseries: ThroughputTimeSeries;
  /** Per connection: connect latency in us (NaN when it failed) and its failure or disconnect reason. */
  readonly perClient: readonly { readonly latencyUs: number; readonly error?: string }[];
  /** CPU of the generator over the run (every process of it), microseconds. */
  readonly cpu: { readonly user: number; readonly system: number };
  readonly aborted: boolean;
  /** Generator processes the connections were split over; absent for a run in this process alone. */
  readonly processes?: number;
  /**
   * Most connections open at one instant over every process and agent, from the live samples (the sum
   * of `peakOpen` over parts could count peaks that never coincided).
   */
  readonly heldAtOnce?: number;
  /** Distributed runs: one line per agent. */
  readonly agents?: readonly AgentSummary[];
}
