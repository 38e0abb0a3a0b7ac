/**
 * What every bench scenario shares: the task a process is given (plain JSON, so it can cross the IPC
 * channel to a worker), the per-process context the client loops write into, and small helpers.
 */
import { readFileSync } from 'node:fs';
import type { Client, ClientOptions } from '../../client/index.js';
import type { ClientResult } from '../bench-result.js';
import type { LatencyHistogram } from '../histogram.js';
import type { CpuSample } from '../result-builder.js';
import type { ShareLatencySink } from '../share-live.js';
import type { ThroughputTimeSeries, TimeSeriesSnapshot } from '../timeseries.js';
import type { PublisherDelivery } from './sequence-tracker.js';

/** How to reach the broker; file names rather than contents so each worker reads its own copy. */
export interface ConnectionSettings {
  readonly url: string;
  /**
   * Several brokers (the nodes of a cluster): client number n of the run connects to `urls[n % length]`.
   * Absent or empty: every client connects to `url`.
   */
  readonly urls?: readonly string[];
  readonly protocolVersion: 3 | 4 | 5;
  readonly username?: string;
  readonly password?: string;
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  /** Accept any server certificate (self-signed test brokers). */
  readonly insecure?: boolean;
  /** Default 10000 ms. */
  readonly connectTimeoutMs?: number;
  readonly keepaliveSeconds?: number;
}

/** `bench publish`: malaria's publisher. */
export interface PublishScenario {
  readonly kind: 'publish';
  /** Client id prefix; `-<process>-<client>` is appended. */
  readonly clientId: string;
  readonly clientsPerProcess: number;
  readonly messagesPerClient: number;
  readonly qos: 0 | 1 | 2;
  /** Mean payload size; sizes are Gaussian at (x, x/20). */
  readonly payloadBytes: number;
  /** Messages per second per client; 0 means as fast as possible. */
  readonly ratePerClient: number;
  /** 0..1: each gap between messages varies uniformly by this fraction. */
  readonly jitter: number;
  /** Write the send time into the payload (for a subscriber's end-to-end latency). */
  readonly timestamp: boolean;
  /** Topic with `{client}`, `{process}` and `{n}` placeholders. */
  readonly topic: string;
  /** QoS 1/2 publishes kept unacknowledged per client before the loop waits. */
  readonly maxInflight: number;
}

/** `bench subscribe`: one or more subscribers accounting for what arrives. */
export interface SubscribeScenario {
  readonly kind: 'subscribe';
  readonly clientId: string;
  readonly clientsPerProcess: number;
  readonly topic: string;
  readonly qos: 0 | 1 | 2;
  /** Stop once each subscriber has this many first arrivals; 0 for no bound. */
  readonly count: number;
  /** Messages each publisher sends, when known, so losses at the end of a stream count as missing. */
  readonly expectedPerPublisher?: number;
  /** Stop when the broker's dropped-message counter rises. */
  readonly abortOnDrops: boolean;
  /** Once the publishers are known to be done, stop after this long without a message. */
  readonly idleTimeoutMs: number;
}

/** `bench stress`: mqtt-stresser's workers, each a publisher and a subscriber on its own topic. */
export interface StressScenario {
  readonly kind: 'stress';
  readonly clientId: string;
  readonly clientsPerProcess: number;
  readonly messagesPerClient: number;
  readonly publisherQos: 0 | 1 | 2;
  readonly subscriberQos: 0 | 1 | 2;
  /** Clients started together, then `rampupDelayMs` pause before the next batch. */
  readonly rampupSize: number;
  readonly rampupDelayMs: number;
  /** How long a worker waits for its messages to come back after publishing. */
  readonly timeoutMs: number;
  /** Every payload the same size (no Gaussian spread). */
  readonly constantPayload: boolean;
  readonly payloadBytes: number;
  readonly maxInflight: number;
}

/** Settings the fan-out and fan-in scenarios share; every message carries its send time. */
interface FanSettings {
  readonly clientId: string;
  readonly publisherQos: 0 | 1 | 2;
  readonly subscriberQos: 0 | 1 | 2;
  /** Messages each publisher sends. */
  readonly messagesPerClient: number;
  /** How long subscribers wait for the messages to arrive once publishing has ended. */
  readonly timeoutMs: number;
  /** Every payload the same size (no Gaussian spread). */
  readonly constantPayload: boolean;
  readonly payloadBytes: number;
  readonly maxInflight: number;
}

/** `bench compare --scenario fan-out`: per process, one publisher to `clientsPerProcess` subscribers of one topic. */
export interface FanOutScenario extends FanSettings {
  readonly kind: 'fan-out';
  /** Subscribers per process. */
  readonly clientsPerProcess: number;
}

/** `bench compare --scenario fan-in`: per process, `clientsPerProcess` publishers to one wildcard subscriber. */
export interface FanInScenario extends FanSettings {
  readonly kind: 'fan-in';
  /** Publishers per process. */
  readonly clientsPerProcess: number;
}

/** One of the scenarios. */
export type Scenario = PublishScenario | SubscribeScenario | StressScenario | FanOutScenario | FanInScenario;

/** What one process is asked to do. Plain JSON. */
export interface ShareTask {
  readonly connection: ConnectionSettings;
  readonly scenario: Scenario;
  readonly processIndex: number;
  /** Start of the run on the shared epoch clock, ms: the time series origin of every process. */
  readonly originMs: number;
  /** Global bound on the epoch clock, ms: everything stops by then. */
  readonly deadlineMs: number;
  /** Time series bucket width, ms. */
  readonly intervalMs: number;
  /** Epoch ms (this machine's clock) at which the load starts; the share waits until then. Default: at once. */
  readonly startAtMs?: number;
  /** Number of the share's first client in the whole run (for spreading over `urls`); default process * clients. */
  readonly clientOffset?: number;
  /** Keep every latency sample and return them (tests compare merged percentiles with them). */
  readonly recordRawLatency?: boolean;
  /** Publishers of an end-to-end run: their acknowledgement latency is not the run's, so it is not reported live. */
  readonly discardLatency?: boolean;
  /** Distributed runs: how to correct end-to-end latency between agents whose clocks disagree. */
  readonly clock?: ClockTable;
}

/**
 * Clock offsets of the agents of a distributed run, as the controller estimated them, so a subscriber can
 * correct the latency of a message whose publisher ran on another agent: true latency = (receive time on
 * this clock - this agent's offset) - (send time on the publisher's clock - the publisher agent's offset).
 */
export interface ClockTable {
  /** Index of the agent this share runs on. */
  readonly agent: number;
  /** Client id prefix of the publishers (`<prefix>-<process>-<client>`), to find a publisher's process. */
  readonly publisherPrefix: string;
  /** The agent of each process of the run, by process index. */
  readonly processAgents: readonly number[];
  /** Per agent: its clock minus the controller's, microseconds. */
  readonly offsetsUs: readonly number[];
  /** Per agent: bound on the error of its offset, microseconds. */
  readonly uncertaintiesUs: readonly number[];
}

/** Live counters a share updates and the coordinator polls for progress. */
export interface ShareCounters {
  /** Messages handed to the client. */
  sent: number;
  /** Messages acknowledged (publish) or received (subscribe, stress). */
  done: number;
  /** Clients connected right now. */
  connected: number;
  /** Messages that arrived at a subscriber, duplicates included (the time series' "received"). */
  received: number;
  /** Clients that failed (each failed client row counts once, when the client ends). */
  errors: number;
}

/** Counters at zero. */
export function emptyCounters(): ShareCounters {
  return { sent: 0, done: 0, connected: 0, received: 0, errors: 0 };
}

/** What one process measured. Plain JSON. */
export interface ShareResult {
  readonly processIndex: number;
  readonly clients: readonly ClientResult[];
  /** All latencies of the share, encoded HDR histogram (us). */
  readonly histogramUs: string;
  readonly timeseries: TimeSeriesSnapshot;
  /** CPU the process spent on the share. */
  readonly cpu: CpuSample;
  readonly peakRssBytes: number;
  /** First connect attempt and last completion, epoch ms; NaN when nothing ran. */
  readonly firstStartMs: number;
  readonly lastEndMs: number;
  /** Subscribe only: delivery accounting per publisher, per subscriber. */
  readonly deliveries?: readonly SubscriberDeliveries[];
  /** Why the share stopped early, if it did. */
  readonly stopReason?: string;
  /** Every latency sample, us, when the task asked for them. */
  readonly rawLatencyUs?: readonly number[];
  /** Subscribe with a clock table: the end-to-end latency of messages from publishers on other agents. */
  readonly crossAgent?: CrossAgentSamples;
}

/** End-to-end latency between agents, corrected by their clock offsets. */
export interface CrossAgentSamples {
  /** Corrected latencies, encoded HDR histogram (us). */
  readonly histogramUs: string;
  /** Largest offset uncertainty (publisher's plus subscriber's agent) of any sample, us. */
  readonly uncertaintyUs: number;
  /** Messages whose publisher ran on the subscriber's own agent (compared on that machine's clock). */
  readonly sameAgentSamples: number;
}

/** One subscriber's view of the publishers. */
export interface SubscriberDeliveries {
  readonly subscriber: string;
  readonly publishers: readonly PublisherDelivery[];
  /** Messages that were not bench payloads. */
  readonly foreign: number;
}

/** Control handed to a running share. */
export interface ShareControl {
  readonly signal: AbortSignal;
  readonly counters: ShareCounters;
  /** Subscribe: called once every subscriber is subscribed. */
  onReady?(): void;
  /** Subscribe: true once the publishers are known to have finished (end of stream expected). */
  publishersDone?(): boolean;
  /** Asks the whole run to stop (e.g. the broker dropped messages). */
  requestStop?(reason: string): void;
  /** The latest clock table of a distributed run; the runner replaces it as estimates improve. */
  clock?: ClockTable;
}

/** The per-process accumulators that client loops write into. */
export interface ShareContext {
  readonly task: ShareTask;
  readonly control: ShareControl;
  readonly histogram: LatencyHistogram;
  readonly timeseries: ThroughputTimeSeries;
  /** Sees every latency sample as it is recorded (live interval figures). */
  readonly latency: ShareLatencySink;
  /** Updated as clients start and finish. */
  firstStartMs: number;
  lastEndMs: number;
}

/** `ClientOptions` for a bench client: no reconnects, so a dropped connection shows as a failure. */
export function clientOptions(settings: ConnectionSettings, clientId: string): ClientOptions {
  const options: ClientOptions = {
    clientId,
    protocolVersion: settings.protocolVersion,
    reconnect: false,
    connectTimeoutMs: settings.connectTimeoutMs ?? 10_000,
    keepalive: settings.keepaliveSeconds ?? 60,
  };
  if (settings.username !== undefined) options.username = settings.username;
  if (settings.password !== undefined) options.password = settings.password;
  if (settings.caFile !== undefined) options.ca = readFileSync(settings.caFile);
  if (settings.certFile !== undefined) options.cert = readFileSync(settings.certFile);
  if (settings.keyFile !== undefined) options.key = readFileSync(settings.keyFile);
  if (settings.insecure === true) options.rejectUnauthorized = false;
  return options;
}

/** The broker URL of the share's client number `index` (0-based within the share). */
export function brokerUrl(task: ShareTask, index: number): string {
  const urls = task.connection.urls;
  if (urls === undefined || urls.length === 0) return task.connection.url;
  const offset = task.clientOffset ?? task.processIndex * task.scenario.clientsPerProcess;
  return urls[(offset + index) % urls.length]!;
}

/**
 * Counts `client` as connected until it closes, whichever way it closes, so the live "connected" figure
 * is the clients connected now rather than the clients that ever connected.
 */
export function trackConnected(ctx: ShareContext, client: Client): void {
  const counters = ctx.control.counters;
  counters.connected++;
  const remove = client.onEvent((event) => {
    if (event.type !== 'closed') return;
    counters.connected--;
    remove();
  });
}

/** Counts a finished client's row in the live error counter when it failed; returns the row. */
export function settled(ctx: ShareContext, row: ClientResult): ClientResult {
  if (row.failed === true) ctx.control.counters.errors++;
  return row;
}

/** Per signal, the callbacks waiting for it to abort; see {@link onAbort}. */
const abortWaiters = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Calls `callback` once when `signal` aborts (soon, when it already has); returns a function that cancels
 * the call. Every client of a share waits on the share's one signal, often several waits at a time, so one
 * `abort` listener per signal fans out to them all: an EventTarget listener per wait would make Node warn
 * of a leak past 10 clients (MaxListenersExceededWarning) and cost a list walk on every removal.
 */
export function onAbort(signal: AbortSignal, callback: () => void): () => void {
  if (signal.aborted) {
    let cancelled = false;
    queueMicrotask(() => {
      if (!cancelled) callback();
    });
    return () => {
      cancelled = true;
    };
  }
  let waiters = abortWaiters.get(signal);
  if (waiters === undefined) {
    const created = new Set<() => void>();
    waiters = created;
    abortWaiters.set(signal, created);
    signal.addEventListener(
      'abort',
      () => {
        abortWaiters.delete(signal);
        for (const waiter of created) waiter();
        created.clear();
      },
      { once: true },
    );
  }
  // A wrapper of its own, so the same callback registered twice is called (and cancelled) twice.
  const waiter = (): void => callback();
  waiters.add(waiter);
  const registered = waiters;
  return () => {
    registered.delete(waiter);
  };
}

/**
 * Resolves after `ms`, at once when `signal` aborts, or, when `onWake` is given, as soon as the function it
 * is handed is called (so a loop woken by an event does not leave its timer pending).
 */
export function sleep(ms: number, signal: AbortSignal, onWake?: (wake: () => void) => void): Promise<void> {
  if (signal.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    let pending = true;
    const done = (): void => {
      if (!pending) return;
      pending = false;
      clearTimeout(timer);
      cancelAbort();
      resolve();
    };
    const timer = setTimeout(done, ms);
    const cancelAbort = onAbort(signal, done);
    onWake?.(done);
  });
}

/** Lets pending I/O and timers run; loops that never wait on the network call it every few messages. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A compiled topic template: `{client}` and `{process}` fixed per client, `{n}` per message. */
export function topicTemplate(template: string, client: string, processIndex: number): (n: number) => string {
  const fixed = template.replaceAll('{client}', client).replaceAll('{process}', String(processIndex));
  if (!fixed.includes('{n}')) return () => fixed;
  const parts = fixed.split('{n}');
  return (n) => parts.join(String(n));
}

/** The message of an error, for a client row. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** True once the run must stop: aborted or past the global deadline. */
export function mustStop(ctx: ShareContext, nowMs: number): boolean {
  return ctx.control.signal.aborted || nowMs >= ctx.task.deadlineMs;
}
