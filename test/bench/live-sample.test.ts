import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Bench, type BenchLiveSample } from '../../src/bench/bench.js';
import { LiveSampler } from '../../src/bench/live-sample.js';
import { Broker } from '../../src/index.js';

function sums(samples: readonly BenchLiveSample[]): { sent: number; received: number; errors: number } {
  let sent = 0;
  let received = 0;
  let errors = 0;
  for (const sample of samples) {
    sent += sample.sent;
    received += sample.received;
    errors += sample.errors;
    // Each sample is the sum of its agent rows.
    assert.equal(
      sample.sent,
      sample.agents.reduce((total, row) => total + row.sent, 0),
    );
    assert.equal(
      sample.received,
      sample.agents.reduce((total, row) => total + row.received, 0),
    );
    assert.equal(
      sample.connected,
      sample.agents.reduce((total, row) => total + row.connected, 0),
    );
  }
  return { sent, received, errors };
}

describe('LiveSampler', () => {
  it('reports what changed since the previous sample, per agent and in all', () => {
    const sampler = new LiveSampler(1000, ['a', 'b']);
    sampler.update(0, { sent: 10, received: 4, errors: 0, connected: 3 });
    sampler.update(1, { sent: 5, received: 0, errors: 1, connected: 2 });
    sampler.latency.record(2000);
    sampler.latency.record(4000);
    const first = sampler.sample(2000);
    assert.deepEqual(
      { sent: first.sent, received: first.received, errors: first.errors, connected: first.connected },
      { sent: 15, received: 4, errors: 1, connected: 5 },
    );
    assert.equal(first.intervalMs, 1000);
    assert.equal(first.elapsedMs, 1000);
    // HDR keeps 3 significant digits: 4 ms reads back as the top of its bucket.
    assert.ok(Math.abs((first.latencyMs?.max ?? 0) - 4) < 0.01, String(first.latencyMs?.max));
    sampler.update(0, { sent: 12, received: 9, errors: 0, connected: 1 });
    sampler.setState(1, 'lost');
    // A lost agent's late report changes nothing.
    sampler.update(1, { sent: 50, received: 0, errors: 1, connected: 2 });
    const second = sampler.sample(3000);
    assert.deepEqual(
      second.agents.map((row) => [row.name, row.sent, row.received, row.connected, row.state]),
      [
        ['a', 2, 5, 1, 'running'],
        ['b', 0, 0, 0, 'lost'],
      ],
    );
    assert.equal(second.latencyMs, undefined, 'the interval histogram starts empty again');
  });
});

describe('Bench interval samples (local runs)', { timeout: 60_000 }, () => {
  let broker: Broker;
  let url: string;
  before(async () => {
    broker = new Broker({ sysInterval: 0 });
    // Refuses one client id, so a run has an error the samples must count.
    await broker.addHook({ onConnectAuthenticate: (_client, connect) => !connect.clientId.endsWith('-1-2') });
    const address = await broker.listen({ host: '127.0.0.1', port: 0 });
    url = `mqtt://127.0.0.1:${address.port}`;
  });
  after(() => broker.close());

  it('publish over two processes: the samples add up to the run, errors included', async () => {
    const bench = new Bench({
      scenario: {
        kind: 'publish',
        clientId: 'live-pub',
        clientsPerProcess: 3,
        messagesPerClient: 60,
        qos: 1,
        payloadBytes: 50,
        ratePerClient: 100,
        jitter: 0,
        timestamp: false,
        topic: 'live/{client}',
        maxInflight: 10,
      },
      connection: { url, protocolVersion: 5 },
      processes: 2,
      intervalMs: 200,
    });
    const samples: BenchLiveSample[] = [];
    bench.on('interval', (sample) => samples.push(sample));
    const result = await bench.run();
    assert.ok(samples.length >= 3, `${samples.length} samples`);
    const total = sums(samples);
    const failed = result.clients.filter((client) => client.failed === true);
    assert.equal(failed.length, 1, 'live-pub-1-2 is refused');
    assert.equal(total.errors, 1);
    // The refused client's row counts the 60 messages it never got to send.
    assert.equal(total.sent, result.aggregate.messagesTotal - 60);
    assert.equal(total.sent, 5 * 60);
    assert.equal(
      total.sent,
      result.timeseries?.sent.reduce((sum, count) => sum + count, 0),
    );
    assert.equal(total.received, 0);
    assert.ok(samples.some((sample) => sample.latencyMs !== undefined && sample.latencyMs.p50 > 0));
    assert.deepEqual(
      samples.map((sample) => sample.agents.map((row) => row.name)),
      samples.map(() => ['local']),
    );
    const last = samples.at(-1)!;
    assert.equal(last.agents[0]?.state, 'done');
    assert.equal(last.connected, 0, 'every client has disconnected at the end');
    for (const [i, sample] of samples.entries()) {
      if (i > 0) assert.ok(sample.at > samples[i - 1]!.at);
    }
  });

  it('subscribe --publish over two processes: deliveries add up to the subscribers received', async () => {
    const bench = new Bench({
      scenario: {
        kind: 'subscribe',
        clientId: 'live-sub',
        clientsPerProcess: 2,
        topic: 'live-e2e/#',
        qos: 1,
        count: 0,
        abortOnDrops: false,
        idleTimeoutMs: 5000,
      },
      publisher: {
        kind: 'publish',
        clientId: 'live-e2e',
        clientsPerProcess: 2,
        messagesPerClient: 50,
        qos: 1,
        payloadBytes: 40,
        ratePerClient: 0,
        jitter: 0,
        timestamp: true,
        topic: 'live-e2e/{client}',
        maxInflight: 20,
      },
      connection: { url, protocolVersion: 5 },
      processes: 2,
      intervalMs: 250,
    });
    const samples: BenchLiveSample[] = [];
    const stages: string[] = [];
    bench.on('interval', (sample) => samples.push(sample));
    bench.on('stage', (stage) => stages.push(stage));
    const result = await bench.run();
    const total = sums(samples);
    assert.equal(result.delivery?.received, 2 * 4 * 50);
    assert.equal(total.received, result.delivery?.received);
    assert.equal(total.sent, 4 * 50);
    assert.equal(total.errors, 0);
    assert.ok(stages.includes('subscribed: 2 subscriber(s) on live-e2e/#'), stages.join('\n'));
  });

  it('subscribe -P 2 without --publish says when all subscribers are subscribed', async () => {
    const bench = new Bench({
      scenario: {
        kind: 'subscribe',
        clientId: 'live-only-sub',
        clientsPerProcess: 2,
        topic: 'live-only/#',
        qos: 0,
        count: 1,
        abortOnDrops: false,
        idleTimeoutMs: 5000,
      },
      connection: { url, protocolVersion: 5 },
      processes: 2,
      durationMs: 10_000,
    });
    const subscribed = new Promise<string>((resolve) =>
      bench.on('stage', (stage) => {
        if (stage.startsWith('subscribed:')) resolve(stage);
      }),
    );
    const run = bench.run();
    const stage = await subscribed;
    assert.equal(stage, 'subscribed: 4 subscriber(s) on live-only/#');
    // One bench message ends each subscriber's --count 1.
    const { PayloadWriter } = await import('../../src/bench/payload.js');
    broker.publish('live-only/x', new PayloadWriter('outside').write(0, 30), { qos: 0 });
    const result = await run;
    assert.equal(result.delivery?.received, 4);
  });
});
