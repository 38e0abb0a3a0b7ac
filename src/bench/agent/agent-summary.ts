/**
 * One agent's line in a distributed run's report, from what the controller knows of it: its part's
 * result when it finished, otherwise its last running totals and the latency samples of its ticks.
 */
import type { AgentSummary } from '../bench-result.js';
import type { AgentOutcome } from './agent-fleet.js';

/**
 * The summary of `outcome`; `connections` is what its part opened (or was to open) and `plannedProcesses`
 * the processes its part had, for an agent lost before saying how many it ran.
 */
export function agentSummary(
  outcome: AgentOutcome,
  connections: number,
  plannedProcesses: number,
): AgentSummary {
  const info = outcome.link.info;
  const result = outcome.result;
  const latency = outcome.latency;
  const wall = result?.wallClockMs ?? outcome.lostAfterMs ?? 0;
  const cpuUs = (result?.cpu ?? []).reduce((sum, sample) => sum + sample.user + sample.system, 0);
  return {
    name: outcome.link.name,
    state: result === undefined ? 'lost' : 'done',
    ...(outcome.lostReason === undefined ? {} : { lostReason: outcome.lostReason }),
    version: info?.version ?? 'unknown',
    cores: info?.cores ?? Number.NaN,
    // A part of several processes forks them and coordinates from the agent's own.
    processes: result?.processes ?? (plannedProcesses > 1 ? plannedProcesses + 1 : 1),
    connections,
    sent: outcome.counters.sent,
    received: outcome.counters.received,
    // A lost agent is one more failure: its part has a failed row.
    errors: outcome.counters.errors + (result === undefined ? 1 : 0),
    p50Ms: latency.count === 0 ? Number.NaN : latency.percentile(50) / 1000,
    p99Ms: latency.count === 0 ? Number.NaN : latency.percentile(99) / 1000,
    cpuPercentOfOneCore: wall > 0 && result !== undefined ? (cpuUs / 1000 / wall) * 100 : Number.NaN,
    peakRssBytes: result?.peakRssBytes ?? Number.NaN,
    clockOffsetMs: outcome.clock.offsetMs,
    clockUncertaintyMs: outcome.clock.uncertaintyMs,
  };
}
