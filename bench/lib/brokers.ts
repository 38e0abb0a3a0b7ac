/**
 * Starts each broker under test in its own child process on a loopback port, and reads a process's CPU
 * time from /proc so broker and load generator CPU are reported separately.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BROKER_NODE_FLAGS } from '../../src/server/node-flags.js';

/** The brokers the benchmark knows. */
export const BrokerName = {
  starling: 'starling',
  /** Starling with its SQLite store (durability `process`) in a fresh temp directory. */
  starlingSqlite: 'starling-sqlite',
  mosquitto: 'mosquitto',
  /** Mosquitto with `persistence true` (its default autosave interval). */
  mosquittoPersist: 'mosquitto-persist',
  aedes: 'aedes',
} as const;
export type BrokerName = (typeof BrokerName)[keyof typeof BrokerName];

/** A running broker. */
export interface RunningBroker {
  name: BrokerName;
  pid: number;
  port: number;
  /** SIGTERM, then SIGKILL after a grace period; resolves when the process is gone. */
  stop(): Promise<void>;
  /** Whether the process died on its own (crash) and, if so, its last stderr lines. */
  crashed(): string | undefined;
}

export interface LaunchOptions {
  /** Write a V8 CPU profile of the Starling process into this directory. */
  profileDir?: string;
  /** Turn Nagle off in Mosquitto (`set_tcp_nodelay true`); its shipped default leaves it on. */
  mosquittoNoDelay?: boolean;
}

const STARTUP_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 3_000;
/** Running from TypeScript sources (tsx) rather than the compiled dist/ tree. */
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const EXT = FROM_SOURCE ? '.ts' : '.js';

/**
 * Synchronous cleanups for brokers still running when this process exits (Ctrl-C, a crash), so no
 * broker process or temp config outlives the benchmark.
 */
const exitCleanups = new Set<() => void>();
process.on('exit', () => {
  for (const cleanup of exitCleanups) cleanup();
});

/** Whether a Mosquitto binary is on the PATH. */
export function mosquittoPath(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v mosquitto'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Mosquitto's version line, for the report. */
export function mosquittoVersion(binary: string): string {
  try {
    const out = execFileSync(binary, ['-h'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return out.split('\n')[0] ?? 'unknown';
  } catch (err) {
    // `mosquitto -h` exits non-zero after printing its usage.
    const out = String((err as { stdout?: unknown }).stdout ?? '');
    return out.split('\n')[0] || 'unknown';
  }
}

/** Start one broker and wait until it accepts connections. */
export async function launchBroker(name: BrokerName, options: LaunchOptions = {}): Promise<RunningBroker> {
  switch (name) {
    case 'starling':
    case 'starling-sqlite': {
      // The V8 flags `starling` itself runs with (bin/starling.js, `npm start`): measure what users run.
      const args = [...(FROM_SOURCE ? ['--import', 'tsx'] : []), ...BROKER_NODE_FLAGS];
      // BENCH_STARLING_NODE_ARGS: extra node flags for the Starling process (e.g. GC tracing), space-separated.
      args.push(...(process.env.BENCH_STARLING_NODE_ARGS ?? '').split(' ').filter(Boolean));
      if (options.profileDir !== undefined) args.push('--cpu-prof', `--cpu-prof-dir=${options.profileDir}`);
      if (name === 'starling') return launchNode(name, [...args, scriptPath('starling-server')]);
      const dir = mkdtempSync(join(tmpdir(), 'starling-bench-sqlite-'));
      const broker = await launchNode(name, [...args, scriptPath('starling-server')], {
        STARLING_BENCH_DATA: dir,
      });
      return withTempDir(broker, dir);
    }
    case 'aedes':
      return launchNode(name, [...(FROM_SOURCE ? ['--import', 'tsx'] : []), scriptPath('aedes-server')]);
    case 'mosquitto':
    case 'mosquitto-persist':
      return launchMosquitto(options.mosquittoNoDelay === true, name === 'mosquitto-persist');
  }
}

function scriptPath(base: string): string {
  return fileURLToPath(new URL(`./${base}${EXT}`, import.meta.url));
}

/** A node child that prints `{"port":N}` on its first stdout line. */
async function launchNode(
  name: BrokerName,
  args: string[],
  env: Record<string, string> = {},
): Promise<RunningBroker> {
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const stderr = captureTail(child);
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`${name} did not start in time`)), STARTUP_TIMEOUT_MS);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${err.message}\n${stderr()}`));
    };
    child.once('exit', (code) => fail(new Error(`${name} exited during startup (code ${code})`)));
    // BENCH_STARLING_STDOUT: a file that gets the child's stdout (e.g. `--trace-gc` output from
    // BENCH_STARLING_NODE_ARGS); such lines may come before the port line, which is found by its shape.
    const copyTo = process.env.BENCH_STARLING_STDOUT;
    let found = false;
    child.stdout?.on('data', (chunk: Buffer) => {
      if (copyTo !== undefined) appendFileSync(copyTo, chunk);
      if (found) return;
      out += chunk.toString('utf8');
      const match = /^\{"port":(\d+)\}$/m.exec(out);
      if (match === null) {
        out = out.slice(out.lastIndexOf('\n') + 1);
        return;
      }
      found = true;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      resolve(Number(match[1]));
    });
  });
  return running(name, child, port, stderr);
}

/** Remove `dir` once the broker stopped (or this process exits). */
function withTempDir(broker: RunningBroker, dir: string): RunningBroker {
  const removeDir = (): void => rmSync(dir, { recursive: true, force: true });
  exitCleanups.add(removeDir);
  const stop = broker.stop;
  broker.stop = async () => {
    await stop();
    removeDir();
    exitCleanups.delete(removeDir);
  };
  return broker;
}

async function launchMosquitto(noDelay: boolean, persistence: boolean): Promise<RunningBroker> {
  const binary = mosquittoPath();
  if (binary === undefined) throw new Error('mosquitto is not installed');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'starling-bench-mosquitto-'));
  const config = join(dir, 'mosquitto.conf');
  // Defaults otherwise (Nagle stays on unless asked, as shipped); the queue limit is raised so fan-out
  // never drops.
  writeFileSync(
    config,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      ...(persistence ? ['persistence true', `persistence_location ${dir}/`] : ['persistence false']),
      'max_queued_messages 1000000',
      'log_dest stderr',
      'log_type error',
      ...(noDelay ? ['set_tcp_nodelay true'] : []),
      '',
    ].join('\n'),
  );
  const child = spawn(binary, ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  const stderr = captureTail(child);
  try {
    await waitForPort(port, child);
  } catch (err) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n${stderr()}`);
  }
  return withTempDir(running(persistence ? 'mosquitto-persist' : 'mosquitto', child, port, stderr), dir);
}

function running(name: BrokerName, child: ChildProcess, port: number, stderr: () => string): RunningBroker {
  let exited = false;
  let stopping = false;
  const kill = (): void => {
    child.kill('SIGKILL');
  };
  exitCleanups.add(kill);
  const exitPromise = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      exitCleanups.delete(kill);
      resolve();
    }),
  );
  if (child.pid === undefined) throw new Error(`${name} has no pid`);
  return {
    name,
    pid: child.pid,
    port,
    async stop() {
      stopping = true;
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exitPromise;
      clearTimeout(timer);
    },
    crashed: () => (exited && !stopping ? stderr() || 'exited' : undefined),
  };
}

/** Keep the last few KiB of a child's stderr for error messages. */
function captureTail(child: ChildProcess): () => string {
  let tail = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-4096);
  });
  return () => tail.trim();
}

/** A port that was free a moment ago (Mosquitto cannot be told to pick one itself). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address === null || typeof address === 'string') reject(new Error('no TCP address'));
        else resolve(address.port);
      });
    });
  });
}

/** Poll until something accepts on the port; bounded by count and time. */
async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  for (let attempt = 0; attempt < 300 && Date.now() < deadline; attempt++) {
    if (child.exitCode !== null) throw new Error(`broker exited during startup (code ${child.exitCode})`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`nothing listening on port ${port}`);
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on Linux unless told otherwise). */
const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU milliseconds of a process (all its threads), or NaN when unreadable. */
export function processCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15 of the line.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}
