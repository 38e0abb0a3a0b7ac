/**
 * Acknowledgements with the SQLite store: a publish whose message changed nothing durable (clean sessions
 * only) is acknowledged without waiting for a commit; one that reached a persistent session is acknowledged
 * only after the commit holding its delivery returned.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type BrokerHarness, publishPacket, rawSubscriber } from '../support/broker-harness.js';
import { sqliteBrokers } from '../support/sqlite-brokers.js';

const { freshDir, brokerOn } = sqliteBrokers('starling-acks-');
const sqliteBroker = (): Promise<BrokerHarness> => brokerOn(freshDir());

/** Count the acknowledgements the broker holds back for a commit. */
function countHeld(h: BrokerHarness): { held: number } {
  const turn = h.engine.services.turn;
  const hold = turn.holdAck.bind(turn);
  const counter = { held: 0 };
  turn.holdAck = (target, kind, packetId) => {
    counter.held++;
    hold(target, kind, packetId);
  };
  return counter;
}

/** Wait until nothing is left uncommitted (the subscribe of a persistent session, a deferred delete). */
async function settled(h: BrokerHarness): Promise<void> {
  const started = Date.now();
  while (h.engine.services.turn.acksWait && Date.now() - started < 2000) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.equal(h.engine.services.turn.acksWait, false, 'everything committed');
}

describe('SQLite store: when an acknowledgement waits for a commit', () => {
  test('QoS 1 and 2 between clean sessions are acknowledged without a commit', async () => {
    const h = await sqliteBroker();
    const sub = await rawSubscriber(h, 'clean-sub', 'acks/#', 2);
    const { client: pub } = await h.connect('clean-pub');
    await settled(h);
    const stats = h.engine.services.stats;
    const commits = stats.commits;
    const counter = countHeld(h);
    pub.send(publishPacket('acks/1', 'one', 1, 1));
    assert.equal((await pub.expectPacket('puback')).packetId, 1);
    pub.send(publishPacket('acks/2', 'two', 2, 2));
    assert.equal((await pub.expectPacket('pubrec')).packetId, 2);
    assert.equal((await sub.expectPacket('publish')).payload.toString(), 'one');
    assert.equal((await sub.expectPacket('publish')).payload.toString(), 'two');
    assert.equal(counter.held, 0, 'neither acknowledgement was held back');
    assert.equal(stats.commits, commits, 'no commit was needed, none was made');
  });

  test('a publish that reached a persistent session is acknowledged after the commit that holds it', async () => {
    const h = await sqliteBroker();
    // A persistent subscriber that has gone away: the message is queued for it, in the store.
    const sub = await rawSubscriber(h, 'away-sub', 'acks/#', 1, 5, {
      clean: false,
      properties: { sessionExpiryInterval: 600 },
    });
    sub.destroy();
    const { client: pub } = await h.connect('clean-pub-2');
    const started = Date.now();
    while (h.engine.sessions.get('away-sub')?.link !== undefined && Date.now() - started < 2000) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await settled(h);
    const stats = h.engine.services.stats;
    const commits = stats.commits;
    const counter = countHeld(h);
    pub.send(publishPacket('acks/q', 'queued', 1, 3));
    assert.equal((await pub.expectPacket('puback')).packetId, 3);
    assert.equal(counter.held, 1, 'held back for the commit');
    assert.ok(stats.commits > commits, 'the PUBACK came after a commit');
  });
});
