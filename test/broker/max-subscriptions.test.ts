/**
 * `maxSubscriptions` (EMQX's `max_subscriptions`): a session holds at most that many subscriptions; a new
 * filter beyond it is refused with SUBACK 0x97 Quota exceeded (v3.1.1: 0x80) on its own, while the other
 * filters of the packet and replacements of filters the session holds are taken. Raw TCP clients read the
 * codes as sent; MQTT.js sees the refusal as a client would.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import mqtt from 'mqtt';
import { loadConfig } from '../../src/config/load.js';
import { Broker } from '../../src/index.js';
import { brokerPerTest, publishPacket } from '../support/broker-harness.js';

const broker = brokerPerTest();

describe('maxSubscriptions', () => {
  it('refuses new filters past the limit with 0x97 (v5) or 0x80 (v3.1.1), each on its own', async () => {
    const h = await broker({ maxSubscriptions: 2 });
    for (const [version, refusal] of [
      [5, 0x97],
      [4, 0x80],
    ] as const) {
      const { client } = await h.connect(`s${version}`, { version });
      assert.deepEqual(
        await client.subscribe(1, ['a', { topicFilter: 'b', qos: 0 }, 'c', '$share/g/d']),
        [1, 0, refusal, refusal],
        `v${version}`,
      );
      // A replacement of a filter held is not a new subscription; a new one still is refused.
      assert.deepEqual(
        await client.subscribe(2, ['b', { topicFilter: 'e', qos: 0 }]),
        [1, refusal],
        `v${version}`,
      );
      // After an unsubscribe there is room again.
      client.send({ type: 'unsubscribe', packetId: 3, topicFilters: ['a'] });
      await client.expectPacket('unsuback');
      assert.deepEqual(await client.subscribe(4, [{ topicFilter: 'e', qos: 0 }]), [0], `v${version}`);
      assert.deepEqual(
        [...(h.engine.sessions.get(`s${version}`)?.subscriptions.keys() ?? [])].sort(),
        ['b', 'e'],
        `v${version}: what the session holds`,
      );
      // The refused filters route nothing to it.
      const { client: pub } = await h.connect(`p${version}`, { version });
      pub.send(publishPacket('c', 'not for s'));
      pub.send(publishPacket('e', 'for s'));
      assert.equal((await client.expectPacket('publish')).topic, 'e');
      await client.expectNothing(100);
    }
  });

  it('is off by default: a session may hold many', async () => {
    const h = await broker();
    const { client } = await h.connect('many', { version: 5 });
    const subscriptions = Array.from({ length: 500 }, (_, i) => ({ topicFilter: `t/${i}`, qos: 0 as const }));
    const codes = await client.subscribe(1, subscriptions);
    assert.equal(codes.length, 500);
    assert.ok(
      codes.every((c) => c === 0),
      'all granted',
    );
  });

  it('MQTT.js: the refusal rejects the subscribe, the filter within the limit still routes', async () => {
    const h = await broker({ maxSubscriptions: 1 });
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${h.port}`, {
      protocolVersion: 5,
      reconnectPeriod: 0,
    });
    try {
      await assert.rejects(client.subscribeAsync({ 'x/1': { qos: 1 }, 'x/2': { qos: 1 } }), /Quota exceeded/);
      const got: string[] = [];
      client.on('message', (topic) => got.push(topic));
      await client.publishAsync('x/2', 'refused filter', { qos: 1 });
      await client.publishAsync('x/1', 'granted filter', { qos: 1 });
      const deadline = Date.now() + 5000;
      while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(got, ['x/1']);
    } finally {
      await client.endAsync();
    }
  });

  it('is a setting: --max-subscriptions, STARLING_MAX_SUBSCRIPTIONS, limits.maxSubscriptions; negatives are refused', () => {
    assert.equal(loadConfig({ argv: ['--max-subscriptions', '50'], env: {} }).broker.maxSubscriptions, 50);
    assert.equal(
      loadConfig({ argv: [], env: { STARLING_MAX_SUBSCRIPTIONS: '7' } }).broker.maxSubscriptions,
      7,
    );
    assert.equal(
      loadConfig({ argv: [], env: {} }).broker.maxSubscriptions,
      undefined,
      'the broker default (0)',
    );
    assert.throws(
      () => loadConfig({ argv: ['--max-subscriptions', 'lots'], env: {} }),
      /--max-subscriptions must be an integer, got 'lots'/,
    );
    assert.throws(() => new Broker({ maxSubscriptions: -1 }), /maxSubscriptions must be an integer from 0/);
  });
});
