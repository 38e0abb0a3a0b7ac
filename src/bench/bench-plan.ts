/**
 * The processes of a whole run, and how a distributed run spreads them over agents. A local `-P N` run
 * forks N processes; a distributed run spreads the same N processes over the agents in contiguous blocks
 * (splitting N as evenly as the counts allow), so the parts add up to exactly the run a single machine
 * would have made: the same clients, client ids, topics, message counts and rates.
 */

import type { KeepalivePartTask } from './keepalive-part.js';
import type { KeepaliveOptions } from './keepalive-types.js';
import type { BenchPlan, KeepalivePlan } from './local-runner.js';
import type { ConnectionSettings, PublishScenario, Scenario, ShareTask } from './scenarios/common.js';

/** What every process of a run shares. */
export interface RunBase {
  readonly connection: ConnectionSettings;
  /** Start of the run, epoch ms on the coordinator's clock: the time series origin. */
  readonly originMs: number;
  readonly deadlineMs: number;
  readonly intervalMs: number;
  readonly recordRawLatency?: boolean;
}

/** The load of a bench run as its flags describe it. */
export interface BenchLoad {
  readonly scenario: Scenario;
  readonly publisher?: PublishScenario;
  readonly processes: number;
}

/** How long subscribers wait for stragglers once every publisher is done (end-to-end mode). */
export const PUBLISH_MODE_IDLE_MS = 2000;

/** Splits `total` into `parts` integers that differ by at most one, larger ones first; they sum to `total`. */
export function splitEvenly(total: number, parts: number): number[] {
  if (!Number.isInteger(total) || total < 0)
    throw new RangeError(`total must be an integer >= 0, got ${total}`);
  if (!Number.isInteger(parts) || parts < 1)
    throw new RangeError(`parts must be an integer >= 1, got ${parts}`);
  const base = Math.floor(total / parts);
  const extra = total % parts;
  return Array.from({ length: parts }, (_, i) => base + (i < extra ? 1 : 0));
}

/** Cuts `items` into `parts` contiguous blocks whose sizes come from {@link splitEvenly}. */
export function contiguousBlocks<T>(items: readonly T[], parts: number): T[][] {
  let start = 0;
  return splitEvenly(items.length, parts).map((size) => {
    const block = items.slice(start, start + size);
    start += size;
    return block;
  });
}

/** Every process of the run, as one machine would run them. */
export function planBench(load: BenchLoad, base: RunBase): BenchPlan {
  const common = {
    connection: base.connection,
    originMs: base.originMs,
    deadlineMs: base.deadlineMs,
    intervalMs: base.intervalMs,
    ...(base.recordRawLatency === true ? { recordRawLatency: true } : {}),
  };
  const { scenario, publisher, processes } = load;
  if (scenario.kind !== 'subscribe' || publisher === undefined) {
    const shares = Array.from(
      { length: processes },
      (_, i): ShareTask => ({ ...common, scenario, processIndex: i }),
    );
    return { kind: 'bench', shares };
  }
  // End-to-end: every subscriber receives every publisher's messages.
  const expected = publisher.messagesPerClient;
  const subscribers: ShareTask = {
    ...common,
    processIndex: 0,
    scenario: {
      ...scenario,
      expectedPerPublisher: scenario.expectedPerPublisher ?? expected,
      idleTimeoutMs: Math.min(scenario.idleTimeoutMs, PUBLISH_MODE_IDLE_MS),
      count: scenario.count > 0 ? scenario.count : expected * publisher.clientsPerProcess * processes,
    },
  };
  const timestamped: PublishScenario = { ...publisher, timestamp: true };
  const shares = Array.from(
    { length: processes },
    (_, i): ShareTask => ({ ...common, scenario: timestamped, processIndex: i }),
  );
  return { kind: 'bench', shares, endToEnd: true, subscribers };
}

/**
 * The parts of a distributed run: process blocks per agent; in end-to-end mode the subscribers too are
 * split over the agents (agent k's subscribers are numbered as process k, so client ids stay unique).
 * Every agent needs at least one process.
 */
export function splitBenchPlan(plan: BenchPlan, agents: number): BenchPlan[] {
  if (plan.shares.length < agents) {
    throw new RangeError(
      `${plan.shares.length} processes cannot be spread over ${agents} agents (-P must be >= agents)`,
    );
  }
  const blocks = contiguousBlocks(plan.shares, agents);
  if (plan.endToEnd !== true || plan.subscribers === undefined) {
    return blocks.map((shares) => ({
      kind: 'bench',
      shares,
      ...(plan.endToEnd === true ? { endToEnd: true } : {}),
    }));
  }
  const whole = plan.subscribers;
  const counts = splitEvenly(whole.scenario.clientsPerProcess, agents);
  let offset = 0;
  return blocks.map((shares, k) => {
    const count = counts[k]!;
    const subscribers: ShareTask | undefined =
      count === 0
        ? undefined
        : {
            ...whole,
            processIndex: k,
            clientOffset: offset,
            scenario: { ...whole.scenario, clientsPerProcess: count },
          };
    offset += count;
    return { kind: 'bench', shares, endToEnd: true, ...(subscribers === undefined ? {} : { subscribers }) };
  });
}

/** What a keepalive run's flags describe (options of the whole run). */
export type KeepaliveLoad = Omit<KeepaliveOptions, 'limits' | 'tls' | 'firstClient'> & {
  readonly insecure?: boolean;
};

/**
 * The processes of a keepalive run: the connections split as evenly as possible over `processes`, each
 * with its range of connection numbers (so client ids and the broker each connection goes to are those of
 * a single-process run) and its share of the connection rate.
 */
export function planKeepalive(load: KeepaliveLoad, processes: number, originMs: number): KeepalivePlan {
  const counts = splitEvenly(load.clients, processes);
  if (counts.some((count) => count === 0)) {
    throw new RangeError(`${load.clients} clients cannot be spread over ${processes} processes`);
  }
  let firstClient = 0;
  const parts = counts.map((clients, processIndex): KeepalivePartTask => {
    const part: KeepalivePartTask = {
      processIndex,
      options: { ...load, clients, firstClient, rate: (load.rate * clients) / load.clients, originMs },
    };
    firstClient += clients;
    return part;
  });
  return { kind: 'keepalive', parts };
}

/** The parts of a distributed keepalive run: contiguous blocks of processes per agent. */
export function splitKeepalivePlan(plan: KeepalivePlan, agents: number): KeepalivePlan[] {
  if (plan.parts.length < agents) {
    throw new RangeError(
      `${plan.parts.length} processes cannot be spread over ${agents} agents (-P must be >= agents)`,
    );
  }
  return contiguousBlocks(plan.parts, agents).map((parts) => ({ kind: 'keepalive', parts }));
}

/** Connections one process of the plan opens (one file descriptor and one local port each). */
export function connectionsOf(task: ShareTask | KeepalivePartTask): number {
  if ('options' in task) return task.options.clients;
  const scenario = task.scenario;
  switch (scenario.kind) {
    case 'publish':
    case 'subscribe':
      return scenario.clientsPerProcess;
    case 'stress':
      return 2 * scenario.clientsPerProcess;
    case 'fan-out':
    case 'fan-in':
      return scenario.clientsPerProcess + 1;
  }
}

/** Messages the run is expected to complete, for progress; undefined when only time bounds it. */
export function expectedTotal(plan: BenchPlan): number | undefined {
  if (plan.endToEnd === true) {
    const perSubscriber =
      plan.subscribers?.scenario.kind === 'subscribe' ? plan.subscribers.scenario.count : 0;
    return perSubscriber * (plan.subscribers?.scenario.clientsPerProcess ?? 0);
  }
  let total = 0;
  for (const { scenario } of plan.shares) {
    if (scenario.kind === 'subscribe') {
      if (scenario.count === 0) return undefined;
      total += scenario.count * scenario.clientsPerProcess;
    } else {
      total += scenario.clientsPerProcess * scenario.messagesPerClient;
    }
  }
  return total;
}
