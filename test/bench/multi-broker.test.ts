import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Bench } from '../../src/bench/bench.js';
import { runCompare } from '../../src/bench/compare.js';
import { Broker } from '../../src/index.js';

/** A Starling broker that remembers the client ids it saw connect. */
async function startStarling(): Promise<{ broker: Broker; url: string; clientIds: string[] }> {
  const broker = new Broker({ sysInterval: 0 });
  const clientIds: string[] = [];
  await broker.addHook({ onConnect: (_client, connect) => void clientIds.push(connect.clientId) });
  const address = await broker.listen({ host: '127.0.0.1', port: 0 });
  return { broker, url: `mqtt://127.0.0.1:${address.port}`, clientIds };
}

describe('bench runs over several processes and brokers', { timeout: 60_000 }, () => {
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

  it('publish with two URLs over two processes: client n goes to broker n mod 2', async () => {
    a.clientIds.length = 0;
    b.clientIds.length = 0;
    const bench = new Bench({
      scenario: {
        kind: 'publish',
        clientId: 'mb',
        clientsPerProcess: 3,
        messagesPerClient: 5,
        qos: 1,
        payloadBytes: 20,
        ratePerClient: 0,
        jitter: 0,
        timestamp: false,
        topic: 'mb/{client}',
        maxInflight: 5,
      },
      connection: { url: a.url, urls: [a.url, b.url], protocolVersion: 4 },
      processes: 2,
    });
    const result = await bench.run();
    assert.equal(result.aggregate.messagesOk, 30);
    assert.equal(result.config.options?.brokers, `${a.url},${b.url}`);
    const bench_ = (ids: string[]): string[] =>
      ids.filter((id) => id.startsWith('mb-') && !id.endsWith('-probe')).sort();
    // Process p, client i is client number 3p + i of the run.
    assert.deepEqual(bench_(a.clientIds), ['mb-0-0', 'mb-0-2', 'mb-1-1']);
    assert.deepEqual(bench_(b.clientIds), ['mb-0-1', 'mb-1-0', 'mb-1-2']);
  });

  it('compare with -P 2: every process runs the scenario and the row counts all of them', async () => {
    const outcome = await runCompare({
      brokers: [{ name: 'a', url: a.url }],
      scenario: 'stress',
      clients: 3,
      messages: 20,
      processes: 2,
    });
    assert.equal(outcome.anyFailed, false);
    const result = outcome.results[0]!;
    assert.equal(result.clients.length, 6);
    assert.equal(result.aggregate.messagesOk, 6 * 20);
    assert.equal(result.generator?.processes, 3);
    assert.ok(Number.isFinite(outcome.rows[0]?.p99Ms));
  });
});
