/**
 * `starling bench ... --dashboard [HOST:]PORT`: the run's live page is served while it runs, fed with the
 * run's interval samples, and goes away with the command.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { collect, runCli, startCli } from '../support/cli.js';

test('bench keepalive --dashboard serves the live page and the run state while the run lasts', async () => {
  const child = startCli(['bench', 'keepalive', '-n', '5', '--duration', '4', '--dashboard', '127.0.0.1:0'], {
    timeoutMs: 60_000,
  });
  const done = collect(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setInterval(() => {
      const match = /live dashboard: (http:\/\/\S+)/.exec(stderr);
      if (match?.[1] !== undefined) {
        clearInterval(timer);
        resolve(match[1]);
      }
    }, 20);
    child.once('close', () => {
      clearInterval(timer);
      reject(new Error(`exited before the dashboard: ${stderr}`));
    });
  });
  const page = await fetch(url);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<html/i);
  let samples = 0;
  for (let i = 0; i < 60 && samples === 0; i++) {
    const state = (await (await fetch(new URL('/api/state', url))).json()) as {
      history: { elapsedS: number[] };
    };
    samples = state.history.elapsedS.length;
    if (samples === 0) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(samples > 0, 'interval samples reached the page');
  const result = await done;
  assert.equal(result.code, 0, result.stderr);
  await assert.rejects(fetch(url), 'the page closes with the command');
});

test('a bad --dashboard address is a usage error', async () => {
  const result = await runCli(['bench', 'publish', '--dashboard', 'nowhere:port']);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /--dashboard must be \[HOST:\]PORT/);
});
