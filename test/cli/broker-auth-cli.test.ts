/**
 * `starling broker` auth from the command line: with no auth configured a warning says only loopback and
 * Unix socket clients are accepted; with a config file the scrypt ledger is enforced against mosquitto_pub,
 * and SIGHUP re-reads it without dropping connections.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { hashPassword } from '../../src/hooks/password.js';
import { startCli } from '../support/cli.js';

const WAIT_MS = 20_000;
const running = new Set<ChildProcess>();
const dir = mkdtempSync(join(tmpdir(), 'starling-auth-cli-'));

after(() => {
  for (const child of running) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function startBroker(
  args: string[],
): Promise<{ child: ChildProcess; port: number; output: () => string }> {
  const child = startCli(['broker', '--memory', '--port', '0', '--host', '127.0.0.1', ...args]);
  running.add(child);
  child.once('close', () => running.delete(child));
  let seen = '';
  child.stdout?.on('data', (c: Buffer) => {
    seen += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    seen += c.toString();
  });
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const m = /"listener":"tcp".*?"port":(\d+)/.exec(seen);
    if (m?.[1] !== undefined) return { child, port: Number(m[1]), output: () => seen };
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`broker did not start:\n${seen}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function mosquittoPub(port: number, args: string[]): Promise<number | null> {
  const child = spawn(
    'mosquitto_pub',
    ['-h', '127.0.0.1', '-p', String(port), '-t', 'sensors/a', '-m', 'x', ...args],
    {
      stdio: 'ignore',
    },
  );
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  return new Promise((resolve) => {
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

async function stop(child: ChildProcess): Promise<void> {
  const closed = new Promise((resolve) => child.once('close', resolve));
  child.kill('SIGTERM');
  await closed;
}

describe('starling broker auth', () => {
  it('with no auth configured, warns that anonymous clients are accepted from loopback and Unix sockets only', async () => {
    const broker = await startBroker([]);
    assert.match(
      broker.output(),
      /no auth configured: anonymous clients are accepted from loopback addresses and Unix sockets only/,
    );
    assert.equal(await mosquittoPub(broker.port, []), 0, 'a loopback client is let in');
    await stop(broker.child);
  });

  it('enforces the ledger from the config file and re-reads it on SIGHUP without dropping connections', async () => {
    const config = join(dir, 'starling.yaml');
    const writeConfig = async (users: [string, string][]): Promise<void> => {
      const entries = await Promise.all(
        users.map(
          async ([name, password]) =>
            `    - username: ${name}\n      password: "${await hashPassword(password)}"`,
        ),
      );
      writeFileSync(
        config,
        `auth:\n  users:\n${entries.join('\n')}\n  acl:\n    - filter: "sensors/#"\n      access: readwrite\n`,
      );
    };
    await writeConfig([['alice', 'a-secret']]);
    const broker = await startBroker(['--config', config]);
    assert.equal(await mosquittoPub(broker.port, ['-u', 'alice', '-P', 'a-secret']), 0, 'alice logs in');
    assert.notEqual(
      await mosquittoPub(broker.port, ['-u', 'alice', '-P', 'wrong']),
      0,
      'a wrong password is refused',
    );
    assert.notEqual(
      await mosquittoPub(broker.port, ['-u', 'bob', '-P', 'b-secret']),
      0,
      'bob is not a user yet',
    );
    assert.notEqual(await mosquittoPub(broker.port, []), 0, 'anonymous is refused once auth is configured');
    const alice = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, {
      username: 'alice',
      password: 'a-secret',
      reconnectPeriod: 0,
    });
    await writeConfig([
      ['alice', 'a-secret'],
      ['bob', 'b-secret'],
    ]);
    broker.child.kill('SIGHUP');
    const deadline = Date.now() + WAIT_MS;
    while (!/auth reloaded/.test(broker.output())) {
      if (Date.now() > deadline) throw new Error(`no reload:\n${broker.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(
      await mosquittoPub(broker.port, ['-u', 'bob', '-P', 'b-secret']),
      0,
      'bob logs in after SIGHUP',
    );
    assert.equal(alice.connected, true, 'the connection made before the reload is still up');
    await alice.publishAsync('sensors/b', 'still here', { qos: 1 });
    await alice.endAsync();
    await stop(broker.child);
  });
});
