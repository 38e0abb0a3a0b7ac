import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Bench, type BenchLiveSample, type BenchOptions } from '../../src/bench/bench.js';
import { KeepaliveBench } from '../../src/bench/keepalive-run.js';
import { Broker } from '../../src/index.js';
import { collect, startCli } from '../support/cli.js';
import { type AgentProcess, startAgent } from './agent-fixtures.js';

const TOKEN = 'starling-fault-token';

/** By default a publish run long enough to be interrupted: 2 clients per process, 200 messages at 40/s. */
function slowPublish(url: string, clientId: string, messages = 200, rate = 40): Omit<BenchOptions, 'agents'> {
  return {
    scenario: {
      kind: 'publish',
      clientId,
      clientsPerProcess: 2,
      messagesPerClient: messages,
      qos: 1,
      payloadBytes: 32,
      ratePerClient: rate,
      jitter: 0,
      timestamp: false,
      topic: `${clientId}/{client}`,
      maxInflight: 10,
    },
    connection: { url, protocolVersion: 4 },
    intervalMs: 250,
  };
}

/** Resolves with the first interval sample `test` accepts. */
function sampleWhere(bench: Bench, test: (sample: BenchLiveSample) => boolean): Promise<BenchLiveSample> {
  return new Promise((resolve) => {
    const listener = (sample: BenchLiveSample): void => {
      if (!test(sample)) return;
      bench.off('interval', listener);
      resolve(sample);
    };
    bench.on('interval', listener);
  });
}

describe('agents: faults', { timeout: 120_000 }, () => {
  let broker: Broker;
  let url: string;
  let steady: AgentProcess[];
  before(async () => {
    broker = new Broker({ sysInterval: 0 });
    const address = await broker.listen({ host: '127.0.0.1', port: 0 });
    url = `mqtt://127.0.0.1:${address.port}`;
    steady = await Promise.all([
      startAgent({ host: '127.0.0.1', token: TOKEN }),
      startAgent({ host: '127.0.0.2', token: TOKEN }),
    ]);
  });
  after(async () => {
    await Promise.all(steady.map((agent) => agent.stop()));
    await broker.close();
  });

  it('a wrong or missing token is refused, and the agent still serves the right one', async () => {
    const endpoints = [steady[0]!.endpoint];
    const wrong = new Bench({ ...slowPublish(url, 'tok'), agents: { endpoints, token: 'not-the-token' } });
    await assert.rejects(wrong.run(), { name: 'BenchSetupError', message: /refused the token/ });
    const none = new Bench({ ...slowPublish(url, 'tok'), agents: { endpoints } });
    await assert.rejects(none.run(), { name: 'BenchSetupError', message: /refused the token/ });
    assert.match(steady[0]!.stderr(), /refused .*wrong or missing token/);
    const right = new Bench({ ...slowPublish(url, 'tok', 5, 0), agents: { endpoints, token: TOKEN } });
    const result = await right.run();
    assert.equal(result.aggregate.messagesOk, 10);
  });

  it('an agent refuses a part beyond its open-file limit before anything starts', async () => {
    const limited = await startAgent({ host: '127.0.0.3', token: TOKEN, openFiles: 200 });
    try {
      const bench = new KeepaliveBench({
        agents: { endpoints: [steady[0]!.endpoint, limited.endpoint], token: TOKEN },
        load: { url, clients: 400, rate: 1000, durationMs: 100, keepalive: 10 },
      });
      await assert.rejects(bench.run(), (error: Error) => {
        assert.match(
          error.message,
          new RegExp(`agent ${limited.endpoint.replaceAll('.', '\\.')} refused its part`),
        );
        assert.match(error.message, /200 connections.*ulimit -n here is 200/);
        return true;
      });
      // The other agent had prepared its part; it was called off and is free at once.
      const small = new KeepaliveBench({
        agents: { endpoints: [steady[0]!.endpoint], token: TOKEN },
        load: { url, clients: 5, rate: 500, durationMs: 50, keepalive: 10 },
      });
      assert.equal((await small.run()).connected, 5);
    } finally {
      await limited.stop();
    }
  });

  it('a killed agent is reported with what it had sent; the run goes on without it', async () => {
    const doomed = await startAgent({ host: '127.0.0.3', token: TOKEN });
    const bench = new Bench({
      ...slowPublish(url, 'kill'),
      agents: { endpoints: [...steady.map((agent) => agent.endpoint), doomed.endpoint], token: TOKEN },
    });
    const run = bench.run();
    // Once the doomed agent has published something, it dies without a word.
    await sampleWhere(bench, (sample) => (sample.agents[2]?.sent ?? 0) > 0);
    doomed.child.kill('SIGKILL');
    const lostSample = sampleWhere(bench, (sample) => sample.agents[2]?.state === 'lost');
    const result = await run;
    await lostSample;
    await doomed.stop();
    const [first, second, lost] = result.agents ?? [];
    assert.equal(lost?.state, 'lost');
    assert.match(lost?.lostReason ?? '', /connection (closed|error)/);
    assert.ok((lost?.sent ?? 0) > 0 && (lost?.sent ?? 0) < 400, `lost agent sent ${lost?.sent}`);
    const row = result.clients.find((client) => client.agent === lost?.name);
    assert.ok(row?.failed === true);
    assert.match(
      row?.error ?? '',
      new RegExp(`agent lost after [\\d.]+ s .*it had sent ${lost?.sent} and received 0 messages`),
    );
    // The others ran to the end.
    assert.equal(first?.sent, 400);
    assert.equal(second?.sent, 400);
    assert.equal(first?.state, 'done');
    assert.match(result.config.options?.stopReason?.toString() ?? '', /1 agent\(s\) lost/);
  });

  it('with --on-agent-loss stop, a lost agent stops the whole run', async () => {
    const doomed = await startAgent({ host: '127.0.0.3', token: TOKEN });
    const bench = new Bench({
      ...slowPublish(url, 'stop'),
      agents: {
        endpoints: [steady[0]!.endpoint, doomed.endpoint],
        token: TOKEN,
        onAgentLoss: 'stop',
      },
    });
    const run = bench.run();
    await sampleWhere(bench, (sample) => (sample.agents[1]?.sent ?? 0) > 0);
    doomed.child.kill('SIGKILL');
    const result = await run;
    await doomed.stop();
    assert.match(bench.stopReason ?? '', /agent .* lost/);
    assert.equal(result.agents?.[1]?.state, 'lost');
    assert.equal(result.agents?.[0]?.state, 'done');
    assert.ok((result.agents?.[0]?.sent ?? 400) < 400, 'the surviving agent was stopped early');
  });

  it('Ctrl-C on the controller stops every agent and prints the partial results', async () => {
    const endpoints = steady.map((agent) => agent.endpoint).join(',');
    const args = ['bench', 'publish', '--url', url, '--agents', endpoints, '--token', TOKEN];
    const controller = startCli([...args, '--clients', '1', '-n', '10000', '-T', '50'], {
      timeoutMs: 60_000,
    });
    const finished = collect(controller);
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      controller.stderr?.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (/started 2 agents at one instant/.test(stderr)) resolve();
      });
      controller.once('exit', () => reject(new Error(`the controller ended early: ${stderr}`)));
    });
    await new Promise((resolve) => setTimeout(resolve, 800));
    controller.kill('SIGINT');
    const run = await finished;
    assert.equal(run.code, 130, run.stderr);
    assert.match(run.stdout, /^Interrupted: partial results$/m);
    assert.match(run.stdout, /^Agents \(2\):$/m);
    for (const agent of steady) assert.match(agent.stderr(), /stopping \(interrupted \(SIGINT\)\)/);
    // Both agents are free again at once.
    const again = await collect(
      startCli([...args, '--clients', '1', '-n', '3', '--quiet'], { timeoutMs: 60_000 }),
    );
    assert.equal(again.code, 0, again.stderr);
  });
});
