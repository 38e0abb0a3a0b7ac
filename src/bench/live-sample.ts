/**
 * The live feed of a bench run: one {@link BenchLiveSample} per interval, emitted as the `interval` event
 * of `Bench` for local and distributed runs alike. Counts are of that interval only, so the samples of a
 * run add up to its totals; latency percentiles come from the interval's own histogram, merged exactly
 * across processes and agents (never an average of averages).
 */
import type { BenchLiveAgentRow, BenchLiveSample } from '../dashboard/bench-live.js';
import { LatencyHistogram } from './histogram.js';

export type { BenchLiveAgentRow, BenchLiveSample } from '../dashboard/bench-live.js';

/** Running totals of one source (a machine's processes summed), as its counters report them. */
export interface LiveCounters {
  readonly sent: number;
  readonly received: number;
  readonly errors: number;
  readonly connected: number;
}

interface AgentState {
  readonly name: string;
  current: LiveCounters;
  previous: LiveCounters;
  state: BenchLiveAgentRow['state'];
}

const ZERO: LiveCounters = { sent: 0, received: 0, errors: 0, connected: 0 };

/**
 * Turns running totals per agent and latency samples into interval samples: each `sample()` reports what
 * changed since the previous one.
 */
export class LiveSampler {
  readonly #startMs: number;
  readonly #agents: AgentState[];
  readonly #latency = new LatencyHistogram();
  #lastAt: number;

  /** A sampler for a run that started at `startMs` (epoch ms) on the given agents (or `['local']`). */
  constructor(startMs: number, agentNames: readonly string[]) {
    this.#startMs = startMs;
    this.#lastAt = startMs;
    this.#agents = agentNames.map((name) => ({ name, current: ZERO, previous: ZERO, state: 'running' }));
  }

  /** The histogram this interval's latency samples go into. */
  get latency(): LatencyHistogram {
    return this.#latency;
  }

  /** The latest running totals of agent `index`; a lost agent's totals stay where they were. */
  update(index: number, counters: LiveCounters): void {
    const agent = this.#agents[index];
    if (agent === undefined || agent.state === 'lost') return;
    agent.current = {
      sent: counters.sent,
      received: counters.received,
      errors: counters.errors,
      connected: counters.connected,
    };
  }

  /** Marks agent `index` done or lost; a lost agent holds no connections any more. */
  setState(index: number, state: BenchLiveAgentRow['state']): void {
    const agent = this.#agents[index];
    if (agent === undefined || agent.state === 'lost') return;
    agent.state = state;
    if (state === 'lost') agent.current = { ...agent.current, connected: 0 };
  }

  /** The interval ending at `atMs`: what changed since the previous sample. */
  sample(atMs: number): BenchLiveSample {
    const rows: BenchLiveAgentRow[] = this.#agents.map((agent) => {
      const row: BenchLiveAgentRow = {
        name: agent.name,
        sent: agent.current.sent - agent.previous.sent,
        received: agent.current.received - agent.previous.received,
        errors: agent.current.errors - agent.previous.errors,
        connected: agent.current.connected,
        state: agent.state,
      };
      agent.previous = agent.current;
      return row;
    });
    const histogram = this.#latency;
    const latencyMs =
      histogram.count === 0
        ? undefined
        : {
            p50: histogram.percentile(50) / 1000,
            p90: histogram.percentile(90) / 1000,
            p99: histogram.percentile(99) / 1000,
            p999: histogram.percentile(99.9) / 1000,
            max: histogram.max / 1000,
          };
    histogram.reset();
    const sample: BenchLiveSample = {
      at: atMs,
      elapsedMs: atMs - this.#startMs,
      intervalMs: atMs - this.#lastAt,
      sent: rows.reduce((sum, row) => sum + row.sent, 0),
      received: rows.reduce((sum, row) => sum + row.received, 0),
      errors: rows.reduce((sum, row) => sum + row.errors, 0),
      connected: rows.reduce((sum, row) => sum + row.connected, 0),
      latencyMs,
      agents: rows,
    };
    this.#lastAt = atMs;
    return sample;
  }
}

/**
 * Calls `tick` at `originMs + k * intervalMs` (epoch ms on `now`'s clock) until stopped, so every level
 * of a run (processes, agents, controller) cuts its intervals at the same instants.
 */
export function everyInterval(
  originMs: number,
  intervalMs: number,
  now: () => number,
  tick: (atMs: number) => void,
): { stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let next = originMs + intervalMs * Math.max(1, Math.ceil((now() - originMs) / intervalMs));
  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(
      () => {
        const at = next;
        next += intervalMs;
        // A loop that fell behind by whole intervals skips them rather than firing a burst.
        while (next <= now()) next += intervalMs;
        tick(at);
        schedule();
      },
      Math.max(0, next - now()),
    );
  };
  schedule();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
