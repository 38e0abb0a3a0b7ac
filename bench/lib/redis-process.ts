/**
 * Child processes the benchmarks and the fuzz start: a real redis-server on a free loopback port (no
 * persistence, its data directory removed on stop), and a bounded stop for any child.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export interface Proc {
  pid: number;
  port: number;
  stop(): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => child.once('exit', () => done()));
}

export async function stopChild(child: ChildProcess): Promise<void> {
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited(child);
  clearTimeout(killer);
}

export interface RedisProc extends Proc {
  url: string;
  /** Zero the command counters (`CONFIG RESETSTAT`). */
  resetStats(): Promise<void>;
  /** Calls per command since the last reset (`INFO commandstats`), without the benchmark's own. */
  commandCounts(): Promise<Record<string, number>>;
}

/**
 * redis-server's arguments: loopback only, data in `dir`, no RDB snapshots, AOF (`everysec`) only when
 * asked. Shared with the tests' Redis (`test/support/redis.ts`).
 */
export function redisServerArgs(port: number, dir: string, aof = false): string[] {
  return [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    aof ? 'yes' : 'no',
    '--appendfsync',
    'everysec',
    '--loglevel',
    'warning',
  ];
}

export async function startRedis(): Promise<RedisProc> {
  const dir = mkdtempSync(join(tmpdir(), 'starling-bench-redis-'));
  const probe = await import('node:net');
  const port = await new Promise<number>((done) => {
    const server = probe.createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => done(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
  const child = spawn('redis-server', redisServerArgs(port, dir), { stdio: 'ignore' });
  for (let i = 0; i < 250; i++) {
    const up = await new Promise<boolean>((done) => {
      const socket = probe.connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        done(true);
      });
      socket.once('error', () => done(false));
    });
    if (up) break;
    await new Promise((done) => setTimeout(done, 20));
  }
  const admin = new Redis(`redis://127.0.0.1:${port}`, { lazyConnect: true, maxRetriesPerRequest: 1 });
  return {
    pid: child.pid as number,
    port,
    url: `redis://127.0.0.1:${port}`,
    resetStats: async () => {
      await admin.config('RESETSTAT');
    },
    commandCounts: async () => {
      const counts: Record<string, number> = {};
      for (const line of (await admin.info('commandstats')).split('\n')) {
        const found = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
        if (found === null || /^(info|config)\b/.test(found[1] as string)) continue;
        counts[found[1] as string] = Number(found[2]);
      }
      return counts;
    },
    stop: async () => {
      admin.disconnect();
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
