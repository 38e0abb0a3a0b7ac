/**
 * `bench keepalive` spread over agents: the run's processes (contiguous ranges of its connections) go to
 * the agents in contiguous blocks, every agent opens its connections from one agreed instant at its share
 * of the rate, and the parts merge into one result with a line per agent. An agent lost during the run
 * counts the connections it held as dropped, with what it had reported.
 */
import type { KeepaliveLoad } from '../bench-plan.js';
import { planKeepalive, splitKeepalivePlan } from '../bench-plan.js';
import { LatencyHistogram } from '../histogram.js';
import { type KeepalivePartResult, mergeKeepaliveParts } from '../keepalive-part.js';
import type { KeepaliveResult } from '../keepalive-types.js';
import type { BenchLiveSample } from '../live-sample.js';
import type { KeepalivePlan } from '../local-runner.js';
import { nowMillis } from '../payload.js';
import type { ShareCounters } from '../scenarios/common.js';
import { AgentFleet, type AgentOutcome, type AgentRunOptions } from './agent-fleet.js';
import { agentSummary } from './agent-summary.js';
import { STARLING_VERSION } from './version.js';

/** Callbacks of a distributed keepalive run. */
export interface DistributedKeepaliveHooks {
  readonly onStage: (stage: string) => void;
  readonly onCounters: (counters: ShareCounters) => void;
  readonly onInterval: (sample: BenchLiveSample) => void;
}

/** How long agents get to fork their processes and check the broker before the run's origin. */
const PREPARE_LEAD_MS = 1500;
/** Beyond the ramp and the hold: connect timeouts and closing. */
const RUN_SLACK_MS = 60_000;

/** The result a lost agent's part stands for: what its ticks said, its connections dropped. */
function lostPart(outcome: AgentOutcome, plan: KeepalivePlan): KeepalivePartResult {
  const first = plan.parts[0];
  const requested = plan.parts.reduce((sum, part) => sum + part.options.clients, 0);
  const reason = `agent ${outcome.link.name} lost: ${outcome.lostReason ?? 'unknown'}`;
  const held = outcome.counters.connected;
  return {
    processIndex: first?.processIndex ?? -1,
    startedAtMs: first?.options.originMs ?? Number.NaN,
    url: first?.options.url ?? '',
    plan: { ok: true, sourceAddresses: [], fileDescriptorsNeeded: 0, problems: [], advice: [] },
    clientIdPrefix: first?.options.clientIdPrefix ?? '',
    requested,
    attempted: outcome.counters.sent,
    connected: outcome.counters.received,
    failed: 0,
    failures: {},
    unexpectedDisconnects: held,
    disconnects: held > 0 ? { [reason]: held } : {},
    peakOpen: held,
    openAtHold: 0,
    openAtEnd: 0,
    connectLatencyUs: outcome.latency.encode(),
    pingLatencyUs: new LatencyHistogram().encode(),
    pingsSent: 0,
    pingsAnswered: 0,
    rampMs: outcome.lostAfterMs ?? 0,
    holdMs: 0,
    wallClockMs: outcome.lostAfterMs ?? 0,
    timeseries: outcome.timeseries.toJSON(),
    perClient: Array.from({ length: requested }, () => ({ latencyUs: null, error: reason })),
    memory: { rssBeforeBytes: 0, rssPeakBytes: 0, bytesPerConnection: 0 },
    cpu: { user: 0, system: 0 },
    aborted: true,
  };
}

/** A keepalive run on agents. */
export class DistributedKeepalive {
  readonly #agents: AgentRunOptions;
  readonly #hooks: DistributedKeepaliveHooks;
  #fleet: AgentFleet | undefined;
  #stopReason: string | undefined;

  constructor(agents: AgentRunOptions, hooks: DistributedKeepaliveHooks) {
    this.#agents = agents;
    this.#hooks = hooks;
  }

  /** Stops every agent's part. */
  stop(reason: string): void {
    this.#stopReason ??= reason;
    this.#fleet?.stop(reason);
  }

  /** Runs `load` over `processes` processes on the agents. Rejects when an agent cannot take its part. */
  async run(load: KeepaliveLoad, processes: number, intervalMs: number): Promise<KeepaliveResult> {
    const agents = this.#agents.endpoints.length;
    if (processes < agents) {
      throw new RangeError(
        `-P ${processes} is fewer processes than the ${agents} agents: each agent runs at least one`,
      );
    }
    const startedAt = new Date();
    const cpuStart = process.cpuUsage();
    const fleet = await AgentFleet.connect(this.#agents, STARLING_VERSION, {
      onStage: this.#hooks.onStage,
      onCounters: this.#hooks.onCounters,
      onInterval: this.#hooks.onInterval,
    });
    this.#fleet = fleet;
    try {
      const originMs = Math.floor(nowMillis()) + PREPARE_LEAD_MS;
      const plans = splitKeepalivePlan(planKeepalive(load, processes, originMs), agents);
      if (this.#stopReason !== undefined) fleet.stop(this.#stopReason);
      const rampMs = (1000 * load.clients) / load.rate;
      const outcomes = await fleet.run({
        plans,
        originMs,
        intervalMs,
        deadlineMs: originMs + rampMs + load.durationMs + RUN_SLACK_MS,
        endToEnd: false,
      });
      const parts = outcomes.flatMap((outcome) =>
        outcome.result !== undefined
          ? [...outcome.result.keepalive]
          : [lostPart(outcome, plans[outcome.index]!)],
      );
      const own = process.cpuUsage(cpuStart);
      // An agent that forked workers spent its own CPU coordinating them; one that did not is its part.
      const extra = outcomes.flatMap((outcome) =>
        outcome.result !== undefined && outcome.result.processes > 1 ? [outcome.result.cpu[0]!] : [],
      );
      const { password: _password, insecure: _insecure, ...shown } = load;
      const merged = mergeKeepaliveParts(parts, {
        options: shown,
        url: load.url,
        startedAt,
        wallClockMs: Date.now() - startedAt.getTime(),
        coordinatorCpu: [own, ...extra].reduce(
          (sum, sample) => ({ user: sum.user + sample.user, system: sum.system + sample.system }),
          { user: 0, system: 0 },
        ),
      });
      const summaries = outcomes.map((outcome) => {
        const plan = plans[outcome.index]!;
        const connections = plan.parts.reduce((sum, part) => sum + part.options.clients, 0);
        return agentSummary(outcome, connections, plan.parts.length);
      });
      return {
        ...merged,
        processes: 1 + summaries.reduce((sum, agent) => sum + agent.processes, 0),
        agents: summaries,
      };
    } finally {
      await fleet.close();
    }
  }
}

export type { AgentRunOptions };
