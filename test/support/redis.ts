/**
 * Starts a real `redis-server` for tests: loopback, a free port, its own temporary directory; no
 * snapshots, and AOF only when a test needs Redis to come back with its data (`appendfsync everysec`).
 * Needs the `redis-server` binary (Debian package `redis-server`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { redisServerArgs } from '../../bench/lib/redis-process.js';
import { freePort } from './mosquitto.js';

export interface RedisOptions {
  /** Append-only file, fsync every second: data survives a restart. Default false. */
  aof?: boolean;
}

/** A running redis-server. */
export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly pid: number | undefined;
  /** Stop it (SIGTERM: Redis writes its AOF and exits) and start it again on the same port and directory. */
  restart(pauseMs?: number): Promise<void>;
  /** Stop it (SIGTERM, data written); `start` brings it back. */
  halt(): Promise<void>;
  /** Kill it with SIGKILL (no shutdown; with AOF, what it wrote survives); `start` brings it back. */
  crash(): Promise<void>;
  start(): Promise<void>;
  /** Stop it for good and remove its directory. */
  stop(): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ host: '127.0.0.1', port });
    let reply = '';
    socket.setTimeout(500, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) {
        socket.destroy();
        // `-LOADING` while the AOF is read: not ready yet.
        resolve(reply.startsWith('+PONG'));
      }
    });
    socket.once('error', () => resolve(false));
  });
}

export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'starling-redis-'));
  const args = redisServerArgs(port, dir, options.aof === true);
  let child: ChildProcess | undefined;
  let stderr = '';

  const start = async (): Promise<void> => {
    const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    proc.stdout?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    proc.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    let spawnError: Error | undefined;
    proc.once('error', (error) => {
      spawnError = error;
    });
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      if (spawnError !== undefined || proc.exitCode !== null)
        throw new Error(`redis-server did not start: ${spawnError?.message ?? stderr}`);
      if (await answersPing(port)) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    proc.kill('SIGKILL');
    throw new Error(`redis-server did not answer on ${port}: ${stderr}`);
  };

  const halt = async (): Promise<void> => {
    const proc = child;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const killer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited(proc);
    clearTimeout(killer);
  };

  const crash = async (): Promise<void> => {
    const proc = child;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGKILL');
    await exited(proc);
  };

  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return child?.pid;
    },
    restart: async (pauseMs = 0) => {
      await halt();
      if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
      await start();
    },
    halt,
    crash,
    start,
    stop: async () => {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
