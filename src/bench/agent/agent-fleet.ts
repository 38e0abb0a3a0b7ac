/**
 * The controller's side of a distributed run: connects to every agent and checks it (protocol, version,
 * cores, open-file limit, free ports), estimates every agent's clock offset, hands each its part, starts
 * all parts at one agreed instant, runs the end-to-end phases across agents, keeps live figures from the
 * agents' ticks, follows clock drift during the run, and collects the parts' results. An agent lost during
 * the run is reported with what it had sent; the run goes on without it or stops, as asked. Ctrl-C (or
 * any stop) stops every agent, and their partial results are still collected.
 */
import { randomBytes } from 'node:crypto';
import { LatencyHistogram } from '../histogram.js';
import { everyInterval, LiveSampler } from '../live-sample.js';
import type { LocalPlan } from '../local-runner.js';
import { nowMillis } from '../payload.js';
import { type ClockTable, emptyCounters, type ShareCounters } from '../scenarios/common.js';
import { ThroughputTimeSeries } from '../timeseries.js';
import { type AgentConnectOptions, AgentLink, type AgentTick } from './agent-link.js';
import type { ClockEstimate } from './clock-sync.js';
import { AGENT_PROTOCOL, type AgentPartResult } from './protocol.js';

/** Where a distributed run runs. */
export interface AgentRunOptions extends AgentConnectOptions {
  /** The agents, `host:port` each. */
  readonly endpoints: readonly string[];
  /** What to do when an agent is lost during the run: go on without it (default) or stop the run. */
  readonly onAgentLoss?: 'continue' | 'stop';
}

/** Callbacks of a fleet run. */
export interface FleetHooks {
  readonly onStage?: (stage: string) => void;
  /** Running totals over every agent, every 250 ms. */
  readonly onCounters?: (counters: ShareCounters) => void;
  readonly onInterval?: (sample: import('../live-sample.js').BenchLiveSample) => void;
  /** An agent asked the whole run to stop (its broker dropped messages). */
  readonly onStopRequest?: (reason: string) => void;
  /** Subscribe runs without publishers: every agent's subscribers are subscribed. */
  readonly onSubscribed?: () => void;
}

/** A run to spread: one plan per agent, times on this machine's clock. */
export interface FleetRun {
  readonly plans: readonly LocalPlan[];
  readonly originMs: number;
  readonly intervalMs: number;
  /** Bound of the whole run on this clock; agents missing results well after it are lost. */
  readonly deadlineMs: number;
  /** End-to-end: subscribers everywhere first, then publishers, then the end of the stream. */
  readonly endToEnd: boolean;
  /** End-to-end: how subscribers find a publisher's agent from its client id. */
  readonly clockTable?: Omit<ClockTable, 'agent' | 'offsetsUs' | 'uncertaintiesUs'>;
}

/** What one agent's part came to. */
export interface AgentOutcome {
  readonly link: AgentLink;
  readonly index: number;
  /** Absent when the agent was lost. */
  readonly result?: AgentPartResult;
  readonly lostReason?: string;
  /** When it was lost, ms after the origin. */
  readonly lostAfterMs?: number;
  /** Its last running totals, and the latency samples and per-interval counts of its ticks. */
  readonly counters: ShareCounters;
  readonly latency: LatencyHistogram;
  readonly timeseries: ThroughputTimeSeries;
  readonly clock: ClockEstimate;
}

/** How long before the agreed start every agent is told it. */
const START_LEAD_MS = 500;
/** Time exchanges per agent before the run, and how far apart. */
const SYNC_BURST = 8;
const SYNC_SPACING_MS = 15;
/** Time exchanges during the run. */
const SYNC_EVERY_MS = 2000;
/** How long after an interval's end the controller cuts its sample, so the agents' ticks are in. */
const SAMPLE_GRACE_MS = 300;
/** How long after the run's deadline an agent may take to send its result before it counts as lost. */
const RESULT_GRACE_MS = 30_000;

/** Connected, checked agents ready for runs. */
export class AgentFleet {
  readonly links: readonly AgentLink[];
  readonly #options: AgentRunOptions;
  readonly #hooks: FleetHooks;
  #runId: string | undefined;
  #stopReason: string | undefined;

  private constructor(links: AgentLink[], options: AgentRunOptions, hooks: FleetHooks) {
    this.links = links;
    this.#options = options;
    this.#hooks = hooks;
  }

  /**
   * Connects to every agent, checks that it speaks this protocol and runs this version, and estimates its
   * clock offset. Rejects (after closing what was opened) with a sentence naming the agent at fault.
   */
  static async connect(
    options: AgentRunOptions,
    version: string,
    hooks: FleetHooks = {},
  ): Promise<AgentFleet> {
    if (options.endpoints.length === 0) throw new RangeError('no agents given');
    if (new Set(options.endpoints).size !== options.endpoints.length)
      throw new RangeError('an agent is listed twice');
    const settled = await Promise.allSettled(
      options.endpoints.map((endpoint) => AgentLink.connect(endpoint, options)),
    );
    const links = settled.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
    const fleet = new AgentFleet(links, options, hooks);
    try {
      const failed = settled.find((outcome) => outcome.status === 'rejected');
      if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
      await Promise.all(links.map((link) => fleet.#check(link, version)));
    } catch (error) {
      await fleet.close();
      throw error;
    }
    return fleet;
  }

  async #check(link: AgentLink, version: string): Promise<void> {
    const info = await link.hello(version);
    if (info.protocol !== AGENT_PROTOCOL) {
      throw new Error(
        `agent ${link.name} speaks agent protocol ${info.protocol}, this controller ${AGENT_PROTOCOL}`,
      );
    }
    if (info.version !== version) {
      throw new Error(
        `agent ${link.name} runs Starling ${info.version}, this controller ${version}: run the same version`,
      );
    }
    const estimate = await link.syncClock(SYNC_BURST, SYNC_SPACING_MS);
    this.#hooks.onStage?.(
      `agent ${link.name}: ${info.hostname}, ${info.cores} cores, ulimit -n ${info.openFilesSoft ?? 'unknown'}, ` +
        `${info.freePorts ?? 'unknown'} free local ports, clock offset ${estimate.offsetMs.toFixed(3)} ms ` +
        `+- ${estimate.uncertaintyMs.toFixed(3)} ms`,
    );
  }

  /** Stops the run on every agent; their partial results still come. */
  stop(reason: string): void {
    this.#stopReason ??= reason;
    const runId = this.#runId;
    if (runId === undefined) return;
    for (const link of this.links) link.stop(runId, reason);
  }

  /** Closes every connection; resolves once they are closed. */
  async close(): Promise<void> {
    await Promise.all(this.links.map((link) => link.close()));
  }

  /** The clock table agent `index` corrects latency with. */
  #clockTable(index: number, base: NonNullable<FleetRun['clockTable']>): ClockTable {
    const estimates = this.links.map((link) => link.estimate);
    return {
      ...base,
      agent: index,
      offsetsUs: estimates.map((estimate) => estimate.offsetMs * 1000),
      uncertaintiesUs: estimates.map((estimate) =>
        Number.isFinite(estimate.uncertaintyMs) ? estimate.uncertaintyMs * 1000 : 0,
      ),
    };
  }

  /** Runs one plan per agent to its end; rejects before the start when an agent refuses its part. */
  async run(run: FleetRun): Promise<AgentOutcome[]> {
    const { links } = this;
    if (run.plans.length !== links.length) throw new RangeError('one plan per agent is needed');
    const runId = randomBytes(6).toString('hex');
    for (const [index, link] of links.entries()) {
      const plan = run.plans[index]!;
      const processes = plan.kind === 'bench' ? plan.shares.length : plan.parts.length;
      const cores = link.info?.cores ?? Number.POSITIVE_INFINITY;
      // Processes beyond the cores share them: the agent then measures its own contention too.
      if (processes > cores) {
        this.#hooks.onStage?.(`warning: agent ${link.name} gets ${processes} processes on ${cores} cores`);
      }
    }
    const plans = run.plans.map((plan, index) =>
      withClock(plan, run.clockTable && this.#clockTable(index, run.clockTable)),
    );
    const prepared = await Promise.allSettled(
      links.map((link, index) => link.prepare(runId, index, plans[index]!, link.estimate.offsetMs)),
    );
    const refused = prepared.find((outcome) => outcome.status === 'rejected');
    if (refused !== undefined || this.#stopReason !== undefined) {
      for (const link of links) link.stop(runId, 'the run was called off before it started');
      if (refused !== undefined) throw (refused as PromiseRejectedResult).reason;
      throw new Error(`the run was stopped before it started: ${this.#stopReason}`);
    }
    this.#runId = runId;
    const state = links.map(() => ({
      counters: emptyCounters(),
      latency: new LatencyHistogram(),
      timeseries: new ThroughputTimeSeries(run.originMs, run.intervalMs),
      lostAfterMs: undefined as number | undefined,
    }));
    const sampler = new LiveSampler(
      run.originMs,
      links.map((link) => link.name),
    );
    const results = links.map((link) => link.result(runId));
    for (const [index, link] of links.entries()) {
      const own = state[index]!;
      link.on('tick', (tick: AgentTick) => {
        const previous = own.counters;
        const at = Math.max(run.originMs, tick.atMs - run.intervalMs / 2);
        if (tick.counters.sent > previous.sent)
          own.timeseries.recordSent(at, tick.counters.sent - previous.sent);
        if (tick.counters.received > previous.received) {
          own.timeseries.recordReceived(at, tick.counters.received - previous.received);
        }
        own.counters = tick.counters;
        sampler.update(index, tick.counters);
        if (tick.latencyUs !== undefined) {
          const latency = LatencyHistogram.decode(tick.latencyUs);
          own.latency.merge(latency);
          sampler.latency.merge(latency);
        }
      });
      link.on('stop-request', (reason) => this.#hooks.onStopRequest?.(reason));
      link.once('lost', (reason) => {
        own.lostAfterMs = nowMillis() - run.originMs;
        sampler.setState(index, 'lost');
        this.#hooks.onStage?.(
          `agent ${link.name} lost: ${reason}; it had sent ${own.counters.sent}, received ${own.counters.received}`,
        );
        if (this.#options.onAgentLoss === 'stop')
          this.#hooks.onStopRequest?.(`agent ${link.name} lost: ${reason}`);
      });
      results[index]!.then(
        () => sampler.setState(index, 'done'),
        () => undefined,
      );
    }
    const startAt = Math.max(run.originMs, nowMillis() + START_LEAD_MS);
    for (const link of links) link.start(runId, startAt);
    this.#hooks.onStage?.(`started ${links.length} agents at one instant`);

    const reportCounters = (): void => {
      const total = emptyCounters();
      for (const own of state) {
        total.sent += own.counters.sent;
        total.done += own.counters.done;
        total.connected += own.counters.connected;
        total.received += own.counters.received;
        total.errors += own.counters.errors;
      }
      this.#hooks.onCounters?.(total);
    };
    const progress = setInterval(reportCounters, 250);
    const intervals = everyInterval(run.originMs + SAMPLE_GRACE_MS, run.intervalMs, nowMillis, (atMs) =>
      this.#hooks.onInterval?.(sampler.sample(atMs - SAMPLE_GRACE_MS)),
    );
    const clocks = setInterval(() => {
      void this.#resync(runId, run);
    }, SYNC_EVERY_MS);
    const overdue = setTimeout(
      () => {
        for (const link of links)
          if (link.lost === undefined) link.markLost('no result by the end of the run');
      },
      Math.max(0, run.deadlineMs - nowMillis()) + RESULT_GRACE_MS,
    );
    try {
      if (run.endToEnd) await this.#endToEnd(runId, links);
      else if (this.#hooks.onSubscribed !== undefined) {
        const onSubscribed = this.#hooks.onSubscribed;
        void allOf(links, 'subscribed').then(() => {
          // Only when every agent is there: a lost one must not pass for subscribed.
          if (links.every((link) => link.lost === undefined)) onSubscribed();
        });
      }
      const settled = await Promise.allSettled(results);
      return settled.map((outcome, index): AgentOutcome => {
        const link = links[index]!;
        const own = state[index]!;
        const base = {
          link,
          index,
          counters: own.counters,
          latency: own.latency,
          timeseries: own.timeseries,
          clock: link.estimate,
        };
        if (outcome.status === 'fulfilled') return { ...base, result: outcome.value };
        return {
          ...base,
          lostReason: (outcome.reason as Error).message,
          lostAfterMs: own.lostAfterMs ?? nowMillis() - run.originMs,
        };
      });
    } finally {
      clearInterval(progress);
      reportCounters();
      clearInterval(clocks);
      clearTimeout(overdue);
      intervals.stop();
      this.#hooks.onInterval?.(sampler.sample(nowMillis()));
      for (const link of links) link.removeAllListeners('tick');
    }
  }

  /** Subscribers everywhere, then publishers everywhere, then the end of the stream everywhere. */
  async #endToEnd(runId: string, links: readonly AgentLink[]): Promise<void> {
    await allOf(links, 'subscribed');
    this.#hooks.onStage?.("every agent's subscribers are subscribed: publishing");
    const atMs = nowMillis() + 200;
    for (const link of links) link.publish(runId, atMs);
    await allOf(links, 'published');
    this.#hooks.onStage?.("every agent's publishers are done");
    for (const link of links) link.publishersDone(runId);
  }

  /** One more time exchange with every agent; end-to-end runs get the refined offsets. */
  async #resync(runId: string, run: FleetRun): Promise<void> {
    await Promise.allSettled(
      this.links.filter((link) => link.lost === undefined).map((link) => link.exchangeTime()),
    );
    if (run.clockTable === undefined) return;
    for (const [index, link] of this.links.entries())
      link.setClock(runId, this.#clockTable(index, run.clockTable));
  }
}

/** Resolves once every agent has emitted `event` or is lost. */
function allOf(links: readonly AgentLink[], event: 'subscribed' | 'published'): Promise<void> {
  return Promise.all(
    links.map(
      (link) =>
        new Promise<void>((resolve) => {
          if (link.lost !== undefined) return resolve();
          link.once(event, () => resolve());
          link.once('lost', () => resolve());
        }),
    ),
  ).then(() => undefined);
}

/** The plan with the agent's clock table on its subscribers. */
function withClock(plan: LocalPlan, clock: ClockTable | undefined): LocalPlan {
  if (clock === undefined || plan.kind !== 'bench' || plan.subscribers === undefined) return plan;
  return { ...plan, subscribers: { ...plan.subscribers, clock } };
}
