/**
 * A bounded slice of the long fuzz (`npm run fuzz`): 50 000 generated frames of every packet type and
 * protocol level, mutated and split across writes, over real sockets into a broker in a child process.
 * The broker must not crash, must answer fresh 3.1, 3.1.1 and 5.0 clients after each batch, must close
 * every fuzz connection, and its heap after GC must not grow between the two batches beyond noise.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runFuzz } from '../../bench/lib/fuzz-run.js';

const FRAMES = 50_000;

test('fuzz slice: 50 000 frames, no crash, no hang, broker answers and does not grow', async () => {
  const report = await runFuzz({
    frames: FRAMES,
    batchFrames: FRAMES / 2,
    concurrency: 16,
    seed: 20_261_204,
    corpusPerType: 40,
    leakThresholdBytes: 16 * 1024 * 1024,
  });
  assert.deepEqual(
    report.findings.map((f) => `${f.kind}: ${f.signature}\n${f.detail}`),
    [],
    'no crash and no hang',
  );
  assert.ok(report.frames >= FRAMES, `${report.frames} frames sent`);
  assert.equal(report.batches.length, 2);
  for (const batch of report.batches) {
    assert.equal(batch.roundTripMs.length, 3, 'the 3.1, 3.1.1 and 5.0 round trips all succeeded');
    assert.equal(batch.connectionsOpen, 0, 'every fuzz connection was closed on the broker side');
    assert.equal(batch.sessionsHeld, 0, 'every fuzz session expired');
    assert.ok(batch.closedByBroker > 0, 'the broker refused some of what it was sent');
  }
  assert.equal(report.leakSuspected, false, `heap grew ${report.heapGrowth} bytes`);
  assert.deepEqual(report.errorSamples, [], 'the broker logged no unexpected error');
});
