/**
 * A Redis outage longer than the node timeout takes no node for dead. Every heartbeat lapses while Redis
 * is away; once it is back, each node has the grace of a node timeout to beat again before anyone judges.
 * The trap is a question asked before the outage: ioredis sends an unanswered command again after the
 * reconnect, and its answer then shows every node without a heartbeat.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRedis } from '../support/redis.js';
import { Client, clusterOf, startNode, startProcessNode, until } from './cluster-harness.js';

describe('cluster: Redis outage', () => {
  test('a node still waking after a Redis outage is not taken for dead by a question asked before it', async () => {
    const redis = await startRedis({ aof: true });
    const judge = await startNode(redis, 'judge', 'outage:');
    const late = await startProcessNode(redis, 'late', 'outage:');
    const clients: Client[] = [];
    try {
      const options = { clientId: 'stays', clean: false, protocolVersion: 5 as const };
      const stays = await Client.connect(late, { ...options, properties: { sessionExpiryInterval: 300 } });
      clients.push(stays);
      await stays.subscribe('outage/#', 1);
      await until(() => (clusterOf(judge.broker)?.table.routesOf('late') ?? 0) === 1, 'the late node route');
      let taken: number | undefined;
      stays.mqtt.once('disconnect', (packet) => {
        taken = packet.reasonCode;
      });
      // Redis stops answering: the judge's next look at the nodes (every 200 ms) waits for an answer.
      process.kill(redis.pid as number, 'SIGSTOP');
      await sleep(400);
      // Then it dies, and stays away past the node timeout (800 ms): every heartbeat lapses.
      await redis.crash();
      late.child.kill('SIGSTOP');
      await sleep(1500);
      await redis.start();
      // The judge reconnects (and gets the answer to its old question) while the late node still sleeps.
      await until(() => clusterOf(judge.broker)?.backend.available === true, 'the judge reconnected', 5000);
      await sleep(250);
      late.child.kill('SIGCONT');
      // Well past the grace: had the late node been taken for dead, it would have been by now.
      await sleep(2500);
      assert.equal(clusterOf(judge.broker)?.stats.nodesAdopted, 0, 'no take-over');
      assert.equal(taken, undefined, 'the late node kept its client');
      const pub = await Client.connect(judge, { clientId: 'outage-pub' });
      clients.push(pub);
      await pub.publish('outage/after', 'still here', 1);
      await until(
        () => stays.payloads().includes('still here'),
        'a message across the nodes after the outage',
      );
    } finally {
      late.child.kill('SIGCONT');
      for (const client of clients) await client.end().catch(() => undefined);
      late.stop();
      await judge.broker.close();
      await redis.stop();
    }
  });
});
