import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT, runCli } from '../support/cli.js';

const packageVersion = (
  JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }
).version;

describe('starling CLI', { concurrency: true }, () => {
  it('--help lists the commands and exits 0', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Usage: starling <command>/);
    assert.match(r.stdout, /^\s+broker\s/m);
    assert.match(r.stdout, /--version/);
  });

  it('no arguments prints the same help', async () => {
    const [none, help] = await Promise.all([runCli([]), runCli(['--help'])]);
    assert.equal(none.code, 0);
    assert.equal(none.stdout, help.stdout);
  });

  it("--version and -v print package.json's version", async () => {
    for (const flag of ['--version', '-v']) {
      const r = await runCli([flag]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${packageVersion}\n`);
    }
  });

  it('an unknown command is a usage error: message on stderr, exit code 2', async () => {
    const r = await runCli(['frobnicate']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command 'frobnicate'/);
    assert.equal(r.stdout, '');
  });
});
