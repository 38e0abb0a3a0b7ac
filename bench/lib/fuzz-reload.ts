/**
 * The fuzz with the SQLite store, or as a cluster node on Redis, also checks what a crash leaves: halfway
 * through one batch the broker is killed (SIGKILL) with whatever fuzzed sessions, subscriptions, queued and
 * retained messages it had committed, and started again on the same data directory (the same node id on
 * the same Redis). It must start, load what it kept and go on taking the fuzz. The same restart follows a
 * real crash.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchProbeBroker, type ProbeBroker, type ProbeBrokerOptions } from './probe-launcher.js';

/** The restart after the deliberate kill. */
export interface ReloadReport {
  readonly batch: number;
  /** Frames the killed broker had been sent in that batch. */
  readonly framesBeforeKill: number;
  /** From spawning the new broker to its listening (its state loaded). */
  readonly startMs: number;
  /** Sessions and retained messages the new broker loaded. */
  readonly sessionsLoaded: number;
  readonly retainedLoaded: number;
}

export type Restart =
  | { readonly broker: ProbeBroker; readonly startMs: number; readonly error?: undefined }
  | { readonly broker: ProbeBroker; readonly error: string };

export function fuzzDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'starling-fuzz-'));
}

/**
 * Start a broker again on `options` (its `sqliteDir` as the last one left it). When it cannot start on
 * that state, the reason comes back with a broker on a fresh directory of its own, so the fuzz goes on.
 */
export async function restartOnSameState(options: ProbeBrokerOptions): Promise<Restart> {
  const started = performance.now();
  try {
    const broker = await launchProbeBroker(options);
    return { broker, startMs: performance.now() - started };
  } catch (err) {
    const error = (err as Error).message;
    const broker = await launchProbeBroker({ ...options, sqliteDir: undefined });
    return { broker, error };
  }
}

/** Sessions and retained messages a freshly started broker holds: what it loaded. */
export async function loaded(broker: ProbeBroker): Promise<{ sessions: number; retained: number }> {
  const probe = await broker.probe();
  return { sessions: probe.sessions, retained: probe.retained };
}
