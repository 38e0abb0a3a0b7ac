/**
 * An agent's part of a distributed run, on the agent: checks that the part fits this machine (open files
 * per process, free local ports, the broker reachable) before anything starts, forks its processes ahead,
 * starts them at the agreed instant, reports running totals and latency samples once per interval, and
 * returns what its processes measured. The controller's times are converted to this machine's clock on
 * the way in and back on the way out, so the controller merges parts as if they were its own processes.
 */
import { connectionsOf } from '../bench-plan.js';
import { probeBroker } from '../bench-setup.js';
import { LatencyHistogram } from '../histogram.js';
import type { KeepalivePartResult, KeepalivePartTask } from '../keepalive-part.js';
import { everyInterval } from '../live-sample.js';
import { type LocalOutcome, type LocalPlan, LocalRunner } from '../local-runner.js';
import { nowMillis } from '../payload.js';
import type { ConnectionSettings, ShareResult, ShareTask } from '../scenarios/common.js';
import { localPortsInUse, RESERVED_FILE_DESCRIPTORS, readSystemLimits } from '../system-limits.js';
import type { TimeSeriesSnapshot } from '../timeseries.js';
import type { AgentPartResult, FromAgent, ToAgent } from './protocol.js';

type PrepareMessage = Extract<ToAgent, { type: 'prepare' }>;

/** Where the part's messages go (the controller's WebSocket). */
export type SendToController = (message: FromAgent) => void;

/** Why the part cannot run on this machine, or undefined when it can. */
export function partDoesNotFit(plan: LocalPlan, sourceAddresses: readonly string[]): string | undefined {
  const limits = readSystemLimits();
  const tasks: readonly (ShareTask | KeepalivePartTask)[] =
    plan.kind === 'bench' ? [...plan.shares, ...(plan.subscribers ? [plan.subscribers] : [])] : plan.parts;
  // The end-to-end subscribers share this process with the first publishers (one process) or run beside workers.
  const perProcess = Math.max(0, ...tasks.map(connectionsOf));
  const total = tasks.reduce((sum, task) => sum + connectionsOf(task), 0);
  if (limits.openFilesSoft !== undefined && perProcess + RESERVED_FILE_DESCRIPTORS > limits.openFilesSoft) {
    return (
      `a process of this part holds ${perProcess} connections, which needs about ${perProcess + RESERVED_FILE_DESCRIPTORS} ` +
      `open files, but ulimit -n here is ${limits.openFilesSoft}: raise it (ulimit -n ${limits.openFilesHard ?? perProcess + RESERVED_FILE_DESCRIPTORS}) ` +
      'or give the run more processes (-P)'
    );
  }
  const range = limits.portRange;
  if (range !== undefined) {
    const size = range.high - range.low + 1;
    // Each source address has the whole range to itself; without any, the kernel picks from one range.
    const sources =
      plan.kind === 'keepalive' ? (plan.parts[0]?.options.sourceAddresses ?? sourceAddresses) : [];
    const free =
      sources.length === 0
        ? size - (localPortsInUse(range) ?? 0)
        : sources.reduce((sum, address) => sum + size - (localPortsInUse(range, address) ?? 0), 0);
    if (total > free) {
      return (
        `this part opens ${total} connections but only ${free} local ports of ${range.low}-${range.high} ` +
        `are free${sources.length > 1 ? ` over its ${sources.length} source addresses` : ''}: widen the port range, ` +
        'give the agent more source addresses (--source) or spread the run over more agents'
      );
    }
  }
  return undefined;
}

/** The connection settings the part's clients use, for the reachability check. */
function connectionOf(plan: LocalPlan): ConnectionSettings | undefined {
  if (plan.kind === 'bench') return (plan.subscribers ?? plan.shares[0])?.connection;
  const options = plan.parts[0]?.options;
  if (options === undefined) return undefined;
  return {
    url: options.url,
    ...(options.urls === undefined ? {} : { urls: options.urls }),
    protocolVersion: options.protocolVersion ?? 4,
    ...(options.username === undefined ? {} : { username: options.username }),
    ...(options.password === undefined ? {} : { password: options.password }),
    ...(options.insecure === true ? { insecure: true } : {}),
  };
}

/** Moves every time of the plan by `offsetMs` (controller clock to this machine's). */
function localPlan(plan: LocalPlan, offsetMs: number, sourceAddresses: readonly string[]): LocalPlan {
  const shift = (task: ShareTask): ShareTask => ({
    ...task,
    originMs: task.originMs + offsetMs,
    deadlineMs: task.deadlineMs + offsetMs,
  });
  if (plan.kind === 'bench') {
    return {
      ...plan,
      shares: plan.shares.map(shift),
      ...(plan.subscribers === undefined ? {} : { subscribers: shift(plan.subscribers) }),
    };
  }
  return {
    kind: 'keepalive',
    parts: plan.parts.map((part) => ({
      ...part,
      options: {
        ...part.options,
        ...(part.options.originMs === undefined ? {} : { originMs: part.options.originMs + offsetMs }),
        // The agent's own source addresses, unless the run chose some.
        ...(part.options.sourceAddresses === undefined && sourceAddresses.length > 0
          ? { sourceAddresses }
          : {}),
      },
    })),
  };
}

/** The part's origin on this machine's clock (the controller's plus the offset). */
function originOf(plan: LocalPlan): number {
  const first =
    plan.kind === 'bench' ? (plan.subscribers ?? plan.shares[0])?.originMs : plan.parts[0]?.options.originMs;
  return first ?? nowMillis();
}

/**
 * A time series bucketed on this machine's origin, relabelled to the controller's: the buckets are the
 * same intervals, so only the origin changes, by the exact controller origin rather than by arithmetic
 * that would leave float noise and break the controller's exact merge.
 */
function relabel(
  series: TimeSeriesSnapshot,
  localOrigin: number,
  controllerOrigin: number,
): TimeSeriesSnapshot {
  const intervals = Math.round((series.originMs - localOrigin) / series.intervalMs);
  return { ...series, originMs: controllerOrigin + intervals * series.intervalMs };
}

/** One run's part on this agent. */
export class AgentPart {
  readonly runId: string;
  readonly #send: SendToController;
  readonly #offsetMs: number;
  readonly #controllerOrigin: number;
  readonly #localOrigin: number;
  readonly #intervalMs: number;
  readonly #runner: LocalRunner;
  #publish: ((gate: { startAtMs: number }) => void) | undefined;
  #publishersDone: (() => void) | undefined;
  #started = false;

  private constructor(message: PrepareMessage, send: SendToController, sourceAddresses: readonly string[]) {
    this.runId = message.runId;
    this.#send = send;
    this.#offsetMs = message.clockOffsetMs;
    this.#controllerOrigin = originOf(message.plan);
    const plan = localPlan(message.plan, message.clockOffsetMs, sourceAddresses);
    this.#localOrigin = originOf(plan);
    this.#intervalMs = plan.kind === 'bench' ? (plan.shares[0]?.intervalMs ?? 1000) : 1000;
    this.#runner = new LocalRunner(plan, {
      subscribed: () => {
        send({ type: 'subscribed', runId: this.runId });
        return new Promise((resolve) => (this.#publish = resolve));
      },
      publishersFinished: () => {
        send({ type: 'published', runId: this.runId });
        return new Promise((resolve) => (this.#publishersDone = resolve));
      },
      onStopRequest: (reason) => send({ type: 'stop-request', runId: this.runId, reason }),
      // Subscribe runs without publishers: the controller says when every agent's subscribers are ready.
      ...(plan.kind === 'bench' && plan.endToEnd !== true
        ? { onSubscribed: () => send({ type: 'subscribed', runId: this.runId }) }
        : {}),
    });
  }

  /**
   * Checks the part against this machine and the broker, forks its processes, and answers `prepared` or
   * `refused`. Resolves with the part when prepared.
   */
  static async prepare(
    message: PrepareMessage,
    send: SendToController,
    sourceAddresses: readonly string[],
  ): Promise<AgentPart | undefined> {
    const refuse = (reason: string): undefined => {
      send({ type: 'refused', runId: message.runId, reason });
      return undefined;
    };
    const misfit = partDoesNotFit(message.plan, sourceAddresses);
    if (misfit !== undefined) return refuse(misfit);
    const connection = connectionOf(message.plan);
    if (connection !== undefined) {
      try {
        await probeBroker(connection, `starling-agent-${process.pid}`);
      } catch (error) {
        return refuse((error as Error).message);
      }
    }
    const part = new AgentPart(message, send, sourceAddresses);
    try {
      await part.#runner.prepare();
    } catch (error) {
      await part.#runner.dismiss();
      return refuse(`cannot start its processes: ${(error as Error).message}`);
    }
    send({ type: 'prepared', runId: message.runId });
    return part;
  }

  /** Processes of the part. */
  get processes(): number {
    return Math.max(1, this.#runner.forkedProcesses);
  }

  /** Runs the part from `atMs` (controller clock) to its end and sends its result. */
  async start(atMs: number): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const startAtMs = atMs + this.#offsetMs;
    const cpuStart = process.cpuUsage();
    const startedAt = nowMillis();
    const pending = new LatencyHistogram();
    const tick = (atLocalMs: number): void => {
      this.#runner.drainLatency(pending);
      const latencyUs = pending.count > 0 ? pending.encode() : undefined;
      pending.reset();
      this.#send({
        type: 'tick',
        runId: this.runId,
        atMs: atLocalMs - this.#offsetMs,
        counters: this.#runner.counters,
        ...(latencyUs === undefined ? {} : { latencyUs }),
      });
    };
    const ticker = everyInterval(this.#localOrigin, this.#intervalMs, nowMillis, tick);
    let outcome: LocalOutcome;
    try {
      // Every process waits for the same instant; workers were forked ahead, so they are ready by then.
      outcome = await this.#runner.run(startAtMs);
    } catch (error) {
      ticker.stop();
      tick(nowMillis());
      this.#send({ type: 'failed', runId: this.runId, reason: (error as Error).message });
      return;
    }
    ticker.stop();
    tick(nowMillis());
    const cpu = process.cpuUsage(cpuStart);
    this.#send({
      type: 'result',
      runId: this.runId,
      result: this.#result(outcome, cpu, nowMillis() - startedAt),
    });
  }

  /** End-to-end mode: every agent's subscribers are subscribed; publish from `atMs` (controller clock). */
  publish(atMs: number): void {
    this.#publish?.({ startAtMs: atMs + this.#offsetMs });
  }

  /** End-to-end mode: every agent's publishers are done. */
  publishersDone(): void {
    this.#publishersDone?.();
  }

  /** Stops the part; its partial result is still sent. */
  stop(reason: string): void {
    this.#runner.stop(reason);
    // A part waiting at a gate must not wait for a controller that has given up.
    this.#publish?.({ startAtMs: nowMillis() });
    this.#publishersDone?.();
  }

  /** The run is called off before it started: end the forked processes. */
  async dismiss(): Promise<void> {
    if (!this.#started) await this.#runner.dismiss();
  }

  /** Hands newer clock offsets to the subscribers. */
  setClock(clock: Parameters<LocalRunner['setClock']>[0]): void {
    this.#runner.setClock(clock);
  }

  #result(outcome: LocalOutcome, cpu: NodeJS.CpuUsage, wallClockMs: number): AgentPartResult {
    const back = (ms: number): number => (Number.isFinite(ms) ? ms - this.#offsetMs : ms);
    const shares = outcome.shares.map(
      (share): ShareResult => ({
        ...share,
        timeseries: relabel(share.timeseries, this.#localOrigin, this.#controllerOrigin),
        firstStartMs: back(share.firstStartMs),
        lastEndMs: back(share.lastEndMs),
      }),
    );
    const keepalive = outcome.keepalive.map(
      (part): KeepalivePartResult => ({
        ...part,
        startedAtMs: back(part.startedAtMs),
        timeseries: relabel(part.timeseries, this.#localOrigin, this.#controllerOrigin),
      }),
    );
    const forked = this.#runner.forkedProcesses > 0;
    const ownRss = process.resourceUsage().maxRSS * 1024;
    const workerRss = forked
      ? [
          ...outcome.shares.map((share) => share.peakRssBytes),
          ...outcome.keepalive.map((part) => part.memory.rssPeakBytes),
        ]
      : [];
    return {
      shares,
      keepalive,
      cpu: [{ user: cpu.user, system: cpu.system }, ...outcome.workerCpu],
      processes: 1 + outcome.workerCpu.length,
      peakRssBytes: ownRss + workerRss.reduce((sum, rss) => sum + rss, 0),
      wallClockMs,
    };
  }
}
