/**
 * The SQLite store's free-space floor, on the real disk of the test's data directory: a ballast file in
 * that directory takes the disk under a floor set just above what is free, so the broker is low on space
 * from the start; removing the ballast gives the room back. Low on space, QoS 1/2 publishes are refused
 * (v5 0x97 Quota exceeded, v3 connection closed) before they would fill the disk, QoS 0 keeps flowing, and
 * the state shows in the broker's figures; with room again, QoS 1/2 are taken and stored.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { takeSnapshot } from '../../src/broker/snapshot.js';
import { renderPrometheus } from '../../src/server/metrics.js';
import { sqliteStorage } from '../../src/storage/sqlite.js';
import { publishPacket, rawSubscriber, startBroker } from '../support/broker-harness.js';
import { waitFor } from '../support/raw-client.js';

const MiB = 1024 * 1024;
const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function freeBytes(dir: string): number {
  const fs = statfsSync(dir);
  return fs.bavail * fs.bsize;
}

const persistent = { version: 5 as const, clean: false, properties: { sessionExpiryInterval: 600 } };

describe('SQLite store free-space floor', () => {
  test('under the floor QoS 1/2 are refused and QoS 0 flows; once the disk has room QoS 1/2 are stored again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'starling-disk-floor-'));
    dirs.push(dir);
    // 128 MiB of ballast; the floor 48 MiB above what is then free: low by 48 MiB now, 80 MiB over it
    // once the ballast goes (leaving the low state takes the floor plus 16 MiB). Other writers on the
    // disk meanwhile would have to move it by more than that to change the outcome.
    const ballast = join(dir, 'ballast');
    const block = Buffer.alloc(8 * MiB, 1);
    for (let i = 0; i < 16; i++) appendFileSync(ballast, block);
    const floor = freeBytes(dir) + 48 * MiB;
    const h = await startBroker({ storage: sqliteStorage(dir, { minFreeBytes: floor }) });
    try {
      assert.equal(h.engine.storeInfo()?.lowOnSpace, true, 'low on space from the start');
      const off = await rawSubscriber(h, 'off', 'd/#', 1, 5, persistent);
      off.send({ type: 'disconnect', reasonCode: 0 });
      await off.expectClosed();
      const live = await rawSubscriber(h, 'live', 'd/#', 0, 5);
      const { client: pub } = await h.connect('pub', { version: 5 });

      pub.send(publishPacket('d/1', 'one', 1, 1));
      assert.equal((await pub.expectPacket('puback')).reasonCode, 0x97);
      pub.send(publishPacket('d/2', 'two', 2, 2));
      assert.equal((await pub.expectPacket('pubrec')).reasonCode, 0x97);
      pub.send(publishPacket('d/0', 'zero', 0));
      assert.equal((await live.expectPacket('publish')).topic, 'd/0', 'QoS 0 still flows');
      const { client: v3 } = await h.connect('v3', { version: 4 });
      v3.send(publishPacket('d/3', 'three', 1, 3));
      await v3.expectClosed();
      assert.match(
        renderPrometheus(takeSnapshot(h.engine, { mean: 0, p99: 0, max: 0 })),
        /starling_store_low_on_space\{store="sqlite"\} 1/,
        'the metric says it',
      );

      rmSync(ballast);
      await waitFor(() => h.engine.storeInfo()?.lowOnSpace === false, 5000, 'room again');
      pub.send(publishPacket('d/4', 'four', 1, 4));
      assert.equal((await pub.expectPacket('puback')).reasonCode ?? 0, 0);
      assert.equal((await live.expectPacket('publish')).topic, 'd/4');

      // Only what was acknowledged was kept for the offline session.
      const { client: back, connack } = await h.connect('off', persistent);
      assert.equal(connack.sessionPresent, true);
      const got = await back.expectPacket('publish');
      assert.equal(got.topic, 'd/4');
      await back.expectNothing(200);
    } finally {
      await h.stop();
    }
  });
});
