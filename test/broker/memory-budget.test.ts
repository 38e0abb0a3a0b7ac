/**
 * The broker-wide memory budget: readers that stop reading can hold at most a little each once all of them
 * together are over `maxMemory`; QoS 0 to them is dropped (counted per client and in total), QoS 1 waits in
 * their queues, and a reader that keeps up gets everything.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryBudget } from '../../src/broker/memory-budget.js';
import { EARLY_FLUSH_BYTES } from '../../src/broker/outbound-writer.js';
import { publishPacket, rawSubscriber, startBroker } from '../support/broker-harness.js';
import { waitFor } from '../support/raw-client.js';

const MAX_MEMORY = 1024 * 1024;

describe('memory budget', () => {
  test('counts backlogs as they change and is under pressure only past the budget', () => {
    const budget = new MemoryBudget(1000);
    const a = { countedBacklog: 0 };
    const b = { countedBacklog: 0 };
    budget.track(a, 600);
    assert.equal(budget.pressure, false);
    budget.track(b, 500);
    assert.equal(budget.buffered, 1100);
    assert.equal(budget.pressure, true);
    budget.track(a, 100);
    assert.equal(budget.buffered, 600);
    budget.forget(b);
    assert.equal(budget.buffered, 100);
    budget.queued = 950;
    assert.equal(budget.pressure, true, 'queued messages count too');
  });

  test('stalled readers are held to the budget plus one batch each; the healthy reader gets every message', async () => {
    // The slow-client timeout (30 s by default) is not what this test is about: a loaded machine can take
    // that long to push the flood, and the stalled readers would be disconnected (and their clean sessions
    // gone) before the counts are read.
    const h = await startBroker({
      maxMemory: MAX_MEMORY,
      maxWriteBuffer: 64 * 1024 * 1024,
      slowClientTimeoutMs: 600_000,
    });
    try {
      const stalled = [];
      for (let i = 0; i < 4; i++) {
        const reader = await rawSubscriber(h, `stalled-${i}`, 'flood/#', 0);
        reader.pauseReading();
        stalled.push(reader);
      }
      const queued = await rawSubscriber(h, 'stalled-q1', 'flood/#', 1, 5, {
        clean: false,
        properties: { sessionExpiryInterval: 60 },
      });
      queued.pauseReading();
      const healthy = await rawSubscriber(h, 'healthy', 'flood/#', 0);
      const { client: pub } = await h.connect('pub');
      const payload = 'x'.repeat(1024);
      const total = 30_000;
      let sent = 0;
      while (sent < total) {
        // One in fifty at QoS 1: the stalled QoS 1 subscriber's copies wait in its queue.
        for (let i = 0; i < 500; i++) {
          const n = sent + i;
          pub.send(
            n % 50 === 0
              ? publishPacket('flood/a', payload, 1, (n % 60_000) + 1)
              : publishPacket('flood/a', payload, 0),
          );
        }
        sent += 500;
        // Paced by the healthy reader: it must keep up (bounded wait).
        await waitFor(() => healthy.receivedTotal >= sent * 1000, 10_000, `healthy reader at ${sent}`);
      }
      await waitFor(
        () => healthy.receivedTotal >= total * (1024 + 11),
        10_000,
        'healthy reader got everything',
      );
      const engine = h.engine;
      const dropped = engine.stats.dropped['slow-client'];
      assert.ok(dropped > 0, 'QoS 0 to the stalled readers was dropped');
      for (let i = 0; i < 4; i++)
        assert.ok((engine.sessions.get(`stalled-${i}`)?.dropped ?? 0) > 0, `stalled-${i} counted`);
      assert.equal(engine.sessions.get('healthy')?.dropped, 0, 'the healthy reader lost nothing');
      // What the broker holds in its own memory for them (their backlog also counts what the kernel holds
      // for a stalled reader, kernel-stall.test.ts, but that is not the broker's heap).
      let held = 0;
      for (const conn of engine.connections)
        if (conn.clientId.startsWith('stalled-')) held += conn.stream.writableLength;
      // The design bound: what they held when the budget was crossed (at most the budget), plus what each
      // got in the turn that crossed it (a turn's batch goes to the socket at EARLY_FLUSH_BYTES, one message
      // more at most). Without the budget they would hold the whole flood, 30 MB each.
      const bound = MAX_MEMORY + 5 * (EARLY_FLUSH_BYTES + 1024 + 64);
      assert.ok(held < bound, `stalled readers hold ${held} bytes (bound ${bound})`);
      const waiting = engine.sessions.get('stalled-q1');
      assert.ok((waiting?.queuedCount ?? 0) > 0, 'QoS 1 for the stalled reader waits in its queue');
      assert.equal(
        (waiting?.queuedCount ?? 0) + (waiting?.inflight.size ?? 0),
        total / 50,
        'every QoS 1 message is in flight or queued: none dropped',
      );
      assert.equal(engine.stats.dropped['queue-full'], 0);
      assert.ok(engine.router.mutedSessions.size >= 4, 'the stalled QoS 0 readers cost nothing per message');
      // While they stay muted, what they miss shows in the figures as it happens ($SYS, /metrics).
      const live = engine.router.missedWhileMuted();
      assert.ok(live > 0, 'the muted readers have missed messages');
      const shown = (): number => Number(engine.sys.snapshot()['publish/messages/dropped']);
      assert.equal(shown(), engine.stats.droppedTotal + live);
      const shownBefore = shown();
      // One stalled reader reads again: it takes messages again, and what it missed is counted.
      const before = engine.sessions.get('stalled-0')?.dropped ?? 0;
      stalled[0]?.resumeReading();
      await waitFor(() => !engine.sessions.get('stalled-0')?.muted, 5000, 'stalled-0 unmuted');
      assert.ok(
        (engine.sessions.get('stalled-0')?.dropped ?? 0) > before,
        'the messages it missed are counted',
      );
      // Folded into the stats once, not twice: the figure did not jump (nothing was published meanwhile).
      assert.equal(shown(), shownBefore, 'the dropped figure stays the same across the unmute');
    } finally {
      await h.stop();
    }
  });
});
