import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import v8 from 'node:v8';
import type { BrokerLogger } from '../../src/broker/logger.js';
import { IdleHeapTrim } from '../../src/server/idle-heap-trim.js';

interface Trimmed {
  heapBefore: number;
  heapAfter: number;
  pauseMs: number;
}

function recordingLogger(): { logger: BrokerLogger; trims: Trimmed[] } {
  const trims: Trimmed[] = [];
  const ignore = (): void => {};
  return {
    trims,
    logger: {
      info: ignore,
      warn: ignore,
      error: ignore,
      debug: (obj) => {
        trims.push(obj as Trimmed);
      },
    },
  };
}

/** About 24 MiB of small objects that die young enough to be garbage but old enough to sit in old space. */
function burst(): unknown[] {
  const kept: unknown[] = [];
  for (let i = 0; i < 200_000; i++) kept.push({ i, name: `client-${i}`, list: [i, i + 1] });
  return kept;
}

const heap = (): number => v8.getHeapStatistics().total_heap_size;

describe('IdleHeapTrim (memory back after a burst, once the broker is quiet)', () => {
  it('collects once after the heap grew and two quiet looks, and gives the burst back', () => {
    let activity = 0;
    const { logger, trims } = recordingLogger();
    const trim = IdleHeapTrim.create(() => activity, logger);
    assert.ok(trim !== undefined, 'Node 20 lets the broker ask for a collection');
    let kept: unknown[] | undefined = burst();
    assert.ok(kept.length > 0);
    activity += 100_000; // the burst: busy
    assert.equal(trim.check(), false, 'busy: left alone');
    kept = undefined;
    const grown = heap();
    assert.equal(trim.check(), false, 'one quiet look is not enough');
    assert.equal(trim.check(), true, 'two quiet looks and 8 MiB of growth: collected');
    assert.equal(trims.length, 1);
    const [first] = trims;
    assert.ok(
      first !== undefined && first.heapAfter < first.heapBefore - 8 * 1024 * 1024,
      'the burst went back',
    );
    assert.ok(heap() < grown - 8 * 1024 * 1024);
    assert.equal(trim.check(), false, 'no growth since: nothing more to do');
    assert.equal(trims.length, 1);
  });

  it('never collects while the broker is busy, however much the heap grows', () => {
    let activity = 0;
    const { logger, trims } = recordingLogger();
    const trim = IdleHeapTrim.create(() => activity, logger);
    assert.ok(trim !== undefined);
    const held: unknown[][] = [];
    for (let look = 0; look < 4; look++) {
      held.push(burst());
      activity += 501; // just above quiet
      assert.equal(trim.check(), false);
    }
    assert.equal(held.length, 4);
    assert.equal(trims.length, 0);
  });
});
