import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { TimerWheel } from '../../src/broker/timer-wheel.js';

/** A wheel on a hand-driven clock: `at(ms)` moves the clock and advances the wheel. */
function manualWheel(tickMs: number, slots: number) {
  let now = 0;
  const fired: { item: number; at: number }[] = [];
  const wheel = new TimerWheel<number>({
    tickMs,
    slots,
    timer: false,
    now: () => now,
    onExpire: (item) => fired.push({ item, at: now }),
  });
  return {
    wheel,
    fired,
    at(ms: number): void {
      now = ms;
      wheel.advance();
    },
    get now(): number {
      return now;
    },
  };
}

describe('TimerWheel', () => {
  test('a deadline fires no earlier than asked and at most one tick late, over many turns', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 5_000 }), { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 1, max: 7 }),
        (delays, step) => {
          const tickMs = 10;
          // 16 slots of 10 ms: one turn is 160 ms, so most deadlines wrap around many times.
          const h = manualWheel(tickMs, 16);
          const deadline = new Map<number, number>();
          delays.forEach((delay, item) => {
            h.wheel.add(item, delay);
            deadline.set(item, delay);
          });
          for (let t = 0; t <= 5_000 + 2 * tickMs; t += step) h.at(t);
          assert.equal(h.fired.length, delays.length);
          assert.equal(h.wheel.size, 0);
          for (const { item, at } of h.fired) {
            const due = deadline.get(item)!;
            assert.ok(at >= due, `item ${item} due at ${due} fired early at ${at}`);
            // Late by at most one tick plus the granularity at which the clock was advanced.
            assert.ok(at - due <= tickMs + step, `item ${item} due at ${due} fired late at ${at}`);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  test('entries added later, mid-turn, keep the same guarantee', () => {
    const h = manualWheel(100, 8);
    h.at(1234);
    h.wheel.add(1, 250); // due 1484
    h.wheel.add(2, 0); // due now
    h.at(1299);
    assert.deepEqual(h.fired, []);
    h.at(1300);
    assert.deepEqual(h.fired, [{ item: 2, at: 1300 }]);
    h.at(1499); // due at 1484, which rounds up to the 1500 boundary
    assert.equal(h.fired.length, 1);
    h.at(1500);
    assert.deepEqual(h.fired[1], { item: 1, at: 1500 });
  });

  test('remove: the entry never fires; a stale handle is refused and leaves a reused index alone', () => {
    const h = manualWheel(10, 8);
    const first = h.wheel.add(1, 50);
    assert.equal(h.wheel.remove(first), true);
    assert.equal(h.wheel.remove(first), false);
    // The freed index is reused by the next add; the old handle must not reach the new entry.
    const second = h.wheel.add(2, 50);
    assert.notEqual(second, first);
    assert.equal(h.wheel.remove(first), false);
    assert.equal(h.wheel.reschedule(first, 1), false);
    assert.equal(h.wheel.has(second), true);
    h.at(100);
    assert.deepEqual(
      h.fired.map((f) => f.item),
      [2],
    );
    assert.equal(h.wheel.has(second), false, 'a fired handle is no longer live');
    assert.equal(h.wheel.remove(second), false);
    for (const bogus of [-1, 0.5, Number.NaN, 2 ** 40]) assert.equal(h.wheel.remove(bogus), false);
  });

  test('reschedule moves a deadline later (keep alive refreshed) or earlier', () => {
    const h = manualWheel(10, 4);
    const later = h.wheel.add(1, 30);
    const earlier = h.wheel.add(2, 1_000);
    h.at(25);
    assert.equal(h.wheel.reschedule(later, 100), true); // now due at 125
    assert.equal(h.wheel.reschedule(earlier, 10), true); // now due at 35
    h.at(40);
    assert.deepEqual(h.fired, [{ item: 2, at: 40 }]);
    h.at(124);
    assert.equal(h.fired.length, 1);
    h.at(130);
    assert.deepEqual(h.fired[1], { item: 1, at: 130 });
  });

  test('callbacks may add, remove and reschedule while a batch fires', () => {
    let now = 0;
    const fired: { item: string; at: number }[] = [];
    const handles = new Map<string, number>();
    const wheel: TimerWheel<string> = new TimerWheel<string>({
      tickMs: 10,
      slots: 8,
      timer: false,
      now: () => now,
      onExpire: (item) => {
        fired.push({ item, at: now });
        if (item !== 'a') return;
        assert.equal(wheel.remove(handles.get('b')!), true);
        assert.equal(wheel.reschedule(handles.get('c')!, 500), true); // due at 510
        wheel.add('d', 0); // due now: fires on the next tick, not a turn later
        assert.equal(wheel.advance(), 0, 'a nested advance does nothing');
      },
    });
    handles.set('a', wheel.add('a', 5));
    handles.set('b', wheel.add('b', 15));
    handles.set('c', wheel.add('c', 15));
    now = 10;
    assert.equal(wheel.advance(), 1);
    now = 20;
    assert.equal(wheel.advance(), 1);
    now = 509;
    wheel.advance();
    now = 510;
    wheel.advance();
    assert.deepEqual(fired, [
      { item: 'a', at: 10 },
      { item: 'd', at: 20 },
      { item: 'c', at: 510 },
    ]);
    assert.equal(wheel.size, 0);
  });

  test('a pause longer than a turn fires everything due once, and nothing not yet due', () => {
    const h = manualWheel(10, 8); // one turn: 80 ms
    for (let i = 0; i < 100; i++) h.wheel.add(i, i * 7);
    h.at(400);
    const due = Array.from({ length: 100 }, (_, i) => i).filter((i) => i * 7 <= 400);
    assert.deepEqual(
      h.fired.map((f) => f.item).sort((a, b) => a - b),
      due,
    );
    h.at(1_000);
    assert.equal(h.fired.length, 100);
    assert.equal(new Set(h.fired.map((f) => f.item)).size, 100, 'none fires twice');
  });

  test('memory follows live entries, not churn', () => {
    const h = manualWheel(10, 64);
    const live: number[] = [];
    for (let i = 0; i < 200_000; i++) {
      live.push(h.wheel.add(i, (i % 97) * 10));
      if (live.length > 100) assert.equal(h.wheel.remove(live.shift()!), true);
    }
    assert.equal(h.wheel.size, 100);
    assert.ok(h.wheel.capacity <= 128, `capacity ${h.wheel.capacity} for 100 live entries`);
    h.wheel.clear();
    assert.equal(h.wheel.size, 0);
    assert.equal(h.wheel.remove(live[0]!), false, 'handles from before clear() are dead');
    h.at(10_000);
    assert.equal(h.fired.length, 0, 'cleared entries never fire');
  });

  test('options are checked', () => {
    const onExpire = (): void => {};
    assert.throws(() => new TimerWheel({ onExpire, tickMs: 0 }), RangeError);
    assert.throws(() => new TimerWheel({ onExpire, slots: 0 }), RangeError);
    assert.equal(new TimerWheel({ onExpire, slots: 1000, timer: false }).slots, 1024);
  });

  test('real clock: one timer for many entries, unref, idle when empty', async () => {
    const timeouts = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timeouts();
    const start = performance.now();
    const firedAt: number[] = [];
    let resolveAll: () => void = () => {};
    const all = new Promise<void>((resolve) => {
      resolveAll = resolve;
    });
    const wheel = new TimerWheel<number>({
      tickMs: 5,
      slots: 16,
      onExpire: (delay) => {
        firedAt.push(performance.now() - start - delay);
        if (firedAt.length === 1000) resolveAll();
      },
    });
    for (let i = 0; i < 1000; i++) wheel.add(i % 50, i % 50);
    assert.ok(timeouts() - before <= 1, 'at most one timer for a thousand deadlines');
    const guard = setTimeout(() => resolveAll(), 5_000);
    await all;
    clearTimeout(guard);
    assert.equal(firedAt.length, 1000);
    assert.ok(
      firedAt.every((lateness) => lateness >= 0),
      'no entry fired before its delay',
    );
    assert.equal(wheel.size, 0);
    assert.equal(timeouts(), before, 'no timer left once the wheel is empty');
  });
});
