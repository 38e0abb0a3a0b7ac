/**
 * `starling pub` / `starling sub` compared with `mosquitto_pub` / `mosquitto_sub` on the same cases, against
 * Starling's broker (in-process) and against a real mosquitto: stdout, exit codes and error text.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Client, connect, type Message } from '../../src/client/index.js';
import { AuthLedger } from '../../src/hooks/auth-ledger.js';
import { hashPassword } from '../../src/hooks/password.js';
import { Broker } from '../../src/index.js';
import { type CliResult, cliCommand, collect, REPO_ROOT } from '../support/cli.js';
import { freePort, startMosquitto } from '../support/mosquitto.js';

type Tool = 'starling' | 'mosquitto';
const TOOLS: readonly Tool[] = ['starling', 'mosquitto'];

/**
 * True when dist/ holds a build of the CLI at least as new as its sources. A stale build would test old
 * code (and did: a fix in sub-format.ts seemed to have no effect), so the sources are used then.
 */
const BUILD_IS_CURRENT = (() => {
  const files = [
    'main',
    'mqtt-client-flags',
    'command-io',
    'debug-log',
    'mosquitto-text',
    'pub-command',
    'sub-command',
    'sub-format',
  ];
  return files.every((name) => {
    const built = join(REPO_ROOT, 'dist', 'src', 'cli', `${name}.js`);
    const source = join(REPO_ROOT, 'src', 'cli', `${name}.ts`);
    return existsSync(built) && statSync(built).mtimeMs >= statSync(source).mtimeMs;
  });
})();

/** The command for `starling <args>`: `node bin/starling.js` when the build is current, else tsx. */
function starlingCommand(args: readonly string[]): { command: string; args: string[] } {
  if (BUILD_IS_CURRENT) return cliCommand(args);
  const main = JSON.stringify(join(REPO_ROOT, 'src', 'cli', 'main.ts'));
  const launcher = `import(${main}).then((m) => m.main(process.argv.slice(1))).then((code) => { process.exitCode = code; });`;
  return {
    command: process.execPath,
    args: ['--import', 'tsx', '--input-type=module', '-e', launcher, '--', ...args],
  };
}

/** A started tool: its stdout so far (for waiting on a line) and its whole output once it exits. */
interface Running {
  stdoutSoFar(): string;
  result: Promise<CliResult>;
}

/**
 * Unbuilt, each starling process compiles the sources (seconds of CPU): at most 3 at a time. Built, no
 * limit is needed.
 */
let slots = 3;
const waiting: (() => void)[] = [];
async function slot<T>(work: () => Promise<T>): Promise<T> {
  if (BUILD_IS_CURRENT) return work();
  // Bounded: each waiter is woken by exactly one finishing run.
  while (slots === 0) await new Promise<void>((r) => waiting.push(r));
  slots--;
  try {
    return await work();
  } finally {
    slots++;
    waiting.shift()?.();
  }
}

/**
 * Runs `starling pub|sub` or `mosquitto_pub|sub` with `args`, killed after 25 s. mosquitto's tools run
 * under `stdbuf -oL`: on a pipe they would block-buffer stdout and show nothing until they exit.
 */
function run(tool: Tool, kind: 'pub' | 'sub', args: readonly string[], stdin?: string): Running {
  let stdout = '';
  const result = slot(() => {
    const { command, args: argv } =
      tool === 'starling'
        ? starlingCommand([kind, ...args])
        : { command: 'stdbuf', args: ['-oL', `mosquitto_${kind}`, ...args] };
    const child = spawn(command, argv, {
      cwd: REPO_ROOT,
      stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      timeout: 25_000,
      killSignal: 'SIGKILL',
    });
    if (stdin !== undefined) child.stdin?.end(stdin);
    const done = collect(child);
    // collect() has set the encoding: chunks are strings.
    child.stdout?.on('data', (chunk: string) => {
      stdout += chunk;
    });
    return done;
  });
  return { stdoutSoFar: () => stdout, result };
}

function runBoth(kind: 'pub' | 'sub', args: readonly string[], stdin?: string): Promise<CliResult[]> {
  return Promise.all(TOOLS.map((tool) => run(tool, kind, args, stdin).result));
}

/** Waits (bounded: 10 s) until a running tool's stdout contains `text`. */
async function waitForOutput(running: Running, text: string): Promise<void> {
  for (let i = 0; i < 500 && !running.stdoutSoFar().includes(text); i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(running.stdoutSoFar().includes(text), `no '${text}' in ${JSON.stringify(running.stdoutSoFar())}`);
}

/** `-d` output with the client ids made equal (generated ones differ: mosq-<random>, auto-<uuid>, ...). */
function sameIds(stdout: string): string {
  return stdout.replace(/^Client \S+ /gm, 'Client ID ');
}

/** Error output with the tool names made equal. */
function normalised(stderr: string): string {
  return stderr.replace(/mosquitto_(pub|sub)/g, 'starling $1').replace(/\n{3,}/g, '\n\n');
}

interface Target {
  port: number;
  securedPort: number;
  stop(): Promise<void>;
}

async function startStarling(): Promise<Target> {
  const open = new Broker();
  const secured = new Broker();
  const password = await hashPassword('secret');
  await secured.addHook(
    AuthLedger.fromObject({ users: [{ username: 'alice', password }], anonymous: false }),
  );
  const a = await open.listen({ host: '127.0.0.1', port: 0 });
  const b = await secured.listen({ host: '127.0.0.1', port: 0 });
  return {
    port: a.port,
    securedPort: b.port,
    stop: async () => void (await Promise.all([open.close(), secured.close()])),
  };
}

async function startMosquittoPair(): Promise<Target> {
  const open = await startMosquitto();
  const secured = await startMosquitto({ allowAnonymous: false, users: { alice: 'secret' } });
  return {
    port: open.port,
    securedPort: secured.port,
    stop: async () => void (await Promise.all([open.stop(), secured.stop()])),
  };
}

const BROKERS: readonly [string, () => Promise<Target>][] = [
  ['starling', startStarling],
  ['mosquitto', startMosquittoPair],
];

describe('starling pub/sub usage errors match mosquitto_pub/mosquitto_sub', () => {
  it('prints the same first error line and exits 1', async () => {
    const cases: ['pub' | 'sub', string[]][] = [
      ['pub', ['-t', 'a', '-m', 'x', '--bogus']],
      ['pub', ['-m', 'x']],
      ['pub', ['-t', 'a', '-m', 'x', '-q', '3']],
      ['pub', ['-t', 'a', '-m', 'x', '-V', '7']],
      ['pub', ['-t', 'a', '-m', 'x', '-n']],
      ['pub', ['-t', 'a', '-m', 'x', '-c']],
      ['pub', ['-t', 'a/#', '-m', 'x']],
      ['pub', ['-t', 'a', '-m', 'x', '-V', '5', '-D', 'publish', 'bogus', 'x']],
      ['sub', []],
      ['sub', ['-t', 'a/#/b']],
      ['sub', ['-t', 'a', '-W', '0']],
      ['sub', ['-t', 'a', '-F', '%z']],
      ['sub', ['-t', 'a', '-F', '%0-5t']],
      ['sub', ['-t', 'a', '-F', 'x%5']],
      ['sub', ['-t', 'a', '-F', '\\q']],
      ['sub', ['-t', 'a', '-F', 'x\\']],
      ['sub', ['-t', 'a', '-F', 'x@']],
    ];
    const results = await Promise.all(cases.map(([kind, args]) => runBoth(kind, args)));
    for (const [i, [ours, theirs]] of results.entries()) {
      const what = cases[i]?.join(' ');
      assert.ok(ours !== undefined && theirs !== undefined);
      assert.equal(ours.code, theirs.code, `exit code of ${what}`);
      assert.equal(ours.code, 1);
      const first = (text: string): string => normalised(text).split('\n')[0] ?? '';
      assert.equal(first(ours.stderr), first(theirs.stderr), `error of ${what}`);
    }
  });
});

for (const [brokerName, start] of BROKERS) {
  describe(`starling pub/sub and the mosquitto tools against ${brokerName}`, { timeout: 60_000 }, () => {
    let target: Target;
    let client: Client;
    let dir: string;
    before(async () => {
      target = await start();
      client = await connect(`mqtt://127.0.0.1:${target.port}`, { protocolVersion: 5, reconnect: false });
      dir = mkdtempSync(join(tmpdir(), 'starling-pubsub-'));
    });
    after(async () => {
      await client.end();
      await target.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('prints retained messages the same way: plain, -v, -N, -F, -T, -R, --retained-only, -W, -d, -V', async () => {
      const base = `cli/${randomBytes(4).toString('hex')}`;
      await client.publish(`${base}/r1`, 'one', { qos: 1, retain: true });
      await client.publish(`${base}/r2`, 'two', { qos: 1, retain: true });
      await client.publish(`${base}/r3`, '{"k":[1]}', {
        qos: 2,
        retain: true,
        properties: {
          contentType: 'text/json',
          responseTopic: 'reply/here',
          correlationData: Buffer.from('cd'),
          payloadFormatIndicator: 1,
          userProperties: [['a', 'b']],
        },
      });
      const p = ['-p', String(target.port), '-t', `${base}/#`];
      const widths = '%-6p|%6p|%06p|%2p|%-10x|%10X|%1x|%06x|%5l|%-4q|%5r|%-8t|%.3t|%.t|%05m|%-3%';
      // Each case: arguments, and whether the -d client ids (generated, so different) are made equal.
      const cases: [string[], boolean][] = [
        [[...p, '-C', '3'], false],
        [[...p, '-C', '3', '-v'], false],
        [[...p, '-C', '3', '-N'], false],
        [[...p, '-C', '3', '-q', '1', '-F', '%t|%p|%q|%r|%l|%x|%X|%%|\\t|\\e\\0|@@|@Q'], false],
        [[...p, '-C', '3', '-q', '1', '-F', widths], false],
        [[...p, '-C', '3', '-V', '5', '-F', '%t|%8R|%5A|%-11C|%D|%F|%P|%.5R|%J'], false],
        [[...p, '-C', '2', '-v', '-T', `${base}/r1`], false],
        [[...p, '-W', '2', '-R'], false],
        [[...p, '-W', '2', '--retained-only', '-v'], false],
        [[...p, '-C', '3', '-d', '-q', '1'], false],
        [[...p, '-C', '3', '-d', '-q', '2', '-V', '5'], true],
        [[...p, '-C', '3', '-d', '-V', '31'], true],
        [[...p, '-C', '3', '-v', '-V', '311'], false],
      ];
      const results = await Promise.all(cases.map(([args]) => runBoth('sub', args)));
      for (const [i, [ours, theirs]] of results.entries()) {
        assert.ok(ours !== undefined && theirs !== undefined);
        const [args, idsDiffer] = cases[i] ?? [[], false];
        const what = args.slice(4).join(' ');
        // The JSON receive times differ between the two runs.
        const timeless = (text: string): string => text.replace(/"tst":"[^"]*"/g, '"tst":"T"');
        const stdout = (r: CliResult): string => timeless(idsDiffer ? sameIds(r.stdout) : r.stdout);
        assert.equal(stdout(ours), stdout(theirs), `output of ${what}`);
        assert.equal(ours.code, theirs.code, `exit code of ${what}`);
        assert.equal(ours.stderr, theirs.stderr, `errors of ${what}`);
      }
      // The broker chooses the order of retained messages (Starling's is unspecified).
      const sorted = (text: string | undefined): string[] => (text ?? '').split('\n').sort();
      assert.deepEqual(
        sorted(results[1]?.[0]?.stdout),
        sorted(`${base}/r1 one\n${base}/r2 two\n${base}/r3 {"k":[1]}\n`),
      );
      assert.equal(results[7]?.[0]?.code, 27);
      assert.match(results[5]?.[0]?.stderr ?? '', /^Error: Message payload is not valid JSON on topic /);
      assert.match(results[5]?.[0]?.stdout ?? '', /"tst":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z[+-]\d{4}"/);
      assert.match(
        results[10]?.[0]?.stdout ?? '',
        /sending PUBREC[\s\S]*received PUBREL[\s\S]*sending PUBCOMP/,
      );
    });

    it('publishes -m, -n, -f, -l, -s, -r, QoS 2 and v5 -D properties like mosquitto_pub', async () => {
      const base = `cli/${randomBytes(4).toString('hex')}`;
      const file = join(dir, 'payload.bin');
      writeFileSync(file, Buffer.from([0, 1, 2, 255]));
      const received: Message[] = [];
      const sub = await client.subscribe(`${base}/#`, { qos: 2 });
      const stop = client.onMessage((m) => {
        if (m.topic.startsWith(`${base}/`)) received.push(m);
      });
      // Both sub tools print what the pub tools send.
      const subArgs = ['-p', String(target.port), '-t', `${base}/#`, '-q', '2', '-v', '-d', '-C', '24'];
      const subs = TOOLS.map((tool) => run(tool, 'sub', subArgs));
      await Promise.all(subs.map((s) => waitForOutput(s, 'Subscribed (mid: 1): 2')));
      const cases: [string, string[], string?][] = [
        ['m', ['-m', 'hello', '-q', '1']],
        ['n', ['-n']],
        ['f', ['-f', file, '-q', '2']],
        ['l', ['-l', '-q', '1'], 'a\n\nc\r\nd'],
        ['s', ['-s'], 'whole\nstdin'],
        ['r', ['-m', 'kept', '-r', '-q', '2']],
        ['p', ['-m', 'p', '-V', '5', '-D', 'publish', 'user-property', 'k', 'v']],
        ['v31', ['-m', 'old', '-V', '31', '-q', '1']],
        ['v311', ['-m', 'mid', '-V', '311', '-q', '2']],
      ];
      for (const tool of TOOLS) {
        const results = await Promise.all(
          cases.map(([name, args, stdin]) => {
            const argv = ['-p', String(target.port), '-t', `${base}/${tool}/${name}`, ...args];
            return run(tool, 'pub', argv, stdin).result;
          }),
        );
        for (const r of results) assert.deepEqual([r.code, r.stderr], [0, ''], `${tool} pub failed`);
      }
      const outputs = await Promise.all(subs.map((s) => s.result));
      const lines = (r: CliResult | undefined): string[] =>
        (r?.stdout ?? '')
          .split('\n')
          .filter((l) => !l.startsWith('Client ') && !l.startsWith('Subscribed'))
          .map((l) => l.replace(/\/(starling|mosquitto)\//, '/TOOL/'))
          .sort();
      assert.equal(outputs[0]?.code, 0);
      assert.deepEqual(lines(outputs[0]), lines(outputs[1]));
      assert.ok(lines(outputs[0]).includes(`${base}/TOOL/n (null)`));
      stop();
      await sub.unsubscribe();
      const view = (tool: Tool): string[] =>
        received
          .filter((m) => m.topic.startsWith(`${base}/${tool}/`))
          .map((m) =>
            JSON.stringify([
              m.topic.replace(`/${tool}/`, '/'),
              m.payload.toString('hex'),
              m.qos,
              m.properties?.userProperties ?? [],
            ]),
          )
          .sort();
      assert.equal(view('starling').length, 12);
      assert.deepEqual(view('starling'), view('mosquitto'));
    });

    it('reports refused connections with the same text and exit code', async () => {
      const s = String(target.securedPort);
      const closed = String(await freePort());
      const cases: ['pub' | 'sub', string[]][] = [
        ['pub', ['-p', s, '-t', 'a', '-m', 'x']],
        ['pub', ['-p', s, '-t', 'a', '-m', 'x', '-V', '5']],
        ['sub', ['-p', s, '-t', 'a', '-V', 'mqttv5']],
        ['sub', ['-p', s, '-t', 'a', '-V', '311', '-u', 'alice', '-P', 'wrong']],
        ['pub', ['-p', closed, '-t', 'a', '-m', 'x']],
        ['pub', ['-p', s, '-t', 'a', '-m', 'x', '-u', 'alice', '-P', 'secret', '-q', '1']],
        ['pub', ['-L', `mqtt://alice:secret@127.0.0.1:${s}/a/b`, '-m', 'x']],
        ['pub', ['-p', String(target.port), '-t', 'dbg', '-m', 'x', '-q', '1', '-i', 'dbg-client', '-d']],
      ];
      const results = await Promise.all(cases.map(([kind, args]) => runBoth(kind, args)));
      for (const [i, [ours, theirs]] of results.entries()) {
        const what = cases[i]?.join(' ');
        assert.ok(ours !== undefined && theirs !== undefined);
        assert.equal(ours.code, theirs.code, `exit code of ${what}`);
        assert.equal(ours.stderr, theirs.stderr, `errors of ${what}`);
        assert.equal(ours.stdout, theirs.stdout, `output of ${what}`);
      }
      // The broker picks the refusal code (v3 4 or 5, v5 0x86 or 0x87); the tools must agree on it.
      assert.deepEqual(
        results.slice(4).map((r) => r[0]?.code),
        [1, 0, 0, 0],
      );
      assert.ok([134, 135].includes(results[1]?.[0]?.code ?? 0));
    });
  });
}
