/**
 * Offline sessions' expiry and delayed wills run on two timing wheels, not on a timer each: a broker that
 * restores thousands of stored sessions holds no more timers than one that restores none, and the deadlines
 * still fire (a session expires and its delayed will is published).
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { type BrokerHarness, rawSubscriber, startBroker } from '../support/broker-harness.js';
import { waitFor } from '../support/raw-client.js';
import { Disk, RecordingStore } from '../support/recording-store.js';

const harnesses: BrokerHarness[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.stop();
});

function activeTimeouts(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
}

/** A disk holding `count` offline sessions that expire in an hour, each with a will delayed ten minutes. */
function diskWithOfflineSessions(count: number, expirySeconds = 3600, willDelaySeconds = 600): Disk {
  const disk = new Disk();
  const now = Date.now();
  for (let i = 0; i < count; i++) {
    const clientId = `offline-${i}`;
    disk.sessions.set(clientId, {
      session: {
        clientId,
        expiryInterval: expirySeconds,
        protocolVersion: 5,
        username: undefined,
        connected: false,
        disconnectedAt: now,
        will: {
          topic: `wills/${clientId}`,
          payload: Buffer.from('gone'),
          qos: 0,
          retain: false,
          properties: { willDelayInterval: willDelaySeconds },
        },
        willDueAt: now + willDelaySeconds * 1000,
      },
      subscriptions: new Map(),
      deliveries: new Map(),
      inboundQos2: new Set(),
    });
  }
  return disk;
}

test('5 000 restored offline sessions with delayed wills add no timer per session', async () => {
  const empty = await startBroker({ storage: new RecordingStore() });
  harnesses.push(empty);
  const baseline = activeTimeouts();
  const full = await startBroker({ storage: new RecordingStore(diskWithOfflineSessions(5000)) });
  harnesses.push(full);
  assert.equal(full.engine.sessions.size, 5000, 'every session restored');
  const added = activeTimeouts() - baseline;
  // Two wheels arm one timer each; a timer per session would add 10 000.
  assert.ok(added <= 4, `timers added by 5 000 offline sessions: ${added}`);
});

test('a restored session still expires, and its delayed will is published, on time', async () => {
  const h = await startBroker({ storage: new RecordingStore(diskWithOfflineSessions(3, 2, 1)) });
  harnesses.push(h);
  const watcher = await rawSubscriber(h, 'watcher', 'wills/#', 0, 5);
  const started = Date.now();
  const wills: string[] = [];
  for (let i = 0; i < 3; i++) {
    const packet = await watcher.expectPacket('publish', 3000);
    wills.push(packet.topic);
  }
  const willsAfter = Date.now() - started;
  assert.deepEqual(wills.sort(), ['wills/offline-0', 'wills/offline-1', 'wills/offline-2']);
  assert.ok(willsAfter < 1800, `wills delayed 1 s came after ${willsAfter} ms`);
  await waitFor(() => h.engine.sessions.size === 1, 3000, 'the three sessions expired');
  const expiredAfter = Date.now() - started;
  assert.ok(expiredAfter >= 1500, `sessions expiring in 2 s went after ${expiredAfter} ms`);
  assert.ok(h.engine.sessions.has('watcher'));
});
