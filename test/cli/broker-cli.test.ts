import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { type AddressInfo, createServer } from 'node:net';
import { after, describe, it } from 'node:test';
import { cliCommand, collect, REPO_ROOT, runCli, startCli } from '../support/cli.js';

/** `starling broker`: start-up line, serving real clients, clean exit on signals, flag validation. */

// Generous: on a loaded machine a cold start through tsx (no dist/ yet) takes seconds.
const WAIT_MS = 20_000;
const running = new Set<ChildProcess>();

after(() => {
  for (const child of running) child.kill('SIGKILL');
});

interface StartedBroker {
  child: ChildProcess;
  port: number;
  exited: ReturnType<typeof collect>;
  output: () => string;
}

/**
 * The bound port from a start-up line: either a JSON log line (pino) whose message mentions a listener and
 * that carries a numeric `port`, a text log line (`--log-format text`) with a `port=` field, or a plain
 * line like `listening on mqtt://127.0.0.1:1883`.
 */
function startupPort(line: string): number | undefined {
  if (line.startsWith('{')) {
    try {
      const entry = JSON.parse(line) as { msg?: unknown; port?: unknown };
      if (typeof entry.msg === 'string' && /listen/i.test(entry.msg) && typeof entry.port === 'number')
        return entry.port;
    } catch {
      return undefined;
    }
    return undefined;
  }
  const m = /listen.*\bport=(\d+)/i.exec(line) ?? /listen\w*.*:(\d+)/i.exec(line);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

function startupPorts(output: string): number[] {
  return output
    .split('\n')
    .map(startupPort)
    .filter((p): p is number => p !== undefined);
}

/** Start `starling broker --port 0 --host 127.0.0.1` and parse the bound port from its start-up line. */
async function startBroker(extra: string[] = []): Promise<StartedBroker> {
  const child = startCli(['broker', '--memory', '--port', '0', '--host', '127.0.0.1', ...extra]);
  running.add(child);
  child.once('close', () => running.delete(child));
  let seen = '';
  child.stdout?.on('data', (c: Buffer) => {
    seen += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    seen += c.toString();
  });
  const exited = collect(child);
  const deadline = Date.now() + WAIT_MS;
  let port: number | undefined;
  while (port === undefined) {
    const ports = startupPorts(seen);
    if (ports.length > 0) port = ports[0];
    else if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`broker did not print its listening line:\n${seen}`);
    } else await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { child, port, exited, output: () => seen };
}

function runTool(
  command: string,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: WAIT_MS,
    killSignal: 'SIGKILL',
  });
  running.add(child);
  child.once('close', () => running.delete(child));
  return collect(child);
}

describe('starling broker', { concurrency: 2 }, () => {
  it('prints one start-up line per listener with the bound port', async () => {
    const b = await startBroker();
    assert.ok(b.port > 0 && b.port < 65_536);
    assert.deepEqual(
      startupPorts(b.output()),
      [b.port],
      'exactly one start-up line, for the one TCP listener',
    );
    const ping = await runTool('mosquitto_pub', [
      '-h',
      '127.0.0.1',
      '-p',
      String(b.port),
      '-t',
      'cli/x',
      '-m',
      'x',
    ]);
    assert.equal(ping.code, 0, ping.stderr);
    b.child.kill('SIGTERM');
    assert.equal((await b.exited).code, 0);
  });

  it('serves mosquitto_sub and mosquitto_pub', async () => {
    const b = await startBroker();
    const conn = ['-h', '127.0.0.1', '-p', String(b.port)];
    await runTool('mosquitto_pub', [...conn, '-t', 'cli/retained', '-r', '-q', '1', '-m', 'hello']);
    const sub = await runTool('mosquitto_sub', [...conn, '-t', 'cli/#', '-v', '-C', '1', '-W', '5']);
    assert.equal(sub.code, 0, sub.stderr);
    assert.equal(sub.stdout, 'cli/retained hello\n');
    b.child.kill('SIGINT');
    assert.equal((await b.exited).code, 0);
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`exits 0 on ${signal} and logs the shutdown`, async () => {
      const b = await startBroker();
      // Serve one client first: the broker is then past start-up, signal handlers included.
      const ping = await runTool('mosquitto_pub', [
        '-h',
        '127.0.0.1',
        '-p',
        String(b.port),
        '-t',
        'cli/x',
        '-m',
        'x',
      ]);
      assert.equal(ping.code, 0, ping.stderr);
      b.child.kill(signal);
      const r = await b.exited;
      assert.equal(r.signal, null, 'exited by itself, not killed');
      assert.equal(r.code, 0);
      assert.match(b.output(), /shutting down/);
    });
  }

  it('--help lists the flags', async () => {
    const r = await runCli(['broker', '--help']);
    assert.equal(r.code, 0);
    for (const flag of [
      '--host',
      '--port',
      '--max-packet-size',
      '--max-queued-messages',
      '--log-level',
      '--help',
    ]) {
      assert.ok(r.stdout.includes(flag), `help mentions ${flag}`);
    }
  });

  /** A text log line: `2026-12-07T20:39:24.785Z INFO  [3601] listener tcp started  listener=tcp ... port=N`. */
  const TEXT_LISTENER_LINE =
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO {2}\[(\d+)\] listener tcp started {2}.*\bport=(\d+)/m;

  it('logs JSON lines when stderr is not a terminal, text lines with --log-format text', async () => {
    const piped = await startBroker();
    const lines = piped.output().trim().split('\n');
    for (const line of lines) assert.doesNotThrow(() => JSON.parse(line), `a JSON line: ${line}`);
    piped.child.kill('SIGTERM');
    await piped.exited;
    const text = await startBroker(['--log-format', 'text']);
    assert.equal(Number(TEXT_LISTENER_LINE.exec(text.output())?.[2]), text.port, text.output());
    assert.ok(!text.output().includes('{"level"'), 'no JSON line');
    text.child.kill('SIGTERM');
    assert.equal((await text.exited).code, 0);
    assert.match(text.output(), /Z INFO {2}\[\d+\] shutting down {2}signal=SIGTERM/);
  });

  it('logs text lines by default on a terminal', async () => {
    // `script` gives the broker a pseudo-terminal for stdout and stderr.
    const { command, args } = cliCommand(['broker', '--memory', '--port', '0', '--host', '127.0.0.1']);
    const line = [command, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
    const child = spawn('script', ['-qec', `timeout -s KILL 30 ${line}`, '/dev/null'], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(child);
    child.once('close', () => running.delete(child));
    const exited = collect(child);
    let seen = '';
    child.stdout?.on('data', (c: Buffer) => {
      seen += c.toString();
    });
    const deadline = Date.now() + WAIT_MS;
    while (!TEXT_LISTENER_LINE.test(seen) && Date.now() < deadline && child.exitCode === null)
      await new Promise((resolve) => setTimeout(resolve, 20));
    const pid = Number(TEXT_LISTENER_LINE.exec(seen)?.[1]);
    assert.ok(pid > 0, `a text start-up line on the terminal:\n${seen}`);
    process.kill(pid, 'SIGTERM');
    await exited;
    assert.match(seen, /INFO {2}\[\d+\] stopped/);
  });

  const badFlags: { args: string[]; says: RegExp }[] = [
    { args: ['--port', 'abc'], says: /--port must be an integer, got 'abc'/ },
    { args: ['--port', '70000'], says: /--port must be from 0 to 65535, got 70000/ },
    { args: ['--nope'], says: /--nope/ },
    { args: ['--log-level', 'loud'], says: /--log-level must be one of .*\binfo\b.*got 'loud'/ },
    { args: ['--log-format', 'xml'], says: /--log-format must be text or json, got 'xml'/ },
    { args: ['--max-packet-size', '3'], says: /got 3\b/ },
    { args: ['stray'], says: /stray/ },
  ];
  for (const { args, says } of badFlags) {
    it(`rejects ${args.join(' ')} with a message and a non-zero exit`, async () => {
      const r = await runCli(['broker', ...args]);
      assert.notEqual(r.code, 0);
      assert.equal(r.code, 2, 'usage errors exit with 2');
      assert.match(r.stderr, says);
    });
  }

  it('a port already in use is reported and exits non-zero', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', () => resolve()));
    try {
      const { port } = holder.address() as AddressInfo;
      const r = await runCli(['broker', '--memory', '--port', String(port), '--host', '127.0.0.1']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /EADDRINUSE|in use/);
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });
});
