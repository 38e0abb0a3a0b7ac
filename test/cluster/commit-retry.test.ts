/**
 * What a refused Redis commit sends again: its writes that a batch sent after it rewrites or deletes are
 * dropped (they would bring back what the later batch deleted); deletions, appends and the rest are kept.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { withoutSuperseded } from '../../src/cluster/commit-retry.js';

const blob = Buffer.from('x');

describe('cluster commit retry', () => {
  test('a delivery saved, then deleted by a later batch, is not saved again', () => {
    const refused = ['Q', 'c1', '1', '7', blob, 'publish 3', 'Q', 'c1', '1', '8', blob, 'publish 4'];
    const later = [['q', 'c1', '1', '7']];
    assert.deepEqual(withoutSuperseded(refused, later), ['Q', 'c1', '1', '8', blob, 'publish 4']);
  });

  test('a state update does not replace a delivery; a later save does; other clients are untouched', () => {
    const refused = ['Q', 'c1', '1', '7', blob, 'publish 3', 'Q', 'c2', '1', '7', blob, 'publish 3'];
    assert.deepEqual(withoutSuperseded(refused, [['U', 'c1', '1', '7', 'pubrel 3']]), refused);
    assert.deepEqual(withoutSuperseded(refused, [['Q', 'c1', '1', '7', blob, 'pubrel 3']]), [
      'Q',
      'c2',
      '1',
      '7',
      blob,
      'publish 3',
    ]);
  });

  test("a later session deletion drops the session's writes, not its will or release", () => {
    const sessionWrites = ['S', 'c1', '2', blob, 'B', 'c1', '2', 'a/#', blob, 'I', 'c1', '2', '5'];
    const kept = ['W', 'c1', '2', blob, 'L', 'c1', '2', 'S', 'c2', '1', blob];
    assert.deepEqual(withoutSuperseded([...sessionWrites, ...kept], [['D', 'c1', '2']]), kept);
  });

  test('retained messages, routes and subscriptions follow the latest batch; deletions and appends stay', () => {
    const refused = [
      'R',
      't/1',
      blob,
      'A',
      'a/#',
      'B',
      'c1',
      '1',
      'x/#',
      blob,
      'r',
      't/2',
      'X',
      'n2',
      'ab.1',
      blob,
      'C',
      '1-0',
    ];
    const later = [['r', 't/1', 'a', 'a/#', 'b', 'c1', '1', 'x/#', 'R', 't/2', blob]];
    assert.deepEqual(withoutSuperseded(refused, later), ['r', 't/2', 'X', 'n2', 'ab.1', blob, 'C', '1-0']);
  });

  test('nothing later: the batch is kept whole; an unknown operation is an error', () => {
    const refused = ['A', 'k', 'q', 'c', '1', '2'];
    assert.deepEqual(withoutSuperseded(refused, []), refused);
    assert.throws(() => withoutSuperseded(['Z', 'x'], [['q', 'c', '1', '2']]), /unknown operation Z/);
  });
});
