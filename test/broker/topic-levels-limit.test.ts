/**
 * `maxTopicLevels` (default 200, as Mosquitto's limit since CVE-2019-11779): a PUBLISH, a subscription
 * filter or a will topic deeper than that is refused, each in the way its packet can say no; at the limit
 * it is served; 0 lifts the limit. Raw TCP clients, so the reason codes are read as sent.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { Broker } from '../../src/index.js';
import { hasMoreLevelsThan } from '../../src/packets/index.js';
import { brokerPerTest } from '../support/broker-harness.js';

/** A topic of `levels` levels. */
const deep = (levels: number, filler = 'l'): string => Array.from({ length: levels }, () => filler).join('/');

/** A broker per test, closed after it. */
const broker = brokerPerTest();

describe('maxTopicLevels', () => {
  it('counts levels, not bytes', () => {
    assert.equal(hasMoreLevelsThan(deep(200), 200), false);
    assert.equal(hasMoreLevelsThan(deep(201), 200), true);
    assert.equal(hasMoreLevelsThan('/'.repeat(199), 200), false, '199 slashes: 200 empty levels');
    assert.equal(hasMoreLevelsThan('/'.repeat(200), 200), true);
    assert.equal(hasMoreLevelsThan(deep(100_000), 0), false, '0: no limit');
    assert.equal(hasMoreLevelsThan('a'.repeat(5000), 3), false);
  });

  it('a PUBLISH deeper than the limit: v5 PUBACK 0x90 and not delivered; v3 acknowledged and dropped; at the limit delivered', async () => {
    const h = await broker();
    const { client: sub } = await h.connect('sub', { version: 5 });
    await sub.subscribe(1, ['#']);
    const { client: v5 } = await h.connect('pub5', { version: 5 });
    const payload = Buffer.from('x');
    v5.send({ type: 'publish', topic: deep(201), payload, qos: 1, packetId: 7, retain: true, dup: false });
    const refused = await v5.expectPacket('puback');
    assert.deepEqual([refused.packetId, refused.reasonCode], [7, 0x90]);
    const { client: v3 } = await h.connect('pub3');
    v3.send({ type: 'publish', topic: deep(250), payload, qos: 1, packetId: 8, retain: true, dup: false });
    assert.equal((await v3.expectPacket('puback')).packetId, 8, 'v3 cannot be told no: acknowledged');
    await sub.expectNothing(150);
    assert.equal(h.engine.router.count, 0, 'no retained message kept');
    v5.send({ type: 'publish', topic: deep(200), payload, qos: 1, packetId: 9, retain: false, dup: false });
    assert.equal((await v5.expectPacket('puback')).reasonCode ?? 0, 0);
    assert.equal((await sub.expectPacket('publish')).topic, deep(200));
  });

  it('a filter deeper than the limit: SUBACK 0x8F (v5) or 0x80 (v3.1.1) for it alone', async () => {
    const h = await broker({ maxTopicLevels: 3 });
    for (const [version, refusal] of [
      [5, 0x8f],
      [4, 0x80],
    ] as const) {
      const { client } = await h.connect(`s${version}`, { version });
      assert.deepEqual(
        await client.subscribe(1, ['a/b/c/d', 'a/+/#', '$share/g/a/b/c/+']),
        [refusal, 1, refusal],
        `v${version}`,
      );
    }
  });

  it('a will topic deeper than the limit: v5 CONNACK 0x90; with 0 there is no limit', async () => {
    const h = await broker({ maxTopicLevels: 4 });
    const client = await h.open(5);
    client.send({
      type: 'connect',
      protocolName: 'MQTT',
      protocolVersion: 5,
      clean: true,
      keepalive: 0,
      clientId: 'willing',
      will: { topic: deep(5), payload: Buffer.from('bye'), qos: 0, retain: false },
    });
    assert.equal((await client.expectPacket('connack')).reasonCode, 0x90);
    await client.expectClosed();
    await h.stop();
    const open = await broker({ maxTopicLevels: 0 });
    const { client: pub } = await open.connect('p', { version: 5 });
    pub.send({
      type: 'publish',
      topic: deep(5000),
      payload: Buffer.from('x'),
      qos: 1,
      packetId: 1,
      retain: false,
      dup: false,
    });
    assert.equal((await pub.expectPacket('puback')).reasonCode ?? 0, 0);
  });

  it('is a setting: --max-topic-levels, STARLING_MAX_TOPIC_LEVELS, limits.maxTopicLevels; out of range is refused', () => {
    assert.equal(loadConfig({ argv: ['--max-topic-levels', '12'], env: {} }).broker.maxTopicLevels, 12);
    assert.equal(loadConfig({ argv: [], env: { STARLING_MAX_TOPIC_LEVELS: '0' } }).broker.maxTopicLevels, 0);
    const dir = mkdtempSync(join(tmpdir(), 'starling-levels-'));
    try {
      writeFileSync(join(dir, 'starling.yaml'), 'limits:\n  maxTopicLevels: 40\n');
      const config = loadConfig({ argv: ['--config', 'starling.yaml'], env: {}, cwd: dir });
      assert.equal(config.broker.maxTopicLevels, 40);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    assert.throws(
      () => new Broker({ maxTopicLevels: 70_000 }),
      /maxTopicLevels must be an integer from 0 to 65535/,
    );
  });
});
