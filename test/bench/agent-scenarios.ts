/**
 * Distributed runs the agent tests make against Starling and against Mosquitto alike, each with the
 * checks that matter: the merged counts are the sum of the agents' parts, the merged percentiles are those
 * of one histogram holding every raw sample, and the live samples add up to the run's totals.
 */
import assert from 'node:assert/strict';
import type { AgentRunOptions, BenchLiveSample, BenchOptions } from '../../src/bench/bench.js';
import { Bench } from '../../src/bench/bench.js';
import type { BenchResult } from '../../src/bench/bench-result.js';
import { LatencyHistogram } from '../../src/bench/histogram.js';
import { KeepaliveBench } from '../../src/bench/keepalive-run.js';
import type { KeepaliveResult } from '../../src/bench/keepalive-types.js';

/** A finished run and what it emitted. */
export interface Observed<T> {
  readonly result: T;
  readonly samples: readonly BenchLiveSample[];
  readonly raw: readonly number[];
}

/** Runs `options` on `agents`, recording raw samples and the live feed. */
export async function runOnAgents(
  agents: AgentRunOptions,
  options: Omit<BenchOptions, 'agents'>,
): Promise<Observed<BenchResult>> {
  const bench = new Bench({ ...options, agents, recordRawLatency: true, intervalMs: 500 });
  const samples: BenchLiveSample[] = [];
  bench.on('interval', (sample) => samples.push(sample));
  const result = await bench.run();
  return { result, samples, raw: bench.rawLatencyUs ?? [] };
}

/** The merged percentiles are exactly those of one histogram of every raw sample. */
export function assertPercentilesOfAllSamples(result: BenchResult, raw: readonly number[]): void {
  const all = new LatencyHistogram();
  for (const us of raw) all.record(us);
  assert.ok(all.count > 0, 'the run recorded latency samples');
  assert.equal(result.latency?.count, all.count);
  assert.equal(result.latency?.p50Ms, all.percentile(50) / 1000);
  assert.equal(result.latency?.p90Ms, all.percentile(90) / 1000);
  assert.equal(result.latency?.p99Ms, all.percentile(99) / 1000);
  assert.equal(result.latency?.p999Ms, all.percentile(99.9) / 1000);
  assert.equal(result.latency?.maxMs, all.max / 1000);
}

/** The live samples add up to the run, and each sample to its agent rows. */
export function assertSamplesAddUp(
  samples: readonly BenchLiveSample[],
  sent: number,
  received: number,
): void {
  let sentSum = 0;
  let receivedSum = 0;
  for (const sample of samples) {
    sentSum += sample.sent;
    receivedSum += sample.received;
    assert.equal(
      sample.sent,
      sample.agents.reduce((sum, row) => sum + row.sent, 0),
    );
    assert.equal(
      sample.received,
      sample.agents.reduce((sum, row) => sum + row.received, 0),
    );
    assert.equal(sample.agents.length, 3);
  }
  assert.equal(sentSum, sent, 'samples: sent');
  assert.equal(receivedSum, received, 'samples: received');
  assert.ok(samples.at(-1)?.agents.every((row) => row.state === 'done'));
}

/** Sums a per-agent figure. */
export function sumOfAgents(
  result: BenchResult,
  pick: (agent: NonNullable<BenchResult['agents']>[number]) => number,
): number {
  return (result.agents ?? []).reduce((sum, agent) => sum + pick(agent), 0);
}

const base = { protocolVersion: 4 as const };

/** 3 agents x 2 publishers x 60 messages at QoS 1. */
export async function publishOnAgents(agents: AgentRunOptions, url: string, clientId: string): Promise<void> {
  const { result, samples, raw } = await runOnAgents(agents, {
    scenario: {
      kind: 'publish',
      clientId,
      clientsPerProcess: 2,
      messagesPerClient: 60,
      qos: 1,
      payloadBytes: 64,
      ratePerClient: 0,
      jitter: 0,
      timestamp: false,
      topic: `${clientId}/{client}`,
      maxInflight: 10,
    },
    connection: { ...base, url },
  });
  assert.equal(result.agents?.length, 3);
  assert.ok(
    result.agents?.every((agent) => agent.state === 'done' && agent.sent === 120 && agent.processes === 1),
  );
  assert.equal(result.aggregate.messagesOk, 360);
  assert.equal(
    result.aggregate.messagesTotal,
    sumOfAgents(result, (agent) => agent.sent),
  );
  assert.equal(result.clients.length, 6);
  // Client rows say where they ran: two on each agent, the whole run's client ids once each.
  for (const agent of result.agents ?? []) {
    assert.equal(result.clients.filter((client) => client.agent === agent.name).length, 2);
  }
  assert.deepEqual(
    result.clients.map((client) => client.clientId).sort(),
    [0, 1, 2].flatMap((p) => [0, 1].map((i) => `${clientId}-${p}-${i}`)).sort(),
  );
  assertPercentilesOfAllSamples(result, raw);
  assertSamplesAddUp(samples, 360, 0);
}

/** Subscribers and publishers on every agent: every subscriber gets every message. */
export async function subscribeWithPublishOnAgents(
  agents: AgentRunOptions,
  url: string,
  clientId: string,
): Promise<BenchResult> {
  const { result, samples, raw } = await runOnAgents(agents, {
    scenario: {
      kind: 'subscribe',
      clientId: `${clientId}-sub`,
      clientsPerProcess: 3,
      topic: `${clientId}/#`,
      qos: 1,
      count: 0,
      abortOnDrops: false,
      idleTimeoutMs: 5000,
    },
    publisher: {
      kind: 'publish',
      clientId: `${clientId}-pub`,
      clientsPerProcess: 1,
      messagesPerClient: 50,
      qos: 1,
      payloadBytes: 64,
      ratePerClient: 200,
      jitter: 0,
      timestamp: true,
      topic: `${clientId}/{client}`,
      maxInflight: 10,
    },
    connection: { ...base, url },
  });
  // 3 subscribers (one per agent), 3 publishers (one per agent) x 50 messages.
  assert.equal(result.delivery?.received, 3 * 3 * 50);
  assert.equal(result.delivery?.missing, 0);
  assert.equal(result.delivery?.streams, 9);
  assert.equal(
    sumOfAgents(result, (agent) => agent.received),
    450,
  );
  assert.equal(
    sumOfAgents(result, (agent) => agent.sent),
    150,
  );
  assertPercentilesOfAllSamples(result, raw);
  assertSamplesAddUp(samples, 150, 450);
  const cross = result.crossAgentLatency;
  assert.ok(cross !== undefined, 'cross-agent latency is reported');
  // Each subscriber hears two publishers on other agents and one on its own.
  assert.equal(cross.count, 300);
  assert.equal(cross.sameAgentCount, 150);
  assert.ok(cross.uncertaintyMs > 0 && cross.uncertaintyMs < 50, `uncertainty ${cross.uncertaintyMs} ms`);
  return result;
}

/** mqtt-stresser workers spread over the agents. */
export async function stressOnAgents(agents: AgentRunOptions, url: string, clientId: string): Promise<void> {
  const { result, samples, raw } = await runOnAgents(agents, {
    scenario: {
      kind: 'stress',
      clientId,
      clientsPerProcess: 3,
      messagesPerClient: 40,
      publisherQos: 1,
      subscriberQos: 1,
      rampupSize: 3,
      rampupDelayMs: 0,
      timeoutMs: 5000,
      constantPayload: true,
      payloadBytes: 50,
      maxInflight: 10,
    },
    connection: { ...base, url },
  });
  assert.equal(result.clients.length, 9);
  assert.equal(result.aggregate.messagesOk, 9 * 40);
  assert.ok(result.clients.every((client) => client.failed !== true));
  assert.ok(result.aggregate.stresser !== undefined, 'mqtt-stresser figures from the merged rows');
  assert.equal(
    sumOfAgents(result, (agent) => agent.received),
    360,
  );
  assert.equal(
    sumOfAgents(result, (agent) => agent.connections),
    18,
  );
  assertPercentilesOfAllSamples(result, raw);
  assertSamplesAddUp(samples, 360, 360);
}

/** Idle connections held by the three agents at once. */
export async function keepaliveOnAgents(
  agents: AgentRunOptions,
  url: string,
  prefix: string,
): Promise<KeepaliveResult> {
  const bench = new KeepaliveBench({
    agents,
    intervalMs: 250,
    load: { url, clients: 90, rate: 300, durationMs: 1500, keepalive: 1, clientIdPrefix: prefix },
  });
  const samples: BenchLiveSample[] = [];
  bench.on('interval', (sample) => samples.push(sample));
  const result = await bench.run();
  assert.equal(result.requested, 90);
  assert.equal(result.connected, 90);
  assert.equal(result.failed, 0);
  assert.equal(result.unexpectedDisconnects, 0);
  assert.equal(result.heldAtOnce, 90, 'all 90 held at one instant');
  assert.equal(result.connectLatency.count, 90);
  assert.ok(result.pingsAnswered > 0 && result.pingsAnswered === result.pingsSent);
  assert.deepEqual(
    result.agents?.map((agent) => [agent.connections, agent.sent, agent.received, agent.state]),
    [
      [30, 30, 30, 'done'],
      [30, 30, 30, 'done'],
      [30, 30, 30, 'done'],
    ],
  );
  assert.equal(result.perClient.length, 90);
  assert.equal(
    samples.reduce((sum, sample) => sum + sample.received, 0),
    90,
  );
  assert.equal(result.timeseries.totalSent, 90);
  return result;
}
