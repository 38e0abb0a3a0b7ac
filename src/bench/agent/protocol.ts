/**
 * The control channel between a bench controller and `starling bench agent`: one WebSocket, JSON text
 * frames, the shared token in the upgrade request's `Authorization: Bearer` header. The controller speaks
 * first (hello), measures the clock offset (NTP-style time exchanges), hands each agent its part of the run
 * (prepare), starts every part at one agreed instant (start), and the agent streams its counters and
 * latency samples once per interval (tick) until its result. All times on the wire are epoch milliseconds
 * on the controller's clock; the agent converts them with the offset the controller gives it.
 *
 * JSON has no NaN or Infinity, and results are full of NaN ("no figure"), so non-finite numbers travel as
 * `{"$number": "NaN"}` and are restored on arrival.
 */
import { z } from 'zod';
import type { KeepalivePartResult } from '../keepalive-part.js';
import type { LocalPlan } from '../local-runner.js';
import type { CpuSample } from '../result-builder.js';
import type { ClockTable, ShareCounters, ShareResult } from '../scenarios/common.js';

/** Bumped on any incompatible change; controller and agents must agree. */
export const AGENT_PROTOCOL = 1;

/** What the agent says about itself and the machine it runs on. */
export interface AgentInfo {
  readonly protocol: number;
  /** The agent's Starling version. */
  readonly version: string;
  readonly hostname: string;
  readonly platform: string;
  readonly pid: number;
  readonly cores: number;
  readonly totalMemoryBytes: number;
  readonly freeMemoryBytes: number;
  /** `ulimit -n` of the agent process (its workers inherit it); null when unknown. */
  readonly openFilesSoft: number | null;
  readonly openFilesHard: number | null;
  /** The ephemeral port range and how many ports of it are free now; null when unknown. */
  readonly portRange: { readonly low: number; readonly high: number } | null;
  readonly freePorts: number | null;
  /** Local addresses its keepalive connections bind (`--source`); empty for the kernel's choice. */
  readonly sourceAddresses: readonly string[];
}

/** Controller to agent. */
export type ToAgent =
  | { readonly type: 'hello'; readonly protocol: number; readonly version: string }
  | { readonly type: 'time'; readonly id: number; readonly t1: number }
  | {
      readonly type: 'prepare';
      readonly runId: string;
      readonly agent: number;
      readonly plan: LocalPlan;
      /** The controller's estimate of (agent clock - controller clock), ms. */
      readonly clockOffsetMs: number;
    }
  | { readonly type: 'start'; readonly runId: string; readonly atMs: number }
  /** End-to-end mode: every agent's subscribers are subscribed; publish from `atMs`. */
  | { readonly type: 'publish'; readonly runId: string; readonly atMs: number }
  /** End-to-end mode: every agent's publishers are done. */
  | { readonly type: 'publishers-done'; readonly runId: string }
  | { readonly type: 'clock'; readonly runId: string; readonly clock: ClockTable }
  | { readonly type: 'stop'; readonly runId: string; readonly reason: string };

/** Agent to controller. */
export type FromAgent =
  | { readonly type: 'info'; readonly info: AgentInfo }
  | {
      readonly type: 'time';
      readonly id: number;
      readonly t1: number;
      readonly t2: number;
      readonly t3: number;
    }
  | { readonly type: 'prepared'; readonly runId: string }
  | { readonly type: 'refused'; readonly runId: string; readonly reason: string }
  /** Running totals of the part and the latency samples since the previous tick; `atMs` is the interval's end. */
  | {
      readonly type: 'tick';
      readonly runId: string;
      readonly atMs: number;
      readonly counters: ShareCounters;
      readonly latencyUs?: string;
    }
  | { readonly type: 'subscribed'; readonly runId: string }
  | { readonly type: 'published'; readonly runId: string }
  | { readonly type: 'stop-request'; readonly runId: string; readonly reason: string }
  | { readonly type: 'result'; readonly runId: string; readonly result: AgentPartResult }
  | { readonly type: 'failed'; readonly runId: string; readonly reason: string };

/** What an agent's part produced; times already on the controller's clock. */
export interface AgentPartResult {
  readonly shares: readonly ShareResult[];
  readonly keepalive: readonly KeepalivePartResult[];
  /** Every process of the part: the agent's own, then its workers'. */
  readonly cpu: readonly CpuSample[];
  readonly processes: number;
  /** Sum of the part's processes' peak RSS. */
  readonly peakRssBytes: number;
  /** Wall clock of the part, from its start to its result, ms. */
  readonly wallClockMs: number;
}

const NON_FINITE = '$number';

/** JSON text of a message, non-finite numbers kept. */
export function encodeMessage(message: ToAgent | FromAgent): string {
  return JSON.stringify(message, (_key, value: unknown) =>
    typeof value === 'number' && !Number.isFinite(value) ? { [NON_FINITE]: String(value) } : value,
  );
}

function revive(_key: string, value: unknown): unknown {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === NON_FINITE)
      return Number((value as Record<string, string>)[NON_FINITE]);
  }
  return value;
}

const runId = z.string().min(1).max(100);
const finite = z.number().finite();
const counters = z.object({
  sent: finite,
  done: finite,
  connected: finite,
  received: finite,
  errors: finite,
});

/** Envelopes are checked; the large plans and results inside are trusted to the authenticated peer's version. */
const toAgentSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('hello'), protocol: z.number().int(), version: z.string() }),
  z.object({ type: z.literal('time'), id: z.number().int(), t1: finite }),
  z.object({
    type: z.literal('prepare'),
    runId,
    agent: z.number().int().min(0),
    plan: z.looseObject({ kind: z.enum(['bench', 'keepalive']) }),
    clockOffsetMs: finite,
  }),
  z.object({ type: z.literal('start'), runId, atMs: finite }),
  z.object({ type: z.literal('publish'), runId, atMs: finite }),
  z.object({ type: z.literal('publishers-done'), runId }),
  z.object({ type: z.literal('clock'), runId, clock: z.looseObject({ agent: z.number().int() }) }),
  z.object({ type: z.literal('stop'), runId, reason: z.string() }),
]);

const fromAgentSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('info'), info: z.looseObject({ protocol: z.number(), version: z.string() }) }),
  z.object({ type: z.literal('time'), id: z.number().int(), t1: finite, t2: finite, t3: finite }),
  z.object({ type: z.literal('prepared'), runId }),
  z.object({ type: z.literal('refused'), runId, reason: z.string() }),
  z.object({ type: z.literal('tick'), runId, atMs: finite, counters, latencyUs: z.string().optional() }),
  z.object({ type: z.literal('subscribed'), runId }),
  z.object({ type: z.literal('published'), runId }),
  z.object({ type: z.literal('stop-request'), runId, reason: z.string() }),
  z.object({
    type: z.literal('result'),
    runId,
    result: z.looseObject({ shares: z.array(z.unknown()), keepalive: z.array(z.unknown()) }),
  }),
  z.object({ type: z.literal('failed'), runId, reason: z.string() }),
]);

function parse<T>(schema: z.ZodType, text: string, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text, revive);
  } catch {
    throw new TypeError(`${what}: not JSON`);
  }
  const checked = schema.safeParse(value);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    throw new TypeError(`${what}: ${issue?.path.join('.') || 'message'} ${issue?.message ?? 'is malformed'}`);
  }
  // The schema strips nothing the types need: nested objects are loose and checked parts are copied as is.
  return value as T;
}

/** Reads a controller's message; TypeError when it is not one. */
export function decodeToAgent(text: string): ToAgent {
  return parse<ToAgent>(toAgentSchema, text, 'bad message from the controller');
}

/** Reads an agent's message; TypeError when it is not one. */
export function decodeFromAgent(text: string): FromAgent {
  return parse<FromAgent>(fromAgentSchema, text, 'bad message from the agent');
}
