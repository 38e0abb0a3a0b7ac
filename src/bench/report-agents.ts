/**
 * The per-agent part of a distributed run's reports: one row per agent (what its part sent, received and
 * spent, its latency, its clock offset), and the end-to-end latency between agents with its uncertainty,
 * with a warning when the clocks are too uncertain for the figure to mean much.
 */
import type { AgentSummary, BenchResult, CrossAgentLatencySummary } from './bench-result.js';
import { formatFixed } from './report-text.js';

/** Column titles of the agents table. */
export const AGENT_COLUMNS = [
  'agent',
  'state',
  'processes',
  'connections',
  'sent',
  'received',
  'errors',
  'p50 ms',
  'p99 ms',
  'CPU % of one core',
  'peak RSS MiB',
  'clock offset ms',
  '+- ms',
] as const;

function mib(bytes: number): string {
  return formatFixed(bytes / (1024 * 1024), 1);
}

function signed(ms: number): string {
  return `${ms >= 0 ? '+' : ''}${formatFixed(ms, 3)}`;
}

/** The cells of one agent's row, in {@link AGENT_COLUMNS} order. */
export function agentCells(agent: AgentSummary): string[] {
  return [
    agent.name,
    agent.state,
    String(agent.processes),
    String(agent.connections),
    String(agent.sent),
    String(agent.received),
    String(agent.errors),
    formatFixed(agent.p50Ms),
    formatFixed(agent.p99Ms),
    formatFixed(agent.cpuPercentOfOneCore, 1),
    mib(agent.peakRssBytes),
    signed(agent.clockOffsetMs),
    formatFixed(agent.clockUncertaintyMs, 3),
  ];
}

/** Lines (without newlines) saying what the cross-agent latency is and how far to trust it. */
export function crossAgentLines(cross: CrossAgentLatencySummary): string[] {
  const u = formatFixed(cross.uncertaintyMs, 3);
  const lines = [
    `Cross-agent end-to-end latency (clock-corrected, each figure +- ${u} ms): ` +
      `p50 ${formatFixed(cross.p50Ms)} ms, p90 ${formatFixed(cross.p90Ms)} ms, p99 ${formatFixed(cross.p99Ms)} ms, ` +
      `max ${formatFixed(cross.maxMs)} ms (${cross.count} messages; ${cross.sameAgentCount} more from the subscriber's own agent, one clock)`,
  ];
  if (cross.count > 0 && cross.uncertaintyMs > cross.p50Ms) {
    lines.push(
      `Warning: the clock uncertainty (+- ${u} ms) is larger than the cross-agent p50 (${formatFixed(cross.p50Ms)} ms): ` +
        'these latencies say little; measure latency with publisher and subscriber on one agent, or bring the agents closer to the controller',
    );
  }
  return lines;
}

/** The text section: an aligned table of the agents, then the cross-agent latency. Empty for local runs. */
export function renderAgentsText(result: BenchResult): string {
  const agents = result.agents;
  if (agents === undefined || agents.length === 0) return '';
  const rows = [AGENT_COLUMNS.map(String), ...agents.map(agentCells)];
  const widths = AGENT_COLUMNS.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const lines = [`Agents (${agents.length}):`];
  for (const row of rows) {
    lines.push(
      `  ${row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ')}`,
    );
  }
  for (const agent of agents) {
    if (agent.state === 'lost')
      lines.push(`Agent ${agent.name} was lost: ${agent.lostReason ?? 'unknown reason'}`);
  }
  if (result.crossAgentLatency !== undefined) lines.push(...crossAgentLines(result.crossAgentLatency));
  return `${lines.join('\n')}\n`;
}
