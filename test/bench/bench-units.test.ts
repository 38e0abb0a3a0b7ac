import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Bench, type BenchProgress, deliveryTotals } from '../../src/bench/bench.js';
import { gaussianSize, PayloadWriter, readPayloadHeader } from '../../src/bench/payload.js';
import { SequenceTracker } from '../../src/bench/scenarios/sequence-tracker.js';
import { DropWatcher } from '../../src/bench/scenarios/subscribe.js';
import { normaliseSingleDashFlags, parseDuration } from '../../src/cli/bench-flags.js';
import { Broker } from '../../src/index.js';

describe('SequenceTracker', () => {
  it('counts missing, duplicated and out-of-order messages per publisher', () => {
    const tracker = new SequenceTracker();
    for (const seq of [0, 1, 3, 2, 2, 5]) tracker.record('a', seq);
    for (const seq of [0, 1, 2]) tracker.record('b', seq);
    const [a, b] = tracker.deliveries(7);
    assert.deepEqual(a, {
      publisher: 'a',
      received: 6,
      unique: 5,
      duplicates: 1,
      outOfOrder: 1,
      missing: 2,
      expected: 7,
    });
    assert.deepEqual(b, {
      publisher: 'b',
      received: 3,
      unique: 3,
      duplicates: 0,
      outOfOrder: 0,
      missing: 4,
      expected: 7,
    });
  });

  it('sums into the result delivery totals across subscribers and publishers', () => {
    const first = new SequenceTracker();
    for (const seq of [0, 1, 3, 2, 2, 5]) first.record('a', seq);
    for (const seq of [0, 1, 2]) first.record('b', seq);
    const second = new SequenceTracker();
    for (const seq of [1, 0, 0]) second.record('a', seq);
    const totals = deliveryTotals([
      { subscriber: 's0', publishers: first.deliveries(7), foreign: 2 },
      { subscriber: 's1', publishers: second.deliveries(7), foreign: 0 },
    ]);
    // s0<-a: 6 arrivals, 5 distinct, 1 dup, 1 late, 2 missing; s0<-b: 3/3, 4 missing;
    // s1<-a: 3 arrivals, 2 distinct, 1 dup, 1 late (0 after 1), 5 missing.
    assert.deepEqual(totals, {
      streams: 3,
      received: 12,
      unique: 10,
      missing: 11,
      duplicated: 2,
      outOfOrder: 2,
      foreign: 2,
    });
  });

  it('without a known count, expects up to the highest sequence number seen', () => {
    const tracker = new SequenceTracker();
    for (const seq of [0, 4]) tracker.record('p', seq);
    const [p] = tracker.deliveries();
    assert.equal(p?.expected, 5);
    assert.equal(p?.missing, 3);
  });

  it('rejects sequence numbers out of range without counting them', () => {
    const tracker = new SequenceTracker();
    assert.equal(tracker.record('p', -1), false);
    assert.equal(tracker.record('p', 2 ** 30), false);
    assert.equal(tracker.rejected, 2);
    assert.equal(tracker.publisherCount, 0);
  });
});

describe('bench payloads', () => {
  it('round-trip publisher, sequence and timestamp at the requested size', () => {
    const writer = new PayloadWriter('pub-1');
    const payload = writer.write(42, 100, 1_700_000_000_123_456.5);
    assert.equal(payload.length, 100);
    assert.deepEqual(readPayloadHeader(payload), {
      publisher: 'pub-1',
      seq: 42,
      sentAtUs: 1_700_000_000_123_456.5,
    });
    const untimed = writer.write(7, 0);
    assert.equal(untimed.length, writer.headerBytes);
    assert.equal(readPayloadHeader(untimed)?.sentAtUs, undefined);
  });

  it('ignores payloads that are not bench payloads', () => {
    assert.equal(readPayloadHeader(Buffer.from('hello world, this is not a bench payload')), undefined);
    assert.equal(readPayloadHeader(Buffer.alloc(3)), undefined);
  });

  it('draws sizes around the mean with a twentieth of it as standard deviation', () => {
    let state = 1;
    // A fixed linear congruential sequence keeps the test deterministic.
    const random = (): number => {
      state = (state * 48271) % 2147483647;
      return state / 2147483647;
    };
    const sizes = Array.from({ length: 5000 }, () => gaussianSize(1000, 0, random));
    const mean = sizes.reduce((sum, size) => sum + size, 0) / sizes.length;
    const sd = Math.sqrt(sizes.reduce((sum, size) => sum + (size - mean) ** 2, 0) / sizes.length);
    assert.ok(Math.abs(mean - 1000) < 3, `mean ${mean}`);
    assert.ok(Math.abs(sd - 50) < 4, `sd ${sd}`);
    assert.equal(gaussianSize(10, 64, random), 64);
  });
});

describe('bench flag helpers', () => {
  it("rewrites mqtt-stresser's single-dash long flags and leaves single letters alone", () => {
    assert.deepEqual(
      normaliseSingleDashFlags(['-num-clients=3', '-num-messages', '5', '-P', '2', '-s', '10']),
      ['--num-clients=3', '--num-messages', '5', '-P', '2', '-s', '10'],
    );
  });

  it('parses durations with units, plain numbers as seconds', () => {
    assert.equal(parseDuration('t', '500ms'), 500);
    assert.equal(parseDuration('t', '5s'), 5000);
    assert.equal(parseDuration('t', '2m'), 120_000);
    assert.equal(parseDuration('t', '3'), 3000);
    assert.equal(parseDuration('t', undefined), undefined);
    assert.throws(() => parseDuration('t', 'soon'), /duration/);
  });

  it('sees a rise of the dropped-messages counter only after a baseline', () => {
    const watcher = new DropWatcher();
    const topic = '$SYS/broker/publish/messages/dropped';
    assert.equal(watcher.observe(topic, Buffer.from('7')), 0);
    assert.equal(watcher.observe(topic, Buffer.from('7')), 0);
    assert.equal(watcher.observe(topic, Buffer.from('10')), 3);
    assert.equal(watcher.observe('$SYS/brokers/x/metrics/messages/dropped', Buffer.from('100')), 0);
  });
});

describe('Bench with worker processes', () => {
  it('-P 2 merges counters and histograms from both workers', { timeout: 30_000 }, async () => {
    const bench = new Bench({
      scenario: {
        kind: 'publish',
        clientId: 'merge-test',
        clientsPerProcess: 2,
        messagesPerClient: 50,
        qos: 1,
        payloadBytes: 64,
        ratePerClient: 0,
        jitter: 0,
        timestamp: false,
        topic: 'merge/{process}/{client}',
        maxInflight: 10,
      },
      connection: { protocolVersion: 5 },
      processes: 2,
      timeoutMs: 20_000,
    });
    const result = await bench.run();
    assert.equal(result.clients.length, 4);
    const sum = result.clients.reduce((total, client) => total + client.messagesOk, 0);
    assert.equal(sum, 200);
    assert.equal(result.aggregate.messagesOk, 200);
    assert.equal(result.latency?.count, 200);
    assert.equal(result.aggregate.timingMs.count, 200);
    assert.deepEqual(
      new Set(result.clients.map((client) => client.clientId.split('-')[2])),
      new Set(['0', '1']),
    );
    // The coordinator plus two workers.
    assert.equal(result.generator?.processes, 3);
    assert.equal(
      result.timeseries?.sent.reduce((a, b) => a + b, 0),
      200,
    );
  });
});

describe('Bench stress progress', () => {
  it('counts each delivery once, so progress ends exactly at its total', { timeout: 20_000 }, async (t) => {
    const broker = new Broker({ sysInterval: 0 });
    const address = await broker.listen({ host: '127.0.0.1', port: 0 });
    t.after(() => broker.close());
    const bench = new Bench({
      scenario: {
        kind: 'stress',
        clientId: 'progress-test',
        clientsPerProcess: 4,
        messagesPerClient: 200,
        // QoS 1 both ways: every publish is acknowledged as well as delivered, the case that counted twice.
        publisherQos: 1,
        subscriberQos: 1,
        rampupSize: 4,
        rampupDelayMs: 0,
        timeoutMs: 5000,
        constantPayload: true,
        payloadBytes: 32,
        maxInflight: 50,
      },
      connection: { url: `mqtt://127.0.0.1:${address.port}`, protocolVersion: 5 },
      timeoutMs: 15_000,
      progressIntervalMs: 20,
    });
    const seen: BenchProgress[] = [];
    bench.on('progress', (progress) => seen.push(progress));
    const result = await bench.run();
    assert.equal(result.aggregate.messagesOk, 800);
    const last = seen.at(-1);
    assert.equal(last?.total, 800);
    assert.equal(last?.done, 800);
    assert.equal(last?.sent, 800);
    for (const progress of seen) assert.ok(progress.done <= 800, `progress ${progress.done}/800`);
  });
});
