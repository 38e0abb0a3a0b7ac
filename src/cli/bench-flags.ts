/**
 * Flag helpers shared by the `starling bench` commands. They live apart from the commands so that
 * `bench-command.ts` (which dispatches to `bench compare`) and `bench-compare-command.ts` need not import
 * each other.
 */
import { readFileSync } from 'node:fs';
import type { AgentRunOptions } from '../bench/agent/agent-fleet.js';
import { agentUrl } from '../bench/agent/agent-link.js';
import { UsageError } from './usage-error.js';

/** mqtt-stresser writes `-num-clients=10`; parseArgs wants `--num-clients`. Single letters stay as they are. */
export function normaliseSingleDashFlags(argv: readonly string[]): string[] {
  return argv.map((arg) => (/^-[a-z][a-z-]+(=.*)?$/i.test(arg) && !/^-\d/.test(arg) ? `-${arg}` : arg));
}

/** A duration: `500ms`, `5s`, `2m`, `1h`, or plain seconds; undefined when the flag was not given. */
export function parseDuration(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (match === null)
    throw new UsageError(`--${name} must be a duration like 500ms, 5s or 2m, got '${text}'`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Number(match[1]) * unit;
}

/** Flags every bench command takes to run on agents (`parseArgs` options). */
export const AGENT_FLAGS = {
  agents: { type: 'string', multiple: true },
  'agents-file': { type: 'string' },
  token: { type: 'string' },
  'on-agent-loss': { type: 'string' },
} as const;

/** Help lines for {@link AGENT_FLAGS}. */
export const AGENT_FLAGS_HELP = `Distributed runs (agents started with 'starling bench agent'):
      --agents H:P[,H:P..] run on these agents instead of this machine (repeatable); -P N is then the
                           processes of the whole run, spread over the agents (default one per agent)
      --agents-file F      the agents, one HOST:PORT per line (# starts a comment)
      --token T            the agents' shared token (or STARLING_AGENT_TOKEN)
      --on-agent-loss A    continue (default) or stop the run when an agent is lost
`;

/** The agents of `--agents` / `--agents-file` and how to reach them; undefined for a local run. */
export function agentsFrom(values: {
  agents?: readonly string[];
  'agents-file'?: string;
  token?: string;
  'on-agent-loss'?: string;
}): AgentRunOptions | undefined {
  const endpoints = (values.agents ?? []).flatMap((text) => text.split(','));
  if (values['agents-file'] !== undefined) {
    let text: string;
    try {
      text = readFileSync(values['agents-file'], 'utf8');
    } catch (error) {
      throw new UsageError(`--agents-file: ${(error as Error).message}`);
    }
    for (const line of text.split('\n')) endpoints.push(line.replace(/#.*$/, ''));
  }
  const cleaned = endpoints.map((endpoint) => endpoint.trim()).filter((endpoint) => endpoint !== '');
  if (cleaned.length === 0) {
    if (values.agents !== undefined || values['agents-file'] !== undefined)
      throw new UsageError('no agents given');
    return undefined;
  }
  for (const endpoint of cleaned) {
    try {
      agentUrl(endpoint);
    } catch (error) {
      throw new UsageError(`--agents: ${(error as Error).message}`);
    }
  }
  if (new Set(cleaned).size !== cleaned.length) throw new UsageError('--agents: an agent is listed twice');
  const loss = values['on-agent-loss'] ?? 'continue';
  if (loss !== 'continue' && loss !== 'stop') {
    throw new UsageError(`--on-agent-loss must be continue or stop, got '${loss}'`);
  }
  const token = values.token ?? process.env.STARLING_AGENT_TOKEN;
  return { endpoints: cleaned, onAgentLoss: loss, ...(token === undefined ? {} : { token }) };
}
