/**
 * `starling broker` and its data directory: ./data by default (said at start), --data and --memory, and the
 * directory errors (unusable, corrupt, in use by another broker) as a message naming the path and a
 * non-zero exit.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { collect, runCli, startCli } from '../support/cli.js';

const dirs: string[] = [];
const children = new Set<ChildProcess>();
after(() => {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'starling-cli-data-'));
  dirs.push(dir);
  return dir;
}

/** Start a broker and wait for its listener line; resolves with the process and its output so far. */
async function started(args: string[], cwd?: string): Promise<{ child: ChildProcess; output: () => string }> {
  const child = startCli(
    ['broker', '--port', '0', '--host', '127.0.0.1', ...args],
    cwd === undefined ? {} : { cwd },
  );
  children.add(child);
  let seen = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    seen += chunk.toString();
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (seen.includes('listener tcp started')) {
        clearInterval(timer);
        resolve();
      }
    }, 20);
    child.once('close', (code) => {
      clearInterval(timer);
      reject(new Error(`exited ${code}: ${seen}`));
    });
  });
  return { child, output: () => seen };
}

async function stop(child: ChildProcess): Promise<number | null> {
  const done = collect(child);
  child.kill('SIGTERM');
  const result = await done;
  children.delete(child);
  return result.code;
}

describe('starling broker and its data directory', () => {
  test('keeps its state in ./data by default and says so at start; --memory keeps none', async () => {
    const cwd = freshDir();
    const broker = await started([], cwd);
    assert.match(
      broker.output(),
      new RegExp(`state kept in ${join(cwd, 'data')} \\(SQLite, durability process\\)`),
    );
    assert.ok(existsSync(join(cwd, 'data', 'starling.db')));
    assert.equal(await stop(broker.child), 0);
    const memory = await started(['--memory'], freshDir());
    assert.match(memory.output(), /state kept in memory only/);
    assert.equal(await stop(memory.child), 0);
  });

  test('a second broker on the same directory is refused, naming it, with a non-zero exit', async () => {
    const dir = freshDir();
    const first = await started(['--data', dir]);
    const second = await runCli(['broker', '--port', '0', '--host', '127.0.0.1', '--data', dir]);
    assert.equal(second.code, 1);
    assert.match(second.stderr, new RegExp(`data directory ${dir} is in use by another broker`));
    assert.equal(await stop(first.child), 0);
  });

  test('a corrupt database and an unusable directory are errors naming the path', async () => {
    const corrupt = freshDir();
    writeFileSync(join(corrupt, 'starling.db'), Buffer.alloc(8192, 0x42));
    const bad = await runCli(['broker', '--port', '0', '--data', corrupt]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, new RegExp(`${corrupt}.*file is not a database`));
    const parent = freshDir();
    writeFileSync(join(parent, 'not-a-dir'), 'x');
    const unusable = await runCli(['broker', '--port', '0', '--data', join(parent, 'not-a-dir', 'data')]);
    assert.equal(unusable.code, 1);
    assert.match(unusable.stderr, /cannot create data directory .*not-a-dir\/data/);
    // Under /proc, mkdir fails with ENOENT though the parent exists: Node's recursive mkdir retried that
    // forever, and the broker hung instead of saying so.
    const pseudo = await runCli(['broker', '--port', '0', '--data', '/proc/starling-data/x']);
    assert.equal(pseudo.code, 1);
    assert.match(pseudo.stderr, /cannot create data directory \/proc\/starling-data\/x: ENOENT/);
  });

  test('bad persistence flags and settings are usage errors', async () => {
    const both = await runCli(['broker', '--memory', '--data', freshDir()]);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--memory and --data exclude each other/);
    const durability = await runCli(['broker', '--durability', 'sometimes']);
    assert.equal(durability.code, 2);
    assert.match(durability.stderr, /durability must be process or power, got 'sometimes'/);
    const floor = await runCli(['broker', '--min-free-disk', 'lots']);
    assert.equal(floor.code, 2);
    assert.match(floor.stderr, /--min-free-disk must be a size like 268435456 or 256MiB, got 'lots'/);
    const help = await runCli(['broker', '--help']);
    assert.match(help.stdout, /--min-free-disk BYTES .*\[STARLING_MIN_FREE_DISK\]/);
    assert.match(help.stdout, /--data DIR .*\[STARLING_DATA\]/);
    assert.match(help.stdout, /--memory .*\[STARLING_MEMORY\]/);
  });
});
