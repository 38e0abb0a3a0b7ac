import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import mqtt, { type IDisconnectPacket } from 'mqtt';
import { Broker } from '../../src/index.js';
import { engineOf } from '../../src/server/broker.js';
import { waitFor } from '../support/raw-client.js';

/** The brokers' data directory: a temporary one, never `./data` in the repository. */
const dataDir = mkdtempSync(join(tmpdir(), 'starling-shutdown-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

/** Run `starling broker --data <temporary dir>` from source in a child process (no build needed). */
function startCli(
  args: string[],
  env: Record<string, string> = {},
): { child: ChildProcess; lines: () => Record<string, unknown>[] } {
  const entry =
    "import('./src/cli/main.ts').then(async (m) => { process.exitCode = await m.main(process.argv.slice(1)); })";
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '-e', entry, 'broker', '--data', dataDir, ...args],
    {
      cwd: process.cwd(),
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const lines = (): Record<string, unknown>[] =>
    stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { child, lines };
}

describe('starling broker process', () => {
  test('logs one JSON line per listener, and on SIGTERM disconnects v5 clients with 0x8B and exits 0', async () => {
    const { child, lines } = startCli(['--host', '127.0.0.1', '--port', '0', '--log-level', 'debug'], {
      STARLING_WS_PORT: '0',
    });
    try {
      await waitFor(
        () =>
          lines().filter((l) => l.msg === 'listener tcp started' || l.msg === 'listener ws started')
            .length === 2,
        15_000,
        'startup lines',
      );
      const started = lines().find((l) => l.msg === 'listener tcp started');
      assert.equal(started?.level, 30);
      assert.equal(started?.address, '127.0.0.1');
      const port = started?.port as number;
      const v5 = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
        protocolVersion: 5,
        reconnectPeriod: 0,
        clientId: 'v5',
      });
      const v3 = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
        protocolVersion: 4,
        reconnectPeriod: 0,
        clientId: 'v3',
      });
      await waitFor(
        () => lines().filter((l) => l.msg === 'client connected').length === 2,
        5000,
        'debug connection events',
      );
      const disconnect = new Promise<IDisconnectPacket>((resolve) => v5.once('disconnect', resolve));
      const v3Closed = new Promise<void>((resolve) => v3.once('close', () => resolve()));
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const packet = await disconnect;
      assert.equal(packet.reasonCode, 0x8b);
      await v3Closed;
      const [code] = (await exited) as [number | null];
      assert.equal(code, 0);
      const messages = lines().map((l) => l.msg);
      assert.ok(messages.includes('shutting down'));
      assert.equal(messages.at(-1), 'stopped');
      v5.end(true);
      v3.end(true);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  test('a bad flag and a bad config file exit with code 2, naming the flag and the key', async () => {
    const run = async (
      args: string[],
      env: Record<string, string>,
    ): Promise<{ code: number | null; stderr: string }> => {
      const { child } = startCli(args, env);
      let stderr = '';
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const [code] = (await once(child, 'exit')) as [number | null];
      return { code, stderr };
    };
    // Both at once: each child spends most of its time compiling the sources.
    const [badFlag, badFile] = await Promise.all([
      run(['--port', 'x'], {}),
      run([], { STARLING_CONFIG: 'package.json' }),
    ]);
    assert.equal(badFlag.code, 2);
    assert.match(badFlag.stderr, /--port must be an integer, got 'x'/);
    assert.equal(badFile.code, 2);
    assert.match(badFile.stderr, /package\.json: invalid configuration/);
    assert.match(badFile.stderr, /unknown keys? .*'name'/);
  });
});

describe('Broker.close with connected v3 and v5 clients', () => {
  test('wills of clients cut off by the shutdown are published; a normal DISCONNECT sends none', async () => {
    const broker = new Broker({ sysInterval: 0, listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }] });
    const wills: string[] = [];
    await broker.addHook({ onWillSent: (clientId) => wills.push(clientId) });
    const [address] = await broker.start();
    assert.ok(address !== undefined && typeof address !== 'string');
    const url = `mqtt://127.0.0.1:${address.port}`;
    const will = (topic: string) => ({ topic, payload: Buffer.from('gone'), qos: 1 as const, retain: false });
    const v5 = await mqtt.connectAsync(url, {
      protocolVersion: 5,
      reconnectPeriod: 0,
      clientId: 'w5',
      will: will('w/5'),
    });
    const v3 = await mqtt.connectAsync(url, {
      protocolVersion: 4,
      reconnectPeriod: 0,
      clientId: 'w3',
      will: will('w/3'),
    });
    const polite = await mqtt.connectAsync(url, {
      protocolVersion: 4,
      reconnectPeriod: 0,
      clientId: 'wp',
      will: will('w/p'),
    });
    await polite.endAsync();
    await waitFor(() => broker.stats.clientsConnected === 2, 2000, 'polite client gone');
    await broker.close();
    assert.deepEqual(wills.sort(), ['w3', 'w5']);
    assert.equal(engineOf(broker).connections.size, 0);
    v5.end(true);
    v3.end(true);
  });
});
