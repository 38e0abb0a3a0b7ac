/**
 * From a crash dump to the bytes that trigger it: replay each recorded session alone against a fresh
 * broker, keep the ones that bring it down, and shrink the first such recording to its shortest crashing
 * prefix (binary search; a prefix that crashes is assumed to keep crashing when extended).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { type ChildExit, launchProbeBroker, type ProbeBrokerOptions } from './probe-launcher.js';

const SETTLE_MS = 400;

/** Send `bytes` on one connection to a fresh broker; the exit when it crashed, else undefined. */
export async function replayCrashes(
  bytes: Buffer,
  options: ProbeBrokerOptions,
): Promise<ChildExit | undefined> {
  const broker = await launchProbeBroker(options);
  try {
    const socket = net.connect({ host: '127.0.0.1', port: broker.port });
    socket.on('error', () => {});
    socket.on('data', () => {});
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await new Promise<void>((resolve) => {
      socket.once('connect', () => resolve());
      socket.once('error', () => resolve());
    });
    socket.write(bytes);
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, SETTLE_MS))]);
    socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    return broker.crashed();
  } finally {
    await broker.stop(1000);
  }
}

/** The shortest prefix of `bytes` that still crashes a fresh broker (bytes itself must crash). */
export async function shortestCrashingPrefix(bytes: Buffer, options: ProbeBrokerOptions): Promise<Buffer> {
  let low = 0; // known not to crash (nothing sent)
  let high = bytes.length; // known to crash
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2);
    if ((await replayCrashes(bytes.subarray(0, mid), options)) !== undefined) high = mid;
    else low = mid;
  }
  return bytes.subarray(0, high);
}

export interface Triage {
  /** Session files that crash a fresh broker on their own. */
  readonly culprits: readonly string[];
  /** The shortest crashing prefix of the first culprit, when there is one. */
  readonly minimal: Buffer | undefined;
  readonly stderr: string | undefined;
}

/** Replay every `session-*.bin` of a dump (at most `limit`), then shrink the first culprit. */
export async function triageDump(dir: string, options: ProbeBrokerOptions, limit = 64): Promise<Triage> {
  const files = readdirSync(dir)
    .filter((f) => f.startsWith('session-') && f.endsWith('.bin'))
    .slice(0, limit);
  const culprits: string[] = [];
  let stderr: string | undefined;
  for (const file of files) {
    const exit = await replayCrashes(readFileSync(join(dir, file)), options);
    if (exit === undefined) continue;
    culprits.push(file);
    stderr ??= exit.stderr;
  }
  const first = culprits[0];
  if (first === undefined) return { culprits, minimal: undefined, stderr };
  const minimal = await shortestCrashingPrefix(readFileSync(join(dir, first)), options);
  writeFileSync(join(dir, 'minimal.bin'), minimal);
  return { culprits, minimal, stderr };
}
