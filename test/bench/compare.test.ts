import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCompare } from '../../src/bench/compare.js';
import { COMPARE_TABLE_HEADER } from '../../src/bench/report-text.js';
import { parseBrokerFlag, runBenchCompareCommand } from '../../src/cli/bench-compare-command.js';
import { UsageError } from '../../src/cli/usage-error.js';
import { freePort, type MosquittoBroker, startMosquitto } from '../support/mosquitto.js';

const UNDER_TSX = import.meta.url.endsWith('.ts');
const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), UNDER_TSX ? '../..' : '../../..');

/** A stream that keeps what is written to it. */
class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

async function compare(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await runBenchCompareCommand(args, { stdout, stderr });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** The cells of the table line of `broker` (the label cell first). */
function rowCells(stdout: string, broker: string): string[] {
  const line = stdout.split('\n').find((text) => text.startsWith(`${broker} | `));
  assert.ok(line, `no row for ${broker} in:\n${stdout}`);
  return line
    .split(' | ')
    .map((cell) => cell.replace(/ \|$/, ''))
    .map((cell) => cell.trim());
}

const RATE = /^\d{1,3}(,\d{3})*$/;
const rate = (cell: string | undefined): number => Number((cell ?? '').replaceAll(',', ''));

/** Checks the aggregate and p99 columns hold positive figures, and returns the row. */
function assertFigures(stdout: string, broker: string): string[] {
  const cells = rowCells(stdout, broker);
  assert.equal(cells.length, 9, cells.join(' | '));
  assert.match(cells[7] ?? '', RATE, `aggregate of ${broker}`);
  assert.ok(rate(cells[7]) > 0);
  assert.match(cells[8] ?? '', /^\d+\.\d\d$/, `p99 of ${broker}`);
  // Publish rates are finite for every scenario with a publish phase.
  for (const cell of cells.slice(1, 4)) assert.match(cell, RATE, `publish rate of ${broker}`);
  return cells;
}

/** `starling <args>` from the sources under tsx (a stale dist/ must not be tested), the build otherwise. */
function runStarling(
  args: readonly string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
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
  const child = spawn(process.execPath, argv, {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 20_000,
    killSignal: 'SIGKILL',
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

const dir = mkdtempSync(join(tmpdir(), 'starling-compare-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('starling bench compare', { timeout: 60_000 }, () => {
  let mosquitto: MosquittoBroker;
  before(async () => {
    mosquitto = await startMosquitto();
  });
  after(() => mosquitto.stop());

  it('stress: embedded Starling and mosquitto rows, in order, with figures; --json and --csv', async () => {
    const json = join(dir, 'stress.json');
    const csv = join(dir, 'stress.csv');
    const run = await compare([
      '--broker',
      'starling',
      '--broker',
      `mosquitto=${mosquitto.url}`,
      '--scenario',
      'stress',
      '-num-clients',
      '3',
      '-num-messages=50',
      '-q',
      '1',
      '--quiet',
      '--json',
      json,
      '--csv',
      csv,
    ]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const lines = run.stdout.split('\n');
    const header = lines.indexOf(COMPARE_TABLE_HEADER);
    assert.ok(header > 0, run.stdout);
    assert.equal(lines[header + 1], '---|---|---|---|---|---|---|---|---|');
    assert.match(lines[header + 2] ?? '', /^starling \| /);
    assert.match(lines[header + 3] ?? '', /^mosquitto \| /);
    assertFigures(run.stdout, 'starling');
    assertFigures(run.stdout, 'mosquitto');
    const written = JSON.parse(readFileSync(json, 'utf8')) as {
      format: string;
      brokers: { name: string; url: string | null; result: { aggregate: { messagesOk: number } } }[];
    };
    assert.equal(written.format, 'starling-bench-compare/1');
    assert.deepEqual(
      written.brokers.map((b) => [b.name, b.url, b.result.aggregate.messagesOk]),
      [
        ['starling', null, 150],
        ['mosquitto', mosquitto.url, 150],
      ],
    );
    const csvLines = readFileSync(csv, 'utf8').trimEnd().split('\r\n');
    assert.equal(csvLines.length, 3);
    assert.match(csvLines[1] ?? '', /^starling,stress,/);
    assert.match(csvLines[2] ?? '', /^mosquitto,stress,/);
  });

  it('fan-out: one publisher, so its rate fills all three publish columns', async () => {
    const json = join(dir, 'fan-out.json');
    const run = await compare([
      '--broker',
      'starling',
      '--broker',
      `mosquitto=${mosquitto.url}`,
      '--scenario',
      'fan-out',
      '--clients',
      '3',
      '--messages',
      '60',
      '--qos',
      '1',
      '--quiet',
      '--json',
      json,
    ]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /fan-out, 1 publisher sending 60 messages to 3 subscribers/);
    for (const broker of ['starling', 'mosquitto']) {
      const cells = assertFigures(run.stdout, broker);
      assert.equal(cells[1], cells[2]);
      assert.equal(cells[2], cells[3]);
    }
    const written = JSON.parse(readFileSync(json, 'utf8')) as {
      brokers: { result: { scenario: string; clients: { messagesOk: number; failed?: boolean }[] } }[];
    };
    for (const broker of written.brokers) {
      assert.equal(broker.result.scenario, 'fan-out');
      // Every subscriber got every message of the one publisher.
      assert.deepEqual(
        broker.result.clients.map((c) => [c.messagesOk, c.failed ?? false]),
        [
          [60, false],
          [60, false],
          [60, false],
        ],
      );
    }
  });

  it('fan-in (library): each publisher reaches the wildcard subscriber, with stresser figures', async () => {
    const outcome = await runCompare({
      brokers: [{ name: 'mosquitto', url: mosquitto.url }],
      scenario: 'fan-in',
      clients: 3,
      messages: 40,
      qos: 1,
    });
    assert.equal(outcome.anyFailed, false);
    const result = outcome.results[0];
    assert.ok(result);
    assert.deepEqual(
      result.clients.map((c) => [c.messagesOk, c.messagesTotal]),
      [
        [40, 40],
        [40, 40],
        [40, 40],
      ],
    );
    assert.equal(result.aggregate.messagesOk, 120);
    assert.equal(result.latency?.count, 120);
    assert.equal(result.aggregate.stresser?.publishRates.length, 3);
    assert.equal(outcome.rows[0]?.broker, 'mosquitto');
    assert.ok((outcome.rows[0]?.aggregateMsgsPerSec ?? 0) > 0);
  });

  it('an unreachable broker gets a row saying so, the others still run, exit 1', async () => {
    const port = await freePort();
    const run = await compare([
      '--broker',
      `down=mqtt://127.0.0.1:${port}`,
      '--broker',
      `mosquitto=${mosquitto.url}`,
      '--clients',
      '2',
      '--messages',
      '20',
      '--quiet',
    ]);
    assert.equal(run.code, 1);
    const down = rowCells(
      run.stdout,
      `down (failed: cannot connect to mqtt://127.0.0.1:${port}: connection refused)`,
    );
    assert.deepEqual(down.slice(1), ['-', '-', '-', '-', '-', '-', '-', '-']);
    assertFigures(run.stdout, 'mosquitto');
    assert.match(run.stderr, /starling bench compare: down: cannot connect .* connection refused/);
  });
});

describe('bench compare --broker syntax', () => {
  it('accepts NAME=URL and the embedded broker by name', () => {
    assert.deepEqual(parseBrokerFlag('Mosquitto 2.0=mqtt://127.0.0.1:1883'), {
      name: 'Mosquitto 2.0',
      url: 'mqtt://127.0.0.1:1883',
    });
    assert.deepEqual(parseBrokerFlag('starling'), { name: 'starling' });
    assert.deepEqual(parseBrokerFlag('starling=ws://127.0.0.1:8080/mqtt'), {
      name: 'starling',
      url: 'ws://127.0.0.1:8080/mqtt',
    });
  });

  it('rejects values that are not NAME=URL', () => {
    for (const [text, message] of [
      ['mqtt://127.0.0.1:1883', /must be NAME=URL/],
      ['mosquitto', /must be NAME=URL/],
      ['=mqtt://127.0.0.1:1883', /NAME before '=' is empty/],
      ['mosquitto=', /URL after '=' is empty/],
      ['mosquitto=http://127.0.0.1', /unsupported URL scheme/],
      ['mosquitto=not a url', /mosquitto=not a url/],
    ] as const) {
      assert.throws(
        () => parseBrokerFlag(text),
        (error: unknown) => {
          assert.ok(error instanceof UsageError, String(error));
          assert.match(error.message, message);
          return true;
        },
      );
    }
  });

  it('rejects a missing --broker, a repeated name and an unknown scenario', async () => {
    await assert.rejects(compare(['--scenario', 'stress']), /needs at least one --broker/);
    await assert.rejects(
      compare(['--broker', 'a=mqtt://127.0.0.1:1', '--broker', 'a=mqtt://127.0.0.1:2']),
      /name 'a' is given twice/,
    );
    await assert.rejects(
      compare(['--broker', 'starling', '--scenario', 'fan-around']),
      /--scenario must be one of/,
    );
  });

  it('the CLI exits 2 with a message for a bad --broker, and dispatches bench keepalive', async () => {
    const bad = await runStarling(['bench', 'compare', '--broker', 'mqtt://127.0.0.1:1883']);
    assert.equal(bad.code, 2);
    assert.equal(bad.stdout, '');
    assert.match(bad.stderr, /^starling: --broker must be NAME=URL .*got 'mqtt:\/\/127\.0\.0\.1:1883'\n/);
    const help = await runStarling(['bench', 'keepalive', '--help']);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^Usage: starling bench keepalive /);
  });
});
