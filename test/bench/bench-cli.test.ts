import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseBenchResult } from '../../src/bench/bench-result-json.js';
import { freePort, startMosquitto } from '../support/mosquitto.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const UNDER_TSX = import.meta.url.endsWith('.ts');
const ROOT = join(HERE, UNDER_TSX ? '../..' : '../../..');

/**
 * Starts `starling <args>`: the sources through tsx when this test runs from TypeScript (a stale dist/
 * must not be tested), the built CLI otherwise. Killed after 30 s whatever happens.
 */
function startStarling(args: readonly string[]): ChildProcess {
  const argv = UNDER_TSX
    ? [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `import(${JSON.stringify(join(ROOT, 'src/cli/main.ts'))}).then((m) => m.main(process.argv.slice(1))).then((code) => { process.exitCode = code; })`,
        '--',
        ...args,
      ]
    : [join(ROOT, 'bin/starling.js'), ...args];
  return spawn(process.execPath, argv, {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 30_000,
    killSignal: 'SIGKILL',
  });
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function finish(child: ChildProcess, onStderr?: (text: string) => void): Promise<Run> {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    onStderr?.(stderr);
  });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

const runStarling = (args: readonly string[]): Promise<Run> => finish(startStarling(args));

const dir = mkdtempSync(join(tmpdir(), 'starling-bench-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('starling bench (CLI)', { concurrency: 2, timeout: 40_000 }, () => {
  it('publish against the embedded broker prints malaria blocks and writes --json/--csv/--html', async () => {
    const json = join(dir, 'r.json');
    const csv = join(dir, 'r.csv');
    const html = join(dir, 'r.html');
    const run = await runStarling([
      'bench',
      'publish',
      '-n',
      '40',
      '--clients',
      '2',
      '-q',
      '1',
      '--quiet',
      '--json',
      json,
      '--csv',
      csv,
      '--html',
      html,
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stdout,
      /Clientid: starling\.loadr-\d+-0-0\nMessage succes rate: 100\.00% \(40\/40 messages\)/,
    );
    assert.match(run.stdout, /Clientid: Aggregate stats \(simple avg\) for 2 processes/);
    assert.match(
      run.stdout,
      /Aggregate stats \(pooled, correct\) for 2 clients\nMessage succes rate: 100\.00% \(80\/80 messages\)/,
    );
    assert.match(run.stdout, /Message timing p99\.9 /);
    assert.match(run.stdout, /Throughput \(wall clock\) 80 msgs/);
    assert.match(run.stdout, /Generator CPU/);
    const result = parseBenchResult(readFileSync(json, 'utf8'));
    assert.equal(result.scenario, 'publish');
    assert.equal(result.aggregate.messagesOk, 80);
    assert.equal(result.latency?.count, 80);
    const rows = readFileSync(csv, 'utf8').trimEnd().split('\r\n');
    assert.equal(rows.length, 3);
    assert.match(rows[0] ?? '', /^client_id,messages_ok/);
    const page = readFileSync(html, 'utf8');
    assert.match(page, /^<!DOCTYPE html>/i);
    assert.match(page, /<svg/);
  });

  it('stress accepts single-dash flags and prints stresser and true figures', async () => {
    const run = await runStarling([
      'bench',
      'stress',
      '-num-clients=3',
      '-num-messages',
      '200',
      '-publisher-qos',
      '1',
      '-subscriber-qos=1',
      '-rampup-size',
      '2',
      '-rampup-delay',
      '50ms',
      '-constant-payload',
      '--quiet',
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /mqtt-stresser figures/);
    assert.match(run.stdout, /Publish fastest [\d,]+ \| median [\d,]+ \| slowest [\d,]+ msg\/s/);
    assert.match(run.stdout, /Receive fastest /);
    assert.match(run.stdout, /True figures: delivered [\d,]+ msg\/s .*p99 [\d.]+ ms/);
    assert.match(
      run.stdout,
      /Aggregate stats \(pooled, correct\) for 3 clients\nMessage succes rate: 100\.00% \(600\/600 messages\)/,
    );
  });

  it('subscribe --publish accounts for every message end to end', async () => {
    const run = await runStarling([
      'bench',
      'subscribe',
      '--publish',
      '--publishers',
      '2',
      '-n',
      '300',
      '-q',
      '1',
      '--quiet',
    ]);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.split('\n').filter((line) => line.startsWith('Publisher '));
    assert.equal(lines.length, 2);
    for (const line of lines)
      assert.match(line, /received 300 \(300\/300 distinct\), missing 0, duplicated 0, out of order 0/);
    assert.match(run.stdout, /Message timing p50 /);
  });

  it('an unreachable broker gives one clear line and exit 1', async () => {
    const port = await freePort();
    const run = await runStarling(['bench', 'publish', '--url', `mqtt://127.0.0.1:${port}`, '--quiet']);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, '');
    assert.match(
      run.stderr,
      new RegExp(`^starling bench: cannot connect to mqtt://127\\.0\\.0\\.1:${port}: connection refused\\n$`),
    );
  });

  it('SIGINT mid-run prints the partial results', async () => {
    const child = startStarling(['bench', 'publish', '-T', '200', '-n', '100000', '-q', '0']);
    let signalled = false;
    const run = await finish(child, (stderr) => {
      // The first progress line comes as the run starts; a moment later clients are publishing.
      if (!signalled && /\] \d+\/\d+ messages/.test(stderr)) {
        signalled = true;
        setTimeout(() => child.kill('SIGINT'), 1000);
      }
    });
    assert.equal(signalled, true, run.stderr);
    assert.equal(run.code, 130, run.stderr);
    assert.match(run.stdout, /^Interrupted: partial results\n/);
    const match = /Message succes rate: [\d.]+% \((\d+)\/(\d+) messages\)/.exec(run.stdout);
    assert.ok(match, run.stdout);
    assert.ok(Number(match[1]) > 0 && Number(match[1]) < 100_000);
  });
});

describe('starling bench against mosquitto', { concurrency: 2, timeout: 40_000 }, () => {
  it('publish at QoS 1 gets every message acknowledged', async (t) => {
    const mosquitto = await startMosquitto();
    t.after(() => mosquitto.stop());
    const run = await runStarling([
      'bench',
      'publish',
      '--url',
      mosquitto.url,
      '-n',
      '100',
      '--clients',
      '2',
      '-V',
      '311',
      '--quiet',
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stdout,
      /Aggregate stats \(pooled, correct\) for 2 clients\nMessage succes rate: 100\.00% \(200\/200 messages\)/,
    );
  });

  it('subscribe --publish counts every message exactly, end to end', async (t) => {
    const mosquitto = await startMosquitto();
    t.after(() => mosquitto.stop());
    const json = join(dir, 'subscribe-mosquitto.json');
    const run = await runStarling([
      'bench',
      'subscribe',
      '--url',
      mosquitto.url,
      '--publish',
      '--publishers',
      '2',
      '-n',
      '150',
      '-q',
      '1',
      '-V',
      '311',
      '--quiet',
      '--json',
      json,
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stdout,
      /Delivery totals \(2 publisher streams\): received 300 \(300 distinct\), missing 0, duplicated 0, out of order 0/,
    );
    const lines = run.stdout.split('\n').filter((line) => line.startsWith('Publisher '));
    assert.equal(lines.length, 2);
    for (const line of lines)
      assert.match(line, /received 150 \(150\/150 distinct\), missing 0, duplicated 0, out of order 0/);
    assert.match(
      run.stdout,
      /Aggregate stats \(pooled, correct\) for 2 clients\nMessage succes rate: 100\.00% \(300\/300 messages\)/,
    );
    const result = parseBenchResult(readFileSync(json, 'utf8'));
    assert.equal(result.scenario, 'subscribe');
    assert.equal(result.config.brokerUrl, mosquitto.url);
    assert.deepEqual(result.delivery, {
      streams: 2,
      received: 300,
      unique: 300,
      missing: 0,
      duplicated: 0,
      outOfOrder: 0,
      foreign: 0,
    });
    assert.equal(result.latency?.count, 300);
  });

  it('stress prints exact counts and both stresser and true figures', async (t) => {
    const mosquitto = await startMosquitto();
    t.after(() => mosquitto.stop());
    const json = join(dir, 'stress-mosquitto.json');
    const run = await runStarling([
      'bench',
      'stress',
      '-broker',
      mosquitto.url,
      '-num-clients=4',
      '-num-messages',
      '50',
      '-publisher-qos',
      '1',
      '-subscriber-qos',
      '1',
      '-rampup-size',
      '2',
      '-rampup-delay',
      '20ms',
      '-constant-payload',
      '--quiet',
      '--json',
      json,
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stdout,
      /Aggregate stats \(pooled, correct\) for 4 clients\nMessage succes rate: 100\.00% \(200\/200 messages\)/,
    );
    assert.equal((run.stdout.match(/\(50\/50 messages\)/g) ?? []).length, 4);
    assert.match(run.stdout, /Publish fastest [\d,]+ \| median [\d,]+ \| slowest [\d,]+ msg\/s/);
    assert.match(run.stdout, /Receive fastest ([\d,]+|\+Inf) \| median ([\d,]+|\+Inf) \| slowest /);
    assert.match(run.stdout, /True figures: delivered [\d,]+ msg\/s .*p99 [\d.]+ ms/);
    const result = parseBenchResult(readFileSync(json, 'utf8'));
    assert.equal(result.aggregate.stresser?.aggregate.published, 200);
    assert.equal(result.aggregate.stresser?.aggregate.delivered, 200);
    assert.equal(result.latency?.count, 200);
    assert.ok(result.clients.every((client) => client.failed !== true));
  });

  it('a separate bench subscribe sees every message of a bench publish -t, with latency', async (t) => {
    const mosquitto = await startMosquitto();
    t.after(() => mosquitto.stop());
    const json = join(dir, 'two-process-subscriber.json');
    // Subscriber first, bounded by --count; the publisher starts once it says it is subscribed.
    const subscriber = startStarling([
      'bench',
      'subscribe',
      '--url',
      mosquitto.url,
      '--count',
      '200',
      '-q',
      '1',
      '--timeout',
      '20s',
      '--json',
      json,
    ]);
    t.after(() => {
      if (subscriber.exitCode === null) subscriber.kill('SIGKILL');
    });
    let subscribed: () => void = () => undefined;
    const ready = new Promise<void>((resolve) => (subscribed = resolve));
    const subscriberRun = finish(subscriber, (stderr) => {
      if (/^subscribed: /m.test(stderr)) subscribed();
    });
    await Promise.race([ready, subscriberRun]);
    const publisher = await runStarling([
      'bench',
      'publish',
      '--url',
      mosquitto.url,
      '-t',
      '-n',
      '100',
      '--clients',
      '2',
      '-q',
      '1',
      '--quiet',
    ]);
    assert.equal(publisher.code, 0, publisher.stderr);
    assert.match(publisher.stdout, /for 2 clients\nMessage succes rate: 100\.00% \(200\/200 messages\)/);
    const run = await subscriberRun;
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /^subscribed: 1 subscriber\(s\) on mqtt-malaria\/#$/m);
    assert.match(
      run.stdout,
      /Delivery totals \(2 publisher streams\): received 200 \(200 distinct\), missing 0, duplicated 0, out of order 0/,
    );
    const lines = run.stdout.split('\n').filter((line) => line.startsWith('Publisher starling.loadr-'));
    assert.equal(lines.length, 2);
    for (const line of lines) assert.match(line, /received 100 \(100\/100 distinct\), missing 0/);
    assert.match(run.stdout, /Message timing p50 +[\d.]+ ms/);
    const result = parseBenchResult(readFileSync(json, 'utf8'));
    assert.equal(result.delivery?.received, 200);
    assert.equal(result.delivery?.missing, 0);
    // Every message carried its send time, so every one has an end-to-end latency.
    assert.equal(result.latency?.count, 200);
    assert.ok((result.latency?.maxMs ?? -1) >= 0);
  });
});
