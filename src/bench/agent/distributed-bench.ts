/**
 * A `Bench` run spread over agents: the run's processes (exactly those a single machine would run) are
 * split into contiguous blocks, one per agent, and the agents' shares come back as if they were this
 * machine's own processes, so the merge and every report are those of a local run, plus a per-agent
 * breakdown and, end to end, the latency between agents corrected by their clock offsets.
 */

import { type MergedRun, mergeShares } from '../bench-merge.js';
import type { BenchOptions } from '../bench-options.js';
import { type BenchLoad, expectedTotal, planBench, splitBenchPlan } from '../bench-plan.js';
import type { ClientResult } from '../bench-result.js';
import { BenchSetupError } from '../bench-setup.js';
import type { BenchLiveSample } from '../live-sample.js';
import type { BenchPlan } from '../local-runner.js';
import { nowMillis } from '../payload.js';
import type { BenchProgress } from '../progress.js';
import type { ConnectionSettings, ShareResult } from '../scenarios/common.js';
import { AgentFleet, type AgentOutcome, type AgentRunOptions } from './agent-fleet.js';
import { agentSummary } from './agent-summary.js';
import { STARLING_VERSION } from './version.js';

export type { AgentRunOptions } from './agent-fleet.js';

/** Callbacks of a distributed run. */
export interface DistributedHooks {
  readonly onStage: (stage: string) => void;
  readonly onProgress: (progress: BenchProgress) => void;
  readonly onInterval: (sample: BenchLiveSample) => void;
  readonly onStopRequest: (reason: string) => void;
}

/** How long agents get to fork their processes and check the broker before the run's origin. */
const PREPARE_LEAD_MS = 1500;
const DEFAULT_TIMEOUT_MS = 600_000;

/** A distributed run of a bench scenario. */
export class DistributedBench {
  readonly #options: BenchOptions;
  readonly #agents: AgentRunOptions;
  readonly #processes: number;
  readonly #hooks: DistributedHooks;
  #fleet: AgentFleet | undefined;
  #stopReason: string | undefined;

  constructor(options: BenchOptions, agents: AgentRunOptions, processes: number, hooks: DistributedHooks) {
    this.#options = options;
    this.#agents = agents;
    this.#processes = processes;
    this.#hooks = hooks;
  }

  /** Stops every agent; `run()` resolves with what they measured so far. */
  stop(reason: string): void {
    this.#stopReason ??= reason;
    this.#fleet?.stop(reason);
  }

  /** Runs the scenario on the agents; rejects with {@link BenchSetupError} when it cannot start. */
  async run(
    connection: ConnectionSettings,
    startedAt: Date,
  ): Promise<{ merged: MergedRun; shares: readonly ShareResult[] }> {
    const options = this.#options;
    const endpoints = this.#agents.endpoints;
    if (this.#processes < endpoints.length) {
      throw new BenchSetupError(
        `-P ${this.#processes} is fewer processes than the ${endpoints.length} agents: each agent runs at least one`,
      );
    }
    const cpuStart = process.cpuUsage();
    let total: number | undefined;
    let fleet: AgentFleet;
    try {
      fleet = await AgentFleet.connect(this.#agents, STARLING_VERSION, {
        onStage: this.#hooks.onStage,
        onInterval: this.#hooks.onInterval,
        onStopRequest: this.#hooks.onStopRequest,
        ...(options.scenario.kind === 'subscribe' && options.publisher === undefined
          ? {
              onSubscribed: () => {
                const scenario = options.scenario;
                this.#hooks.onStage(
                  `subscribed: ${scenario.clientsPerProcess * this.#processes} subscriber(s) on ${scenario.kind === 'subscribe' ? scenario.topic : ''}`,
                );
              },
            }
          : {}),
        onCounters: ({ sent, done, connected }) =>
          this.#hooks.onProgress({
            sent,
            done,
            connected,
            total,
            elapsedMs: Date.now() - startedAt.getTime(),
          }),
      });
    } catch (error) {
      throw new BenchSetupError((error as Error).message, { cause: error });
    }
    this.#fleet = fleet;
    try {
      const intervalMs = options.intervalMs ?? 1000;
      const originMs = Math.floor(nowMillis()) + PREPARE_LEAD_MS;
      const bound = Math.min(
        options.durationMs ?? Number.POSITIVE_INFINITY,
        options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      );
      const load: BenchLoad = {
        scenario: options.scenario,
        ...(options.publisher === undefined ? {} : { publisher: options.publisher }),
        processes: this.#processes,
      };
      const whole = planBench(load, {
        connection,
        originMs,
        deadlineMs: originMs + bound,
        intervalMs,
        ...(options.recordRawLatency === true ? { recordRawLatency: true } : {}),
      });
      const plans = splitBenchPlan(whole, endpoints.length);
      total = expectedTotal(whole);
      if (this.#stopReason !== undefined) fleet.stop(this.#stopReason);
      let outcomes: AgentOutcome[];
      try {
        outcomes = await fleet.run({
          plans,
          originMs,
          intervalMs,
          deadlineMs: originMs + bound,
          endToEnd: whole.endToEnd === true,
          ...(whole.endToEnd === true && options.publisher !== undefined
            ? {
                clockTable: {
                  publisherPrefix: options.publisher.clientId,
                  processAgents: processAgents(plans),
                },
              }
            : {}),
        });
      } catch (error) {
        throw new BenchSetupError((error as Error).message, { cause: error });
      }
      const shares = outcomes.flatMap((outcome) => sharesOf(outcome, plans[outcome.index]!));
      const own = process.cpuUsage(cpuStart);
      const cpu = [
        { user: own.user, system: own.system },
        ...outcomes.flatMap((outcome) => outcome.result?.cpu ?? []),
      ];
      const peakRssBytes = Math.max(
        process.resourceUsage().maxRSS * 1024,
        ...outcomes.map((outcome) => outcome.result?.peakRssBytes ?? 0),
      );
      const lost = outcomes.filter((outcome) => outcome.lostReason !== undefined);
      const stopReason =
        this.#stopReason ??
        (lost.length > 0
          ? `${lost.length} agent(s) lost: ${lost.map((outcome) => outcome.link.name).join(', ')}`
          : undefined);
      const merged = mergeShares(shares, {
        scenario: options.scenario,
        ...(options.publisher === undefined ? {} : { publisher: options.publisher }),
        processes: this.#processes,
        connection,
        url: connection.url,
        startedAt,
        intervalMs,
        ...(options.durationMs === undefined ? {} : { durationMs: options.durationMs }),
        ...(options.brokerLabel === undefined ? {} : { brokerLabel: options.brokerLabel }),
        cpu,
        peakRssBytes,
        ...(stopReason === undefined ? {} : { stopReason }),
        agents: outcomes.map((outcome) => {
          const plan = plans[outcome.index]!;
          return agentSummary(outcome, connectionsOfPlan(plan), plan.shares.length);
        }),
      });
      return { merged, shares };
    } finally {
      await fleet.close();
    }
  }
}

/** The agent of every process of the run, by process index. */
function processAgents(plans: readonly BenchPlan[]): number[] {
  const agents: number[] = [];
  for (const [agent, plan] of plans.entries()) {
    for (const task of plan.shares) agents[task.processIndex] = agent;
  }
  return agents;
}

/** Connections of an agent's part. */
function connectionsOfPlan(plan: BenchPlan): number {
  const tasks = [...plan.shares, ...(plan.subscribers === undefined ? [] : [plan.subscribers])];
  return tasks.reduce((sum, task) => {
    const scenario = task.scenario;
    const perClient = scenario.kind === 'stress' ? 2 : 1;
    const extra = scenario.kind === 'fan-in' || scenario.kind === 'fan-out' ? 1 : 0;
    return sum + scenario.clientsPerProcess * perClient + extra;
  }, 0);
}

/**
 * The shares an agent contributes: its processes' own, its client rows labelled with it; or for a lost
 * agent, one failed row saying what it had done, with the latency samples and counts it had reported.
 */
function sharesOf(outcome: AgentOutcome, plan: BenchPlan): ShareResult[] {
  const name = outcome.link.name;
  if (outcome.result !== undefined) {
    return outcome.result.shares.map((share) => ({
      ...share,
      clients: share.clients.map((client): ClientResult => ({ ...client, agent: name })),
    }));
  }
  const latency = outcome.latency;
  const { sent, received, done } = outcome.counters;
  const seconds = ((outcome.lostAfterMs ?? 0) / 1000).toFixed(1);
  const nan = Number.NaN;
  const row: ClientResult = {
    clientId: `agent ${name}`,
    messagesOk: done,
    messagesTotal: Math.max(sent, done),
    timingMs:
      latency.count === 0
        ? { count: 0, mean: nan, stddev: nan, min: nan, max: nan }
        : {
            count: latency.count,
            mean: latency.mean / 1000,
            stddev: latency.stddev / 1000,
            min: latency.min / 1000,
            max: latency.max / 1000,
          },
    failed: true,
    error: `agent lost after ${seconds} s (${outcome.lostReason}); it had sent ${sent} and received ${received} messages`,
    agent: name,
  };
  const first = plan.subscribers ?? plan.shares[0];
  return [
    {
      processIndex: first?.processIndex ?? -1,
      clients: [row],
      histogramUs: latency.encode(),
      timeseries: outcome.timeseries.toJSON(),
      cpu: { user: 0, system: 0 },
      peakRssBytes: 0,
      firstStartMs: first?.originMs ?? nan,
      lastEndMs: first === undefined ? nan : first.originMs + (outcome.lostAfterMs ?? 0),
    },
  ];
}
