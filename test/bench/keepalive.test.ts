import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { parseBenchResult } from '../../src/bench/bench-result-json.js';
import { runKeepalive } from '../../src/bench/keepalive.js';
import { renderKeepaliveText } from '../../src/bench/keepalive-report.js';
import { KeepalivePhase } from '../../src/bench/keepalive-types.js';
import {
  describePlan,
  planConnections,
  RESERVED_FILE_DESCRIPTORS,
  readSystemLimits,
  type SystemLimits,
} from '../../src/bench/system-limits.js';
import { runBenchKeepaliveCommand } from '../../src/cli/bench-keepalive-command.js';
import { Broker } from '../../src/index.js';
import { engineOf } from '../../src/server/broker.js';
import { freePort, startMosquitto } from '../support/mosquitto.js';

/** Captures what a command writes. */
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

async function startStarling(): Promise<{ broker: Broker; url: string }> {
  const broker = new Broker({ sysInterval: 0 });
  const address = await broker.listen({ host: '127.0.0.1', port: 0 });
  return { broker, url: `mqtt://127.0.0.1:${address.port}` };
}

const scratch = mkdtempSync(join(tmpdir(), 'starling-keepalive-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('system limits', () => {
  test('reads the open-file limits and the port range from /proc-style files', () => {
    const limitsFile = join(scratch, 'limits');
    const rangeFile = join(scratch, 'range');
    writeFileSync(
      limitsFile,
      'Limit                     Soft Limit           Hard Limit           Units     \n' +
        'Max cpu time              unlimited            unlimited            seconds   \n' +
        'Max open files            1024                 4096                 files     \n',
    );
    writeFileSync(rangeFile, '32768\t60999\n');
    assert.deepEqual(readSystemLimits({ limitsFile, portRangeFile: rangeFile }), {
      openFilesSoft: 1024,
      openFilesHard: 4096,
      portRange: { low: 32768, high: 60999 },
    });
    assert.deepEqual(
      readSystemLimits({ limitsFile: join(scratch, 'absent'), portRangeFile: join(scratch, 'absent') }),
      {
        openFilesSoft: undefined,
        openFilesHard: undefined,
        portRange: undefined,
      },
    );
  });

  test('refuses more clients than open files and says how to raise the limit', () => {
    const limits: SystemLimits = {
      openFilesSoft: 1000,
      openFilesHard: 8000,
      portRange: { low: 32768, high: 60999 },
    };
    const fits = planConnections({ clients: 1000 - RESERVED_FILE_DESCRIPTORS, host: '10.0.0.1' }, limits);
    assert.equal(fits.ok, true);
    const embedded = planConnections({ clients: 600, host: '127.0.0.1', brokerInProcess: true }, limits);
    assert.equal(embedded.ok, false);
    assert.equal(embedded.fileDescriptorsNeeded, 1200 + RESERVED_FILE_DESCRIPTORS);
    const text = describePlan(limits, embedded);
    assert.match(text, /ulimit -n 8000/);
    assert.match(text, /-P/);
    assert.match(text, /own process/);
  });

  test('spreads loopback clients over source addresses when one address has too few ports', () => {
    const limits: SystemLimits = {
      openFilesSoft: undefined,
      openFilesHard: undefined,
      portRange: { low: 60000, high: 60099 },
    };
    const loopback = planConnections({ clients: 250, host: '127.0.0.1' }, limits);
    assert.equal(loopback.ok, true);
    // 100 ports, 90 usable for one address: 250 clients must bind, at 20 per address (bind() slows down
    // beyond about a quarter of the range), so 13 addresses.
    assert.deepEqual(
      loopback.sourceAddresses,
      Array.from({ length: 13 }, (_, i) => `127.0.0.${i + 1}`),
    );
    const given = planConnections({ clients: 80, host: '127.0.0.1', sourceAddresses: ['127.0.0.9'] }, limits);
    assert.equal(given.ok, true);
    assert.match(
      describePlan(limits, given),
      /hint: 80 connections per source address: beyond about 20 each/,
    );
    const small = planConnections({ clients: 50, host: '127.0.0.1' }, limits);
    assert.deepEqual(small.sourceAddresses, []);
    const remote = planConnections({ clients: 250, host: 'broker.example' }, limits);
    assert.equal(remote.ok, false);
    assert.match(describePlan(limits, remote), /ip_local_port_range/);
  });
});

describe('runKeepalive', () => {
  test('200 clients at 1000/s held 2 s with keep alive 1 against Starling: all connected, pings answered', async () => {
    const { broker, url } = await startStarling();
    try {
      const phases: string[] = [];
      const result = await runKeepalive(
        { url, clients: 200, rate: 1000, durationMs: 2000, keepalive: 1, brokerInProcess: true },
        { onProgress: (progress) => phases.push(progress.phase) },
      );
      assert.equal(result.attempted, 200);
      assert.equal(result.connected, 200);
      assert.equal(result.failed, 0);
      assert.deepEqual(result.failures, {});
      assert.equal(result.unexpectedDisconnects, 0);
      assert.equal(result.openAtEnd, 200);
      assert.equal(result.peakOpen, 200);
      assert.equal(result.connectLatency.count, 200);
      // Two keep-alive periods in the hold: every client pinged at least once and each ping was answered.
      assert.ok(result.pingsSent >= 200, `pings sent ${result.pingsSent}`);
      assert.equal(result.pingsAnswered, result.pingsSent);
      assert.equal(result.pingLatency.count, result.pingsAnswered);
      assert.ok(result.pingLatency.max > 0);
      assert.ok(phases.includes(KeepalivePhase.Holding) && phases.includes(KeepalivePhase.Closing));
      assert.ok(result.memory.rssPeakBytes >= result.memory.rssBeforeBytes);
      assert.equal(result.aborted, false);
      // Every connection was closed by the run: the broker is empty again.
      for (let i = 0; i < 100 && engineOf(broker).connections.size > 0; i++)
        await new Promise((r) => setTimeout(r, 20));
      assert.equal(engineOf(broker).connections.size, 0);
      const text = renderKeepaliveText(result);
      assert.match(text, /200 connected, 0 failed, 0 unexpected disconnects/);
      assert.match(text, /PINGRESP latency \(ms\): p50/);
    } finally {
      await broker.close();
    }
  });

  test('against mosquitto: connected, pings answered; a refusing mosquitto gives CONNACK failures', async () => {
    const open = await startMosquitto();
    const closed = await startMosquitto({ allowAnonymous: false, users: { bench: 'secret' } });
    try {
      const result = await runKeepalive({
        url: open.url,
        clients: 50,
        rate: 500,
        durationMs: 1300,
        keepalive: 1,
      });
      assert.equal(result.connected, 50);
      assert.equal(result.failed, 0);
      assert.equal(result.unexpectedDisconnects, 0);
      assert.ok(result.pingsAnswered >= 50, `pings answered ${result.pingsAnswered}`);
      assert.equal(result.pingsAnswered, result.pingsSent);

      const refused = await runKeepalive({
        url: closed.url,
        clients: 5,
        rate: 100,
        durationMs: 1000,
        keepalive: 5,
      });
      assert.equal(refused.connected, 0);
      assert.equal(refused.failed, 5);
      assert.deepEqual(refused.failures, { 'CONNACK refused: 5 NotAuthorized': 5 });
      const authorised = await runKeepalive({
        url: closed.url,
        clients: 3,
        rate: 100,
        durationMs: 0,
        keepalive: 5,
        protocolVersion: 5,
        username: 'bench',
        password: 'secret',
      });
      assert.equal(authorised.connected, 3);
    } finally {
      await open.stop();
      await closed.stop();
    }
  });

  test('an unreachable port counts every client as a failure and skips the hold', async () => {
    const port = await freePort();
    const result = await runKeepalive({
      url: `mqtt://127.0.0.1:${port}`,
      clients: 20,
      rate: 1000,
      durationMs: 30_000,
      keepalive: 1,
    });
    assert.equal(result.connected, 0);
    assert.equal(result.failed, 20);
    assert.deepEqual(result.failures, { ECONNREFUSED: 20 });
    assert.ok(result.holdMs < 30_000, 'nothing to hold: the hold ends at once');
  });

  test('connections the broker drops during the hold are unexpected disconnects, by reason', async () => {
    const { broker, url } = await startStarling();
    let closing: Promise<void> | undefined;
    const result = await runKeepalive(
      { url, clients: 10, rate: 1000, durationMs: 20_000, keepalive: 30, progressIntervalMs: 50 },
      {
        onProgress: (progress) => {
          if (progress.phase === KeepalivePhase.Holding && closing === undefined) closing = broker.close();
        },
      },
    );
    await closing;
    assert.equal(result.connected, 10);
    assert.equal(result.unexpectedDisconnects, 10);
    assert.equal(result.openAtEnd, 0);
    assert.equal(
      Object.values(result.disconnects).reduce((sum, n) => sum + n, 0),
      10,
    );
    assert.ok(result.holdMs < 20_000);
  });

  test('spreads connections over the given source addresses; abort ends the run with partial results', async () => {
    const { broker, url } = await startStarling();
    const controller = new AbortController();
    const seen = new Set<string>();
    try {
      const result = await runKeepalive(
        {
          url,
          clients: 6,
          rate: 1000,
          durationMs: 20_000,
          keepalive: 0,
          sourceAddresses: ['127.0.0.2', '127.0.0.3'],
          progressIntervalMs: 50,
        },
        {
          signal: controller.signal,
          onProgress: (progress) => {
            if (progress.phase !== KeepalivePhase.Holding) return;
            for (const connection of engineOf(broker).connections) seen.add(String(connection.remoteAddress));
            controller.abort();
          },
        },
      );
      assert.equal(result.aborted, true);
      assert.equal(result.connected, 6);
      assert.ok(result.holdMs < 20_000);
      assert.deepEqual([...seen].sort(), ['127.0.0.2', '127.0.0.3']);
    } finally {
      await broker.close();
    }
  });
});

describe('starling bench keepalive (command)', () => {
  test('embedded broker: exit 0, text report, --json and --html written', async () => {
    const out = sink();
    const err = sink();
    const jsonFile = join(scratch, 'ka.json');
    const htmlFile = join(scratch, 'ka.html');
    const code = await runBenchKeepaliveCommand(
      [
        '-n',
        '20',
        '--rate',
        '500',
        '--duration',
        '0.3',
        '-k',
        '5',
        '-V',
        '5',
        '--json',
        jsonFile,
        '--html',
        htmlFile,
      ],
      { stdout: out.stream, stderr: err.stream },
    );
    assert.equal(code, 0, err.text());
    assert.match(err.text(), /limits: ulimit -n/);
    // The embedded broker runs in its own process, so the generator's memory is the generator's alone.
    assert.match(err.text(), /embedded Starling broker on mqtt:\/\/127\.0\.0\.1:\d+ \(pid \d+\)/);
    assert.match(out.text(), /20 connected, 0 failed/);
    assert.doesNotMatch(out.text(), /includes the embedded broker/);
    const result = parseBenchResult(readFileSync(jsonFile, 'utf8'));
    assert.equal(result.scenario, 'keepalive');
    assert.equal(result.config.clients, 20);
    assert.equal(result.latency?.count, 20);
    assert.equal(result.aggregate.messagesOk, 20);
    assert.equal(result.clients.length, 20);
    const html = readFileSync(htmlFile, 'utf8');
    assert.match(html, /id="latency-histogram"/);
    assert.match(html, /Unexpected disconnects/);
  });

  test('an unreachable broker: failures counted, clear message, exit 1', async () => {
    const port = await freePort();
    const out = sink();
    const err = sink();
    const code = await runBenchKeepaliveCommand(
      ['-H', '127.0.0.1', '-p', String(port), '-n', '5', '--rate', '200', '--duration', '5'],
      {
        stdout: out.stream,
        stderr: err.stream,
      },
    );
    assert.equal(code, 1);
    assert.match(out.text(), /0 connected, 5 failed/);
    assert.match(out.text(), /5 {2}ECONNREFUSED/);
    assert.match(err.text(), /no client could connect/);
  });

  test('a run beyond the open-file limit is refused before it starts, with advice', async () => {
    const soft = readSystemLimits().openFilesSoft;
    assert.ok(soft !== undefined, 'the open-file limit is readable from /proc/self/limits');
    const out = sink();
    const err = sink();
    const clients = String(Math.min(1_000_000, soft + 1));
    const code = await runBenchKeepaliveCommand(['-n', clients], { stdout: out.stream, stderr: err.stream });
    assert.equal(code, 1);
    assert.match(err.text(), /refusing to start/);
    assert.match(err.text(), /ulimit -n/);
    assert.equal(out.text(), '');
  });

  test('bad flags are usage errors', async () => {
    await assert.rejects(runBenchKeepaliveCommand(['-n', 'many']), { name: 'UsageError' });
    await assert.rejects(runBenchKeepaliveCommand(['--url', 'mqtt://x', '-H', 'y']), { name: 'UsageError' });
    await assert.rejects(runBenchKeepaliveCommand(['-V', '7']), { name: 'UsageError' });
  });
});
