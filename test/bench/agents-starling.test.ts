import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type AgentRunOptions, Bench } from '../../src/bench/bench.js';
import { parseBenchResult } from '../../src/bench/bench-result-json.js';
import { runCompare } from '../../src/bench/compare.js';
import { PayloadWriter } from '../../src/bench/payload.js';
import { Broker } from '../../src/index.js';
import { runCli } from '../support/cli.js';
import { type AgentProcess, ANCHOR_SLACK_MS, startThreeAgents } from './agent-fixtures.js';
import {
  keepaliveOnAgents,
  publishOnAgents,
  stressOnAgents,
  subscribeWithPublishOnAgents,
} from './agent-scenarios.js';

const TOKEN = 'starling-test-token';
/** The clock of the agent on 127.0.0.2 runs this far ahead (a testing option of the agent). */
const SKEW_MS = 250;

const scratch = mkdtempSync(join(tmpdir(), 'starling-agents-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('three agents against Starling', { timeout: 120_000 }, () => {
  let broker: Broker;
  let url: string;
  let agents: AgentProcess[];
  let options: AgentRunOptions;
  before(async () => {
    broker = new Broker({ sysInterval: 0 });
    const address = await broker.listen({ host: '127.0.0.1', port: 0 });
    url = `mqtt://127.0.0.1:${address.port}`;
    agents = await startThreeAgents(TOKEN, SKEW_MS);
    options = { endpoints: agents.map((agent) => agent.endpoint), token: TOKEN };
  });
  after(async () => {
    await Promise.all(agents.map((agent) => agent.stop()));
    await broker.close();
  });

  it('publish: counts are the sum of the parts, percentiles those of all samples', async () => {
    await publishOnAgents(options, url, 'ag-pub');
  });

  it('subscribe --publish: the injected clock offset is found within its uncertainty and removed', async () => {
    const result = await subscribeWithPublishOnAgents(options, url, 'ag-e2e');
    const [first, skewed, third] = result.agents ?? [];
    assert.ok(first && skewed && third);
    // The agents share this machine's clock, so every offset but the injected one is zero, up to where each
    // process anchored its clock at start (seen: 1.3 ms).
    for (const [agent, truth] of [
      [first, 0],
      [skewed, SKEW_MS],
      [third, 0],
    ] as const) {
      assert.ok(
        Math.abs(agent.clockOffsetMs - truth) <= agent.clockUncertaintyMs + ANCHOR_SLACK_MS,
        `${agent.name}: offset ${agent.clockOffsetMs} +- ${agent.clockUncertaintyMs} ms, truth ${truth} ms`,
      );
    }
    // Uncorrected, half the messages between the skewed agent and the others would read 250 ms more and
    // the other half 250 ms less (clamped to 0); corrected, loopback latencies stay far below the skew.
    assert.ok(result.crossAgentLatency !== undefined);
    assert.ok(
      result.crossAgentLatency.maxMs < SKEW_MS / 2,
      `cross-agent max ${result.crossAgentLatency.maxMs} ms`,
    );
    assert.ok(result.latency !== undefined && result.latency !== null && result.latency.maxMs < SKEW_MS / 2);
  });

  it('-P 6 on three agents: each agent forks two worker processes of its own', async () => {
    const bench = new Bench({
      scenario: {
        kind: 'publish',
        clientId: 'ag-p6',
        clientsPerProcess: 2,
        messagesPerClient: 15,
        qos: 1,
        payloadBytes: 20,
        ratePerClient: 0,
        jitter: 0,
        timestamp: false,
        topic: 'ag-p6/{client}',
        maxInflight: 5,
      },
      connection: { url, protocolVersion: 5 },
      processes: 6,
      agents: options,
    });
    const result = await bench.run();
    assert.equal(result.aggregate.messagesOk, 6 * 2 * 15);
    assert.deepEqual(
      result.agents?.map((agent) => [agent.processes, agent.connections, agent.sent]),
      [
        [3, 4, 60],
        [3, 4, 60],
        [3, 4, 60],
      ],
    );
    // Processes 0-1 ran on the first agent, 2-3 on the second, 4-5 on the third.
    for (const client of result.clients) {
      const process = Number(client.clientId.split('-')[2]);
      assert.equal(client.agent, options.endpoints[Math.floor(process / 2)]);
    }
    assert.equal(result.generator?.processes, 10, 'the controller and three agents with two workers each');
  });

  it("subscribe alone: the controller says when every agent's subscribers are subscribed", async () => {
    const bench = new Bench({
      scenario: {
        kind: 'subscribe',
        clientId: 'ag-sub-only',
        clientsPerProcess: 2,
        topic: 'ag-sub-only/#',
        qos: 0,
        count: 1,
        abortOnDrops: false,
        idleTimeoutMs: 5000,
      },
      connection: { url, protocolVersion: 5 },
      durationMs: 20_000,
      agents: options,
    });
    const subscribed = new Promise<string>((resolve) =>
      bench.on('stage', (stage) => {
        if (stage.startsWith('subscribed:')) resolve(stage);
      }),
    );
    const run = bench.run();
    assert.equal(await subscribed, 'subscribed: 6 subscriber(s) on ag-sub-only/#');
    // Nothing sent from now on is lost: one bench message ends every subscriber's --count 1.
    broker.publish('ag-sub-only/x', new PayloadWriter('outside').write(0, 30), { qos: 0 });
    const result = await run;
    assert.equal(result.delivery?.received, 6);
    assert.deepEqual(
      result.agents?.map((agent) => agent.received),
      [2, 2, 2],
    );
  });

  it('stress: workers spread over the agents, merged like one machine', async () => {
    await stressOnAgents(options, url, 'ag-stress');
  });

  it('keepalive: the three agents hold their connections at once', async () => {
    const result = await keepaliveOnAgents(options, url, 'ag-ka-');
    assert.equal(result.processes, 4, 'three agents and the controller');
  });

  it('compare runs each broker on the agents', async () => {
    const outcome = await runCompare({
      brokers: [{ name: 'starling', url }],
      scenario: 'fan-out',
      clients: 4,
      messages: 25,
      agents: options,
    });
    assert.equal(outcome.anyFailed, false);
    const result = outcome.results[0]!;
    // One fan-out group per process, one process per agent: 3 publishers to 4 subscribers each.
    assert.equal(result.aggregate.messagesOk, 3 * 4 * 25);
    assert.deepEqual(
      result.agents?.map((agent) => agent.received),
      [100, 100, 100],
    );
    assert.ok(Number.isFinite(outcome.rows[0]?.p99Ms));
  });

  it('the CLI prints the agents table and writes it to --json, --csv and --html', async () => {
    const json = join(scratch, 'agents.json');
    const csv = join(scratch, 'agents.csv');
    const html = join(scratch, 'agents.html');
    const run = await runCli(
      [
        'bench',
        'publish',
        '--url',
        url,
        '--agents',
        options.endpoints.join(','),
        '--token',
        TOKEN,
        '-n',
        '20',
        '--clients',
        '2',
        '--quiet',
        '--json',
        json,
        '--csv',
        csv,
        '--html',
        html,
      ],
      { timeoutMs: 60_000 },
    );
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^Agents \(3\):$/m);
    for (const endpoint of options.endpoints) {
      assert.match(run.stdout, new RegExp(`^  ${endpoint.replaceAll('.', '\\.')} +done +1 +2 +40 `, 'm'));
    }
    const result = parseBenchResult(readFileSync(json, 'utf8'));
    assert.equal(result.agents?.length, 3);
    assert.equal(result.config.options?.agents, 3);
    assert.equal(result.aggregate.messagesOk, 120);
    const lines = readFileSync(csv, 'utf8').trim().split('\r\n');
    assert.match(lines[0] ?? '', /,agent$/);
    assert.equal(lines.length, 7);
    assert.ok(
      lines.slice(1).every((line) => options.endpoints.some((endpoint) => line.endsWith(`,${endpoint}`))),
    );
    assert.match(readFileSync(html, 'utf8'), /<h2>Agents<\/h2>/);
  });
});
