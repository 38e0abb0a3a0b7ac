import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { parseBenchResult } from '../../src/bench/bench-result-json.js';
import { KeepaliveBench } from '../../src/bench/keepalive-run.js';
import type { BenchLiveSample } from '../../src/bench/live-sample.js';
import { runBenchKeepaliveCommand } from '../../src/cli/bench-keepalive-command.js';
import { Broker } from '../../src/index.js';

function sink(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      text += chunk.toString();
      callback();
    },
  });
  return { stream, text: () => text };
}

/** A Starling broker that remembers the client ids it saw connect. */
async function startStarling(): Promise<{ broker: Broker; url: string; clientIds: string[] }> {
  const broker = new Broker({ sysInterval: 0 });
  const clientIds: string[] = [];
  await broker.addHook({ onConnect: (_client, connect) => void clientIds.push(connect.clientId) });
  const address = await broker.listen({ host: '127.0.0.1', port: 0 });
  return { broker, url: `mqtt://127.0.0.1:${address.port}`, clientIds };
}

const scratch = mkdtempSync(join(tmpdir(), 'starling-keepalive-p-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('bench keepalive over several processes and brokers', { timeout: 60_000 }, () => {
  let a: Awaited<ReturnType<typeof startStarling>>;
  let b: Awaited<ReturnType<typeof startStarling>>;
  before(async () => {
    a = await startStarling();
    b = await startStarling();
  });
  after(async () => {
    await a.broker.close();
    await b.broker.close();
  });

  test('three processes, two brokers: every connection once, alternating brokers, merged exactly', async () => {
    a.clientIds.length = 0;
    b.clientIds.length = 0;
    const bench = new KeepaliveBench({
      processes: 3,
      intervalMs: 200,
      load: {
        url: a.url,
        urls: [a.url, b.url],
        clients: 31,
        rate: 400,
        // Long against the 250 ms reports, so some sample sees every part holding at once.
        durationMs: 1500,
        keepalive: 5,
        clientIdPrefix: 'ka-p-',
      },
    });
    const samples: BenchLiveSample[] = [];
    bench.on('interval', (sample) => samples.push(sample));
    const result = await bench.run();
    assert.equal(result.requested, 31);
    assert.equal(result.connected, 31);
    assert.equal(result.failed, 0);
    assert.equal(result.openAtHold, 31);
    assert.equal(result.processes, 4, 'three workers and the coordinating process');
    assert.equal(result.connectLatency.count, 31);
    assert.equal(result.perClient.length, 31);
    assert.ok(result.perClient.every((row) => Number.isFinite(row.latencyUs)));
    // Connection n goes to broker n mod 2: ids 0, 2, 4 ... to the first, 1, 3 ... to the second.
    const ids = (list: string[]): number[] =>
      list.map((id) => Number(id.slice('ka-p-'.length))).sort((x, y) => x - y);
    assert.deepEqual(
      ids(a.clientIds),
      Array.from({ length: 16 }, (_, i) => 2 * i),
    );
    assert.deepEqual(
      ids(b.clientIds),
      Array.from({ length: 15 }, (_, i) => 2 * i + 1),
    );
    const sent = samples.reduce((sum, sample) => sum + sample.sent, 0);
    const received = samples.reduce((sum, sample) => sum + sample.received, 0);
    assert.equal(sent, 31);
    assert.equal(received, 31);
    assert.equal(Math.max(...samples.map((sample) => sample.connected)), 31);
    assert.equal(result.heldAtOnce, 31);
    assert.equal(samples.at(-1)?.connected, 0);
    assert.equal(result.timeseries.totalSent, 31, 'the parts time series merge on one origin');
  });

  test('the command: -P 2 with --url a,b writes one merged report', async () => {
    const out = sink();
    const err = sink();
    const json = join(scratch, 'ka-p.json');
    const code = await runBenchKeepaliveCommand(
      [
        '--url',
        `${a.url},${b.url}`,
        '-P',
        '2',
        '-n',
        '12',
        '--rate',
        '300',
        '--duration',
        '0.2',
        '--json',
        json,
      ],
      { stdout: out.stream, stderr: err.stream },
    );
    assert.equal(code, 0, err.text());
    assert.match(out.text(), /12 attempted, 12 connected, 0 failed/);
    assert.match(out.text(), /generator \(3 processes\)/);
    const result = parseBenchResult(readFileSync(json, 'utf8'));
    assert.equal(result.clients.length, 12);
    assert.equal(result.generator?.processes, 3);
    assert.equal(result.latency?.count, 12);
  });

  test('--source with an address that is not an IP is a usage error', async () => {
    await assert.rejects(runBenchKeepaliveCommand(['--source', 'nowhere']), { name: 'UsageError' });
  });
});
