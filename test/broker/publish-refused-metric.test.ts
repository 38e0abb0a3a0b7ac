/**
 * `starling_publish_refused_total{reason}`: a PUBLISH from a client that the broker refuses (not delivered)
 * is counted once by reason, whatever its QoS and protocol version, and an accepted one is not. Raw TCP
 * clients provoke every reason; the counts are read where users read them: `/metrics` on an HTTP
 * listener, `refused` in `/api/v1/stats`, the total in `$SYS/broker/publish/messages/refused`, and the
 * broker's public `stats`.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import type { PublishVerdict } from '../../src/broker/hooks.js';
import type { ListenerAddress } from '../../src/listeners/listener.js';
import type { PublishPacket, QoS } from '../../src/packets/types.js';
import {
  type BrokerHarness,
  brokerPerTest,
  publishPacket,
  rawSubscriber,
} from '../support/broker-harness.js';
import { countsByReason, metricsText } from '../support/metrics-scrape.js';
import { type RawClient, waitFor } from '../support/raw-client.js';
import { RecordingStore } from '../support/recording-store.js';

/** A broker per test, closed after it. */
const broker = brokerPerTest();
const watchers: MqttClient[] = [];
afterEach(async () => {
  for (const watcher of watchers.splice(0)) await watcher.endAsync(true);
});

/** $SYS every 50 ms, so the total shows up quickly. */
const SYS_INTERVAL = 0.05;
const SYS_REFUSED = '$SYS/broker/publish/messages/refused';

const ZERO = { 'sys-topic': 0, 'topic-levels': 0, 'store-unavailable': 0, hook: 0, 'not-authorized': 0 };

const deep = (levels: number): string => Array.from({ length: levels }, () => 'l').join('/');

const portOf = (address: ListenerAddress): number => {
  assert.ok(typeof address !== 'string');
  return address.port;
};

/** A PUBLISH of `qos` with packet identifier `id` (none for QoS 0). */
function publish(topic: string, qos: QoS, id: number): PublishPacket {
  return publishPacket(topic, 'x', qos, qos === 0 ? undefined : id);
}

/** PINGREQ then PINGRESP: everything the client sent before was handled (the broker reads in order). */
async function handled(client: RawClient): Promise<void> {
  client.send({ type: 'pingreq' });
  await client.expectPacket('pingresp');
}

/** The HTTP listener and a `$SYS` watcher of the refused total on the harness's broker. */
async function observe(
  h: BrokerHarness,
): Promise<{ httpPort: number; sysRefused: () => string | undefined }> {
  const httpPort = portOf(await h.broker.addListener({ type: 'http', host: '127.0.0.1', port: 0 }));
  const watcher = await mqtt.connectAsync(`mqtt://127.0.0.1:${h.port}`, {
    clientId: 'sys-watch',
    reconnectPeriod: 0,
  });
  watchers.push(watcher);
  watcher.on('error', () => {});
  let latest: string | undefined;
  watcher.on('message', (_topic, payload) => {
    latest = payload.toString();
  });
  await watcher.subscribeAsync(SYS_REFUSED);
  await waitFor(() => latest === '0', 2000, `${SYS_REFUSED} = 0 at first`);
  return { httpPort, sysRefused: () => latest };
}

/** `starling_publish_refused_total` samples by reason, its HELP and TYPE checked. */
async function scrapeRefused(httpPort: number): Promise<Record<string, number>> {
  const text = await metricsText(`http://127.0.0.1:${httpPort}`);
  assert.match(
    text,
    /^# HELP starling_publish_refused_total PUBLISH packets refused \(not delivered\), by reason\.$/m,
  );
  return countsByReason(text, 'starling_publish_refused_total');
}

/** The same counts in /metrics, /api/v1/stats, the public stats and (the total) `$SYS`, which stays put. */
async function assertRefused(
  h: BrokerHarness,
  seen: { httpPort: number; sysRefused: () => string | undefined },
  expected: typeof ZERO,
): Promise<void> {
  const total = Object.values(expected).reduce((sum, n) => sum + n, 0);
  assert.deepEqual(await scrapeRefused(seen.httpPort), expected, '/metrics, zeros included');
  const res = await fetch(`http://127.0.0.1:${seen.httpPort}/api/v1/stats`);
  assert.equal(res.status, 200);
  assert.deepEqual(((await res.json()) as { refused: unknown }).refused, expected, '/api/v1/stats');
  assert.deepEqual({ ...h.broker.stats.refused }, expected, 'broker.stats.refused');
  assert.equal(h.broker.stats.refusedTotal, total, 'broker.stats.refusedTotal');
  await waitFor(() => seen.sysRefused() === String(total), 2000, `${SYS_REFUSED} = ${total}`);
  // A few more intervals: nothing counted late (an async verdict counted twice would show here).
  await new Promise((resolve) => setTimeout(resolve, SYS_INTERVAL * 1000 * 4));
  assert.equal(seen.sysRefused(), String(total), `${SYS_REFUSED} still ${total}`);
}

describe('starling_publish_refused_total', () => {
  it('counts each refused PUBLISH once by reason, QoS 0 included, v5 and v3.1.1; accepted ones are not counted', async () => {
    const h = await broker({ sysInterval: SYS_INTERVAL });
    const reject: PublishVerdict = { action: 'reject', reasonCode: 0x99 };
    await h.broker.addHook({
      id: 'refusals',
      onPublish: (_client, packet) => {
        if (packet.topic === 'hook/async') return Promise.resolve(reject);
        return packet.topic.startsWith('hook/') ? reject : { action: 'continue' };
      },
      onAclCheck: (_client, topic, access) => {
        if (access !== 'write' || !topic.startsWith('deny/')) return true;
        return topic === 'deny/async' ? Promise.resolve(false) : false;
      },
    });
    const seen = await observe(h);
    await assertRefused(h, seen, ZERO);
    const sub = await rawSubscriber(h, 'everything', '#', 0, 5);
    const { client: v5 } = await h.connect('pub5', { version: 5 });
    const { client: v3 } = await h.connect('pub3', { version: 4 });

    // sys-topic: 2
    v5.send(publish('$SYS/broker/forged', 1, 1));
    const sysRefusal = await v5.expectPacket('puback');
    assert.deepEqual([sysRefusal.packetId, sysRefusal.reasonCode], [1, 0x87]);
    v3.send(publish('$SYS/forged', 0, 0));
    // topic-levels: 2
    v5.send(publish(deep(201), 2, 2));
    assert.equal((await v5.expectPacket('pubrec')).reasonCode, 0x90);
    v3.send(publish(deep(201), 0, 0));
    // hook: 3 (sync and async verdicts)
    v5.send(publish('hook/sync', 1, 3));
    assert.equal((await v5.expectPacket('puback')).reasonCode, 0x99);
    v5.send(publish('hook/async', 0, 0));
    v3.send(publish('hook/sync', 2, 4));
    assert.equal((await v3.expectPacket('pubrec')).packetId, 4, 'v3 cannot be told no: PUBREC');
    v3.send({ type: 'pubrel', packetId: 4 });
    assert.equal((await v3.expectPacket('pubcomp')).packetId, 4);
    // not-authorized: 3 (sync and async ACL answers)
    v5.send(publish('deny/sync', 1, 5));
    assert.equal((await v5.expectPacket('puback')).reasonCode, 0x87);
    v5.send(publish('deny/async', 2, 6));
    assert.equal((await v5.expectPacket('pubrec')).reasonCode, 0x87);
    v3.send(publish('deny/async', 0, 0));
    // Accepted, every QoS: not counted.
    v5.send(publish('ok/0', 0, 0));
    v5.send(publish('ok/1', 1, 7));
    assert.equal((await v5.expectPacket('puback')).reasonCode ?? 0, 0);
    v3.send(publish('ok/2', 2, 8));
    assert.equal((await v3.expectPacket('pubrec')).packetId, 8);
    v3.send({ type: 'pubrel', packetId: 8 });
    await v3.expectPacket('pubcomp');
    await handled(v5);
    await handled(v3);

    const delivered: string[] = [];
    for (let i = 0; i < 3; i++) delivered.push((await sub.expectPacket('publish')).topic);
    assert.deepEqual(delivered.sort(), ['ok/0', 'ok/1', 'ok/2'], 'only the accepted ones are delivered');
    await sub.expectNothing(100);
    await assertRefused(h, seen, {
      ...ZERO,
      'sys-topic': 2,
      'topic-levels': 2,
      hook: 3,
      'not-authorized': 3,
    });
  });

  it('counts store-unavailable: QoS 1/2 refused while the store cannot commit (v5 0x97, v3 closed), not what was routed', async () => {
    const store = new RecordingStore();
    const h = await broker({ sysInterval: SYS_INTERVAL, storage: store });
    const seen = await observe(h);
    // A persistent session offline, so a QoS 1 message for it needs a commit.
    const off = await rawSubscriber(h, 'off', 'f/#', 1, 5, {
      clean: false,
      properties: { sessionExpiryInterval: 300 },
    });
    off.send({ type: 'disconnect', reasonCode: 0 });
    await waitFor(() => h.engine.sessions.get('off')?.link === undefined);
    const live = await rawSubscriber(h, 'live', 'f/#', 0, 5);
    store.mode = 'fail';
    const { client: v5 } = await h.connect('pub5', { version: 5 });
    v5.send(publish('f/1', 1, 1));
    assert.equal((await v5.expectPacket('puback')).reasonCode, 0x97, 'held for the failed commit');
    assert.equal((await live.expectPacket('publish')).topic, 'f/1', 'routed before the commit failed');
    await assertRefused(h, seen, ZERO);
    v5.send(publish('f/2', 1, 2));
    assert.equal((await v5.expectPacket('puback')).reasonCode, 0x97, 'refused up front while failing');
    v5.send(publish('f/3', 2, 3));
    assert.equal((await v5.expectPacket('pubrec')).reasonCode, 0x97);
    v5.send(publish('f/4', 0, 0));
    assert.equal((await live.expectPacket('publish')).topic, 'f/4', 'QoS 0 flows, not counted');
    const { client: v3 } = await h.connect('pub3', { version: 4 });
    v3.send(publish('f/5', 1, 5));
    await v3.expectClosed();
    await live.expectNothing(100);
    await assertRefused(h, seen, { ...ZERO, 'store-unavailable': 3 });
  });
});
