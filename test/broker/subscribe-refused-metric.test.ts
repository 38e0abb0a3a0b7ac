/**
 * `starling_subscriptions_refused_total{reason}`: a subscription filter the broker refuses (a failure code
 * in its SUBACK) is counted once by reason, and a granted one is not. Raw TCP clients provoke every reason;
 * the counts are read in `/metrics`, `subscribeRefused` in `/api/v1/stats`, the broker's public `stats`, and
 * the total in `$SYS/broker/subscriptions/refused`.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import type { SubscribeVerdict } from '../../src/broker/hooks.js';
import { type BrokerHarness, brokerPerTest } from '../support/broker-harness.js';
import { assertCountsByReason } from '../support/metrics-scrape.js';
import { waitFor } from '../support/raw-client.js';
import { RecordingStore } from '../support/recording-store.js';

const broker = brokerPerTest();
const watchers: MqttClient[] = [];
afterEach(async () => {
  for (const watcher of watchers.splice(0)) await watcher.endAsync(true);
});

const SYS_REFUSED = '$SYS/broker/subscriptions/refused';
const ZERO = {
  'invalid-filter': 0,
  'topic-levels': 0,
  'not-supported': 0,
  hook: 0,
  'not-authorized': 0,
  quota: 0,
  'store-unavailable': 0,
};

const deep = (levels: number): string => Array.from({ length: levels }, () => 'l').join('/');

/** The same counts in /metrics, /api/v1/stats, the public stats and (the total) `$SYS`. */
async function assertRefused(h: BrokerHarness, expected: typeof ZERO): Promise<void> {
  await assertCountsByReason(h.broker, 'starling_subscriptions_refused_total', 'subscribeRefused', expected);
  const total = Object.values(expected).reduce((sum, n) => sum + n, 0);
  const watcher = await mqtt.connectAsync(`mqtt://127.0.0.1:${h.port}`, { reconnectPeriod: 0 });
  watchers.push(watcher);
  let latest: string | undefined;
  watcher.on('message', (_topic, payload) => {
    latest = payload.toString();
  });
  await watcher.subscribeAsync(SYS_REFUSED);
  await waitFor(() => latest === String(total), 2000, `${SYS_REFUSED} = ${total} (${latest})`);
}

describe('starling_subscriptions_refused_total', () => {
  it('counts each refused filter once by reason; granted filters are not counted', async () => {
    const h = await broker({
      sysInterval: 0.05,
      maxSubscriptions: 3,
      sharedSubscriptionAvailable: false,
      wildcardSubscriptionAvailable: false,
    });
    const reject: SubscribeVerdict = { action: 'reject', reasonCode: 0x80 };
    await h.broker.addHook({
      id: 'refusals',
      onSubscribe: (_client, subscription) => {
        if (subscription.topicFilter === 'hook/async') return Promise.resolve(reject);
        return subscription.topicFilter === 'hook/sync' ? reject : { action: 'continue' };
      },
      onAclCheck: (_client, topic, access) => {
        if (access !== 'read' || !topic.startsWith('deny/')) return true;
        return topic === 'deny/async' ? Promise.resolve(false) : false;
      },
    });
    const { client } = await h.connect('subscriber', { version: 5 });
    assert.deepEqual(
      await client.subscribe(1, ['a/#/b', deep(201), '$share/g/s', 'w/+', 'hook/sync', 'hook/async']),
      [0x8f, 0x8f, 0x9e, 0xa2, 0x80, 0x80],
    );
    assert.deepEqual(
      await client.subscribe(2, ['deny/sync', 'deny/async', 'ok/1', 'ok/2']),
      [0x87, 0x87, 1, 1],
    );
    // The third fits under maxSubscriptions 3, the fourth does not; a replacement is granted.
    assert.deepEqual(await client.subscribe(3, ['ok/3', 'ok/4', 'ok/1']), [1, 0x97, 1]);
    await assertRefused(h, {
      'invalid-filter': 1,
      'topic-levels': 1,
      'not-supported': 2,
      hook: 2,
      'not-authorized': 2,
      quota: 1,
      'store-unavailable': 0,
    });
  });

  it('counts store-unavailable: a persistent subscription whose commit failed (0x97)', async () => {
    const store = new RecordingStore();
    const h = await broker({ sysInterval: 0.05, storage: store });
    const { client } = await h.connect('keeper', {
      version: 5,
      clean: false,
      properties: { sessionExpiryInterval: 300 },
    });
    store.mode = 'fail';
    assert.deepEqual(await client.subscribe(1, ['kept/#']), [0x97]);
    store.mode = 'sync';
    await assertRefused(h, { ...ZERO, 'store-unavailable': 1 });
  });
});
