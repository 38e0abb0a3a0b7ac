/**
 * A broker at its open-file limit keeps running: the statistics that read /proc (`$SYS`, `/metrics`, the
 * dashboard) report the last reading instead of throwing EMFILE out of a timer.
 */
import assert from 'node:assert/strict';
import { closeSync, openSync } from 'node:fs';
import { test } from 'node:test';
import { takeSnapshot } from '../../src/broker/snapshot.js';
import { Broker } from '../../src/index.js';
import { engineOf } from '../../src/server/broker.js';

test('$SYS and the metrics snapshot work with every file descriptor in use', async () => {
  const broker = new Broker({ sysInterval: 0 });
  const engine = engineOf(broker);
  engine.sys.tick();
  const held: number[] = [];
  try {
    // Bounded by the process's own limit (20 000 here): stop at the first EMFILE.
    for (let i = 0; i < 100_000; i++) {
      try {
        held.push(openSync('/dev/null', 'r'));
      } catch (err) {
        assert.equal((err as NodeJS.ErrnoException).code, 'EMFILE');
        break;
      }
    }
    assert.throws(() => process.memoryUsage(), /EMFILE/, 'the descriptors are all taken');
    assert.doesNotThrow(() => engine.sys.tick());
    const snapshot = takeSnapshot(engine, { mean: 0, p99: 0, max: 0 });
    assert.ok(snapshot.memory.heapUsed > 0, 'the heap figures come from V8');
    assert.ok(Number.isNaN(snapshot.memory.rss), 'the RSS is unknown without a descriptor');
  } finally {
    for (const fd of held) closeSync(fd);
    await broker.close();
  }
});
