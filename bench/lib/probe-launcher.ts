/**
 * Start `probe-broker` in a child process and talk to it: memory and lag probes over IPC, crash detection
 * (the child exiting on its own), and a bounded stop. Used by the fuzz, flood and soak scripts and tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BROKER_NODE_FLAGS } from '../../src/server/node-flags.js';
import type { ProbeBrokerOptions, ProbeCommand, ProbeReport } from './probe-broker.js';

export type { ProbeBrokerOptions, ProbeReport } from './probe-broker.js';

/** How the child ended, when it ended by itself. */
export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** The last few KiB of its stderr: the stack of an uncaught exception, typically. */
  readonly stderr: string;
}

export interface ProbeBroker {
  readonly pid: number;
  readonly port: number;
  /** Ask for memory, counts and lag; `gc` collects first, `clearRetained` deletes every retained message. */
  probe(options?: { gc?: boolean; clearRetained?: boolean }, timeoutMs?: number): Promise<ProbeReport>;
  /** Start a fresh event-loop delay window. */
  resetLag(): void;
  /** Set when the child exited without being asked to. */
  crashed(): ChildExit | undefined;
  /** Resolves when the child exits (for any reason). */
  readonly exited: Promise<ChildExit>;
  /** Resident set size from /proc, KiB (no IPC round trip, so it works while the child is busy). */
  rssKiB(): number;
  /** Close the broker cleanly; SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL it now, as a crash would (not reported by `crashed`). */
  kill(): Promise<ChildExit>;
}

const FROM_SOURCE = import.meta.url.endsWith('.ts');
const STARTUP_TIMEOUT_MS = 15_000;

/** Launch the probe broker with `options` (BrokerOptions plus host). */
export async function launchProbeBroker(
  options: ProbeBrokerOptions = {},
  nodeArgs: readonly string[] = [],
): Promise<ProbeBroker> {
  const script = fileURLToPath(new URL(`./probe-broker${FROM_SOURCE ? '.ts' : '.js'}`, import.meta.url));
  // The V8 flags `starling` runs with (bin/starling.js): the reliability scripts measure what users run.
  const args = [
    ...(FROM_SOURCE ? ['--import', 'tsx'] : []),
    ...BROKER_NODE_FLAGS,
    '--expose-gc',
    ...nodeArgs,
    script,
  ];
  // Without a directory given, a fresh one per launch, gone with the broker.
  const freshDir =
    options.store === 'sqlite' && options.sqliteDir === undefined
      ? mkdtempSync(join(tmpdir(), 'starling-probe-'))
      : undefined;
  const sqliteDir = options.store === 'sqlite' ? (options.sqliteDir ?? freshDir) : undefined;
  const child = spawn(process.execPath, [...args, JSON.stringify({ ...options, sqliteDir })], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-8192);
  });
  let stopping = false;
  let exit: ChildExit | undefined;
  const exited = new Promise<ChildExit>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = { code, signal, stderr: stderr.trim() };
      if (freshDir !== undefined) rmSync(freshDir, { recursive: true, force: true });
      resolve(exit);
    });
  });
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  exited.then(() => process.off('exit', killOnExit));
  const port = await readPort(child, exited);
  if (child.pid === undefined) throw new Error('probe broker has no pid');
  const pid = child.pid;
  return {
    pid,
    port,
    exited,
    probe: (probeOptions = {}, timeoutMs = 30_000) => ask(child, probeOptions, timeoutMs),
    resetLag: () => send(child, { cmd: 'reset-lag' }),
    crashed: () => (exit !== undefined && !stopping ? exit : undefined),
    rssKiB: () => rssKiB(pid),
    kill() {
      stopping = true;
      child.kill('SIGKILL');
      return exited;
    },
    async stop(graceMs = 5000) {
      stopping = true;
      if (exit !== undefined) return;
      send(child, { cmd: 'close' });
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

function send(child: ChildProcess, command: ProbeCommand): void {
  if (child.connected) child.send(command);
}

function readPort(child: ChildProcess, exited: Promise<ChildExit>): Promise<number> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('probe broker did not start in time'));
    }, STARTUP_TIMEOUT_MS);
    exited.then((e) => {
      clearTimeout(timer);
      reject(new Error(`probe broker exited during startup (code ${e.code}): ${e.stderr}`));
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const newline = out.indexOf('\n');
      if (newline < 0) return;
      clearTimeout(timer);
      resolve((JSON.parse(out.slice(0, newline)) as { port: number }).port);
    });
  });
}

function ask(
  child: ChildProcess,
  options: { gc?: boolean; clearRetained?: boolean },
  timeoutMs: number,
): Promise<ProbeReport> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`probe broker did not answer a probe within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (message: unknown): void => {
      if ((message as { type?: unknown }).type !== 'probe') return;
      done();
      resolve(message as ProbeReport);
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      done();
      reject(new Error(`probe broker exited (code ${code}, signal ${signal})`));
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
    if (child.exitCode !== null || child.signalCode !== null) onExit(child.exitCode, child.signalCode);
    else send(child, { cmd: 'probe', ...options });
  });
}

/** VmRSS of a process in KiB, NaN when unreadable. */
export function rssKiB(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? Number.NaN : Number(match[1]);
  } catch {
    return Number.NaN;
  }
}

/** Wait until `broker` holds no connection and its expired sessions are gone (bounded by `timeoutMs`). */
export async function untilQuiet(
  broker: ProbeBroker,
  timeoutMs: number,
): Promise<{ connections: number; sessions: number }> {
  const deadline = Date.now() + timeoutMs;
  let probe = await broker.probe();
  while ((probe.connections > 0 || probe.sessions > 0) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    probe = await broker.probe();
  }
  return { connections: probe.connections, sessions: probe.sessions };
}
