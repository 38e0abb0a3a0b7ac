/**
 * Readers that stop reading while the kernel still takes their writes: found from the kernel's send queues
 * (`/proc/net/tcp`) before the broker's own write buffer fills, muted under the memory budget, and taken
 * back when they read again. The address forms and the /proc line format are checked on their own.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { endianness } from 'node:os';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import {
  KERNEL_LOOK_AFTER_BYTES,
  KernelStallWatch,
  type KernelWatched,
  parseSendQueues,
  procAddress,
} from '../../src/broker/kernel-send-queues.js';
import { publishPacket, rawSubscriber, startBroker } from '../support/broker-harness.js';
import { waitFor } from '../support/raw-client.js';

describe('kernel send queues', () => {
  test('addresses are written as /proc/net/tcp{,6} writes them', () => {
    assert.equal(endianness(), 'LE', 'the expected forms below are for a little-endian machine');
    assert.equal(procAddress('127.0.0.1'), '0100007F');
    assert.equal(procAddress('10.1.2.3'), '0302010A');
    assert.equal(procAddress('::ffff:127.0.0.1'), '0000000000000000FFFF00000100007F');
    assert.equal(procAddress('::1'), '00000000000000000000000001000000');
    assert.equal(procAddress('fe80::1%eth0'), '000080FE000000000000000001000000');
    assert.equal(procAddress('not-an-address'), undefined);
    assert.equal(procAddress('1::2::3'), undefined);
  });

  test('established connections with a send queue are read from the /proc text', () => {
    const text = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:075B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1',
      '   1: 0100007F:075B 0100007F:D431 01 0004B000:00000000 01:00000014 00000000     0        0 2 1',
      '   2: 0100007F:075B 0100007F:D432 01 00000000:00000000 00:00000000 00000000     0        0 3 1',
      '   3: 0100007F:075B 0100007F:D433 01 00000010:00000000 00:00000000 00000000     0        0 4 1',
    ].join('\n');
    const queues = new Map<string, number>();
    parseSendQueues(text, 1, queues);
    // The listening socket (st 0A) and an empty queue are left out; ports are decimal in the key.
    assert.deepEqual(
      [...queues],
      [
        ['0100007F:54321>1883', 0x4b000],
        ['0100007F:54323>1883', 16],
      ],
    );
    const large = new Map<string, number>();
    parseSendQueues(text, 1024, large);
    assert.deepEqual([...large.keys()], ['0100007F:54321>1883']);
  });

  test("a peer on this machine adds its unread receive queue to its connection's", () => {
    const text = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      // The broker's side of two connections (port 1883 = 075B), then the peers' sides.
      '   1: 0100007F:075B 0100007F:D431 01 00004000:00000000 01:00000014 00000000     0        0 2 1',
      '   2: 0100007F:075B 0100007F:D432 01 00000000:00000000 00:00000000 00000000     0        0 3 1',
      '   3: 0100007F:D431 0100007F:075B 01 00000000:00010000 00:00000000 00000000     0        0 4 1',
      '   4: 0100007F:D432 0100007F:075B 01 00000000:00000800 00:00000000 00000000     0        0 5 1',
    ].join('\n');
    const queues = new Map<string, number>();
    parseSendQueues(text, 1, queues);
    assert.equal(queues.get('0100007F:54321>1883'), 0x4000 + 0x10000, 'send queue plus the peer unread');
    assert.equal(queues.get('0100007F:54322>1883'), 0x800, 'nothing in flight, 2 KiB unread');
  });

  test('looks only after enough writing, and stands aside for more than 5 000 connections', () => {
    const watched = (n: number): Set<KernelWatched> =>
      new Set(
        Array.from({ length: n }, () => ({
          stream: new PassThrough(),
          state: 'connected',
          kernelAcked: -1,
          kernelQueued: 0,
        })),
      );
    // -1: whatever the machine's sockets hold, it is enough to look.
    const small = new KernelStallWatch(-1);
    small.maybeLook(watched(10), KERNEL_LOOK_AFTER_BYTES - 1);
    assert.equal(small.looks, 0, 'not enough written');
    small.maybeLook(watched(10), KERNEL_LOOK_AFTER_BYTES);
    assert.equal(small.looks, 1);
    small.maybeLook(watched(10), 2 * KERNEL_LOOK_AFTER_BYTES);
    assert.equal(small.looks, 1, 'not again within 100 ms');
    const large = new KernelStallWatch(-1);
    large.maybeLook(watched(5_001), KERNEL_LOOK_AFTER_BYTES);
    assert.equal(large.looks, 0, 'a look would block the broker too long');
  });

  test('the first looks come soon whatever they cost, later ones are spaced by their cost', () => {
    const conns = new Set<KernelWatched>([
      { stream: new PassThrough(), state: 'connected', kernelAcked: -1, kernelQueued: 0 },
    ]);
    // Each look costs 20 ms by this clock (it is read once before and once after the look).
    let now = 0;
    const clock = (): number => {
      const at = now;
      now += 20;
      return at;
    };
    const watch = new KernelStallWatch(-1, clock);
    let written = 0;
    const offer = (at: number): number => {
      now = at;
      written += KERNEL_LOOK_AFTER_BYTES;
      watch.maybeLook(conns, written);
      return watch.looks;
    };
    assert.equal(offer(0), 1);
    assert.equal(offer(100), 2, 'second look 100 ms later');
    assert.equal(offer(200), 3, 'third look 100 ms later');
    assert.equal(offer(300), 4, 'fourth look 100 ms later');
    assert.equal(watch.lastLookMs, 20);
    assert.equal(offer(400), 4, 'after the quick looks, a 20 ms look waits 400 ms');
    assert.equal(offer(690), 4);
    assert.equal(offer(700), 5);
  });

  /**
   * One connection as the watch reads it (addresses, bytes handed to the kernel, nothing in Node's buffer),
   * its kernel queue and a clock set by the test: `look(written, queued, at)` offers a look at time `at`.
   */
  function fakeConnection(): {
    conn: KernelWatched;
    watch: KernelStallWatch;
    look: (bytesWritten: number, kernelQueue: number, at: number) => number;
  } {
    let written = 0;
    const socket = new Socket();
    Object.defineProperties(socket, {
      remoteAddress: { value: '127.0.0.1' },
      remotePort: { value: 50_000 },
      localPort: { value: 1883 },
      bytesWritten: { get: () => written },
      writableLength: { value: 0 },
    });
    const conn: KernelWatched = { stream: socket, state: 'connected', kernelAcked: -1, kernelQueued: 0 };
    const key = `${procAddress('127.0.0.1')}:50000>1883`;
    let queued = 0;
    let now = 0;
    let offers = 0;
    const watch = new KernelStallWatch(
      -1,
      () => now,
      () => new Map(queued > 0 ? [[key, queued]] : []),
    );
    const look = (bytesWritten: number, kernelQueue: number, at: number): number => {
      written = bytesWritten;
      queued = kernelQueue;
      now = at;
      watch.maybeLook(new Set([conn]), ++offers * KERNEL_LOOK_AFTER_BYTES);
      return conn.kernelQueued;
    };
    return { conn, watch, look };
  }

  test('a reader held stalled is let go only when it takes a good part of its queue', () => {
    const { look } = fakeConnection();
    assert.equal(look(200_000, 100_000, 1_000), 0, 'first sight: a baseline');
    assert.equal(look(200_000, 100_000, 2_000), 100_000, 'took nothing since: stalled');
    assert.equal(
      look(200_000, 80_000, 3_000),
      80_000,
      'took 20 000 bytes: its receive window opened, still stalled',
    );
    assert.equal(look(300_000, 120_000, 4_000), 120_000);
    assert.equal(look(300_000, 20_000, 5_000), 0, 'took 100 000 bytes: reading again');
    assert.equal(look(300_000, 20_000, 6_000), 20_000, 'stalled again');
  });

  test('a reader whose queue came and went keeps its baseline: its next queue is judged at once', () => {
    const { conn, look } = fakeConnection();
    look(100_000, 50_000, 1_000);
    assert.equal(conn.kernelAcked, 50_000);
    look(100_000, 0, 2_000);
    assert.equal(conn.kernelAcked, 100_000, 'took everything: the baseline moved on');
    assert.equal(look(180_000, 80_000, 3_000), 80_000, 'took nothing since: stalled at this look');
  });

  test('looks that find only the same stalled readers come ever further apart, up to 1 s', () => {
    const { watch, look } = fakeConnection();
    // Three quick looks 100 ms apart; the reader is held stalled at the second.
    look(100_000, 50_000, 0);
    look(100_000, 50_000, 100);
    look(100_000, 50_000, 200);
    assert.equal(watch.looks, 3);
    // Then the waits double from the cost-based 100 ms: 200, 400, 800, then 1 000 at most.
    const at = [300, 500, 900, 1_700, 2_700, 3_700];
    for (const t of at) {
      look(100_000, 50_000, t - 1);
      assert.equal(watch.looks, 3 + at.indexOf(t), `not yet at ${t - 1} ms`);
      look(100_000, 50_000, t);
      assert.equal(watch.looks, 4 + at.indexOf(t), `a look at ${t} ms`);
    }
  });

  test('a reader that stops reading is found while its kernel queue grows, muted, and taken back', async () => {
    assert.ok(readFileSync('/proc/net/tcp', 'latin1').length > 0, 'this test needs Linux /proc/net/tcp');
    // A budget the stalled reader's kernel queue alone exceeds, and a write limit it never reaches: without
    // the kernel watch this reader is never congested, as the kernel takes everything written to it.
    const h = await startBroker({
      maxMemory: 1024 * 1024,
      maxWriteBuffer: 64 * 1024 * 1024,
      slowClientTimeoutMs: 600_000,
    });
    try {
      const stalled = await rawSubscriber(h, 'stalled', 'feed/#', 0);
      stalled.pauseReading();
      const healthy = await rawSubscriber(h, 'healthy', 'feed/#', 0);
      const { client: pub } = await h.connect('pub');
      const engine = h.engine;
      const payload = 'x'.repeat(1024);
      const conn = [...engine.connections].find((c) => c.clientId === 'stalled');
      assert.ok(conn !== undefined);
      let sent = 0;
      let userBufferPeak = 0;
      // Slow enough that the kernel takes every write (bounded: 20 s, 8 MB).
      const deadline = Date.now() + 20_000;
      while (!engine.sessions.get('stalled')?.muted && Date.now() < deadline && sent < 8_000) {
        for (let i = 0; i < 50; i++) pub.send(publishPacket('feed/a', payload, 0));
        sent += 50;
        await waitFor(() => healthy.receivedTotal >= sent * 1024, 10_000, `healthy reader at ${sent}`);
        userBufferPeak = Math.max(userBufferPeak, conn.stream.writableLength);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(engine.sessions.get('stalled')?.muted, true, `muted after ${sent} messages`);
      assert.ok(
        userBufferPeak < 256 * 1024,
        `muted before the broker itself held much for it (at most ${userBufferPeak} bytes, ${sent} messages sent)`,
      );
      assert.ok(conn.kernelQueued >= 16 * 1024, `the kernel holds ${conn.kernelQueued} bytes for it`);
      assert.ok(engine.kernelWatch.looks >= 2, 'found by looking at the kernel');
      assert.equal(engine.sessions.get('healthy')?.muted, false);
      assert.equal(engine.sessions.get('healthy')?.dropped, 0, 'the healthy reader lost nothing');
      // It reads again: the next looks see its peer take bytes, and it is taken back.
      stalled.resumeReading();
      await waitFor(() => engine.sessions.get('stalled')?.muted === false, 10_000, 'stalled reader unmuted');
      assert.equal(conn.kernelQueued, 0);
      assert.ok((engine.sessions.get('stalled')?.dropped ?? 0) > 0, 'what it missed is counted');
    } finally {
      await h.stop();
    }
  });
});
