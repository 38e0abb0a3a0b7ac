import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { agentUrl } from '../../src/bench/agent/agent-link.js';
import { BenchAgent } from '../../src/bench/agent/agent-server.js';
import { ClockEstimator, exchangeFigures } from '../../src/bench/agent/clock-sync.js';
import { decodeFromAgent, decodeToAgent, encodeMessage } from '../../src/bench/agent/protocol.js';
import {
  contiguousBlocks,
  planBench,
  planKeepalive,
  splitBenchPlan,
  splitEvenly,
  splitKeepalivePlan,
} from '../../src/bench/bench-plan.js';
import { LatencyHistogram } from '../../src/bench/histogram.js';
import { crossAgentLines } from '../../src/bench/report-agents.js';
import type { PublishScenario, SubscribeScenario } from '../../src/bench/scenarios/common.js';
import { emptyCounters } from '../../src/bench/scenarios/common.js';
import { CrossAgentLatency } from '../../src/bench/scenarios/cross-agent-latency.js';
import { parseListen } from '../../src/cli/bench-agent-command.js';
import { agentsFrom } from '../../src/cli/bench-flags.js';

const scratch = mkdtempSync(join(tmpdir(), 'starling-agent-units-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const publisher: PublishScenario = {
  kind: 'publish',
  clientId: 'p',
  clientsPerProcess: 4,
  messagesPerClient: 10,
  qos: 1,
  payloadBytes: 10,
  ratePerClient: 0,
  jitter: 0,
  timestamp: false,
  topic: 't/{client}',
  maxInflight: 10,
};
const base = {
  connection: { url: 'mqtt://127.0.0.1:1883', protocolVersion: 4 as const },
  originMs: 1_000_000,
  deadlineMs: 2_000_000,
  intervalMs: 1000,
};

describe('clock offset estimation', () => {
  it('gets offset and round trip from the four timestamps', () => {
    // The agent's clock is 100 ms ahead; 3 ms out, 5 ms back, 1 ms on the agent.
    const t1 = 1000;
    const t2 = t1 + 3 + 100;
    const t3 = t2 + 1;
    const t4 = t3 - 100 + 5;
    const { offsetMs, delayMs } = exchangeFigures({ t1, t2, t3, t4 });
    assert.equal(delayMs, 8);
    // Asymmetric paths put the estimate off by half their difference, within delay / 2.
    assert.equal(offsetMs, 99);
    assert.ok(Math.abs(offsetMs - 100) <= delayMs / 2);
  });

  it('keeps the exchange with the lowest round trip, within a window that follows drift', () => {
    const estimator = new ClockEstimator(10_000);
    assert.equal(estimator.estimate(), undefined);
    const exchange = (at: number, offset: number, out: number, back: number): void =>
      estimator.add({ t1: at, t2: at + out + offset, t3: at + out + offset, t4: at + out + back });
    exchange(0, 50, 10, 10);
    exchange(100, 50, 1, 1);
    exchange(200, 50, 4, 2);
    assert.deepEqual(estimator.estimate(), { offsetMs: 50, uncertaintyMs: 1, delayMs: 2, samples: 3 });
    // Much later, the clock has drifted; once enough newer exchanges exist the old best is forgotten.
    for (let i = 0; i < 10; i++) exchange(60_000 + i * 100, 53, 2, 2);
    assert.deepEqual(estimator.estimate(), { offsetMs: 53, uncertaintyMs: 2, delayMs: 4, samples: 10 });
  });

  it('cross-agent correction: by the offset difference, same-agent samples untouched', () => {
    const control = {
      signal: new AbortController().signal,
      counters: emptyCounters(),
      clock: {
        agent: 0,
        publisherPrefix: 'pub',
        processAgents: [0, 1, 1],
        offsetsUs: [0, 250_000],
        uncertaintiesUs: [300, 500],
      },
    };
    const cross = new CrossAgentLatency(control);
    // From process 2 (agent 1, clock 250 ms ahead): raw -248 ms is really 2 ms.
    assert.equal(cross.correct('pub-2-0', -248_000), 2000);
    assert.equal(cross.correct('pub-0-3', 1500), 1500);
    assert.equal(cross.correct('someone-else', 7000), 7000);
    const figures = cross.toJSON();
    assert.equal(figures.sameAgentSamples, 1);
    assert.equal(figures.uncertaintyUs, 800);
    assert.equal(LatencyHistogram.decode(figures.histogramUs).count, 1);
  });
});

describe('splitting a run over agents', () => {
  it('splits counts evenly and blocks contiguously, adding up to the whole', () => {
    assert.deepEqual(splitEvenly(10, 3), [4, 3, 3]);
    assert.deepEqual(splitEvenly(2, 3), [1, 1, 0]);
    assert.deepEqual(contiguousBlocks([0, 1, 2, 3, 4], 2), [
      [0, 1, 2],
      [3, 4],
    ]);
    assert.throws(() => splitEvenly(3, 0), RangeError);
  });

  it('gives each agent whole processes of the local run', () => {
    const plan = planBench({ scenario: publisher, processes: 5 }, base);
    const parts = splitBenchPlan(plan, 3);
    assert.deepEqual(
      parts.map((part) => part.shares.map((task) => task.processIndex)),
      [[0, 1], [2, 3], [4]],
    );
    assert.deepEqual(
      parts.flatMap((part) => part.shares),
      plan.shares,
    );
    assert.throws(() => splitBenchPlan(plan, 6), /-P must be >= agents/);
  });

  it('end to end: subscribers split over the agents with distinct numbers, every one expecting all messages', () => {
    const subscriber: SubscribeScenario = {
      kind: 'subscribe',
      clientId: 's',
      clientsPerProcess: 5,
      topic: 't/#',
      qos: 1,
      count: 0,
      abortOnDrops: false,
      idleTimeoutMs: 5000,
    };
    const plan = planBench({ scenario: subscriber, publisher, processes: 3 }, base);
    const parts = splitBenchPlan(plan, 3);
    assert.deepEqual(
      parts.map((part) => [
        part.subscribers?.processIndex,
        part.subscribers?.scenario.clientsPerProcess,
        part.subscribers?.clientOffset,
      ]),
      [
        [0, 2, 0],
        [1, 2, 2],
        [2, 1, 4],
      ],
    );
    for (const part of parts) {
      const scenario = part.subscribers?.scenario;
      assert.ok(scenario?.kind === 'subscribe');
      assert.equal(scenario.count, 3 * 4 * 10, 'each subscriber expects every message of every publisher');
    }
  });

  it('keepalive: connection ranges and rates add up exactly', () => {
    const plan = planKeepalive(
      { url: 'mqtt://127.0.0.1:1883', clients: 45_001, rate: 900, durationMs: 1, keepalive: 10 },
      6,
      7,
    );
    const clients = plan.parts.map((part) => part.options.clients);
    assert.equal(
      clients.reduce((a, b) => a + b, 0),
      45_001,
    );
    assert.deepEqual(
      plan.parts.map((part) => part.options.firstClient),
      clients.map((_, i) => clients.slice(0, i).reduce((a, b) => a + b, 0)),
    );
    const rate = plan.parts.reduce((sum, part) => sum + part.options.rate, 0);
    assert.ok(Math.abs(rate - 900) < 1e-9);
    assert.ok(plan.parts.every((part) => part.options.originMs === 7));
    assert.deepEqual(
      splitKeepalivePlan(plan, 3).map((part) => part.parts.map((p) => p.processIndex)),
      [
        [0, 1],
        [2, 3],
        [4, 5],
      ],
    );
  });
});

describe('the agents report', () => {
  it('warns when the clock uncertainty is larger than the cross-agent p50', () => {
    const summary = {
      count: 10,
      p50Ms: 0.4,
      p90Ms: 0.9,
      p99Ms: 2,
      maxMs: 3,
      uncertaintyMs: 0.75,
      sameAgentCount: 5,
    };
    const [line, warning] = crossAgentLines(summary);
    assert.match(
      line ?? '',
      /each figure \+- 0\.750 ms\): p50 0\.40 ms, p90 0\.90 ms, p99 2\.00 ms, max 3\.00 ms \(10 messages; 5 more/,
    );
    assert.match(
      warning ?? '',
      /^Warning: the clock uncertainty \(\+- 0\.750 ms\) is larger than the cross-agent p50/,
    );
    assert.equal(crossAgentLines({ ...summary, uncertaintyMs: 0.1 }).length, 1);
  });
});

describe('the agent protocol and flags', () => {
  it('keeps NaN and infinities across JSON and rejects malformed messages', () => {
    const text = encodeMessage({
      type: 'tick',
      runId: 'r1',
      atMs: 5,
      counters: { sent: 1, done: 1, connected: 0, received: 0, errors: 0 },
    });
    assert.deepEqual(decodeFromAgent(text), JSON.parse(text));
    const result = decodeFromAgent(
      encodeMessage({
        type: 'result',
        runId: 'r1',
        result: {
          shares: [],
          keepalive: [],
          cpu: [],
          processes: 1,
          peakRssBytes: Number.NaN,
          wallClockMs: Number.POSITIVE_INFINITY,
        },
      }),
    );
    assert.ok(result.type === 'result');
    assert.ok(Number.isNaN(result.result.peakRssBytes));
    assert.equal(result.result.wallClockMs, Number.POSITIVE_INFINITY);
    assert.throws(() => decodeToAgent('{"type":"start","runId":"r"}'), /atMs/);
    assert.throws(() => decodeToAgent('{"type":"launch"}'), TypeError);
    assert.throws(() => decodeFromAgent('not json'), /not JSON/);
  });

  it('--agents, --agents-file and --on-agent-loss', () => {
    const file = join(scratch, 'agents.txt');
    writeFileSync(file, '# the rack\n127.0.0.2:7883\n\n127.0.0.3:7883  # spare\n');
    assert.deepEqual(agentsFrom({ agents: ['127.0.0.1:7883'], 'agents-file': file, token: 'tok-12345' }), {
      endpoints: ['127.0.0.1:7883', '127.0.0.2:7883', '127.0.0.3:7883'],
      onAgentLoss: 'continue',
      token: 'tok-12345',
    });
    assert.equal(agentsFrom({}), undefined);
    assert.throws(() => agentsFrom({ agents: ['a:1,a:1'] }), /listed twice/);
    assert.throws(() => agentsFrom({ agents: ['nohost'] }), /HOST:PORT/);
    assert.throws(() => agentsFrom({ agents: ['a:1'], 'on-agent-loss': 'panic' }), /continue or stop/);
    assert.equal(agentUrl('[::1]:7883'), 'ws://[::1]:7883/');
    assert.deepEqual(parseListen('127.0.0.2:0'), { host: '127.0.0.2', port: 0 });
    assert.deepEqual(parseListen('[::1]:7883'), { host: '::1', port: 7883 });
    assert.throws(() => parseListen('7883'), { name: 'UsageError' });
  });

  it('an agent without a token listens on loopback only; tokens are not trivially short', () => {
    assert.throws(() => new BenchAgent({ host: '0.0.0.0', port: 0, version: '1' }), /needs a token/);
    assert.throws(
      () => new BenchAgent({ host: '127.0.0.1', port: 0, version: '1', token: 'short' }),
      /8 characters/,
    );
    assert.ok(new BenchAgent({ host: '0.0.0.0', port: 0, version: '1', token: 'long-enough' }));
  });
});
