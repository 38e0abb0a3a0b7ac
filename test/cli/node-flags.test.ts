import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BROKER_NODE_FLAGS } from '../../src/server/node-flags.js';
import { REPO_ROOT } from '../support/cli.js';

/** The V8 flags `starling` runs with: one list, used by its bin, `npm start` and the benchmarks. */
describe('node flags', () => {
  it('the bin and npm start pass exactly BROKER_NODE_FLAGS', () => {
    const shebang = readFileSync(join(REPO_ROOT, 'bin', 'starling.js'), 'utf8').split('\n')[0];
    assert.equal(shebang, `#!/usr/bin/env -S node ${BROKER_NODE_FLAGS.join(' ')}`);
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    assert.equal(pkg.scripts.start, `node ${BROKER_NODE_FLAGS.join(' ')} bin/starling.js broker`);
  });

  it('a broker started through the bin runs Node with them', async () => {
    // Executed directly, as an installed `starling` is: the kernel runs the shebang's `env -S node ...`.
    const child = spawn(
      join(REPO_ROOT, 'bin', 'starling.js'),
      ['broker', '--memory', '--port', '0', '--host', '127.0.0.1'],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000, killSignal: 'SIGKILL' },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        let seen = '';
        const onData = (chunk: Buffer): void => {
          seen += chunk.toString();
          if (/listen/i.test(seen)) resolve();
        };
        child.stdout?.on('data', onData);
        child.stderr?.on('data', onData);
        child.once('exit', (code) => reject(new Error(`exited (${code}) before listening: ${seen}`)));
      });
      assert.ok(child.pid !== undefined);
      const argv = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
      for (const flag of BROKER_NODE_FLAGS) assert.ok(argv.includes(flag), `${flag} in ${argv.join(' ')}`);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
