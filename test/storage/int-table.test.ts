/**
 * `IntTable`, the SQLite store's table from integer keys to its records: against a `Map` under random
 * sequences of sets, gets and deletes (fast-check), with the shapes the store gives it: consecutive keys
 * (delivery seqs) and keys made of a session number and a packet id (inbound QoS 2 ids), past 2^32.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { IntTable } from '../../src/storage/int-table.js';

type Op = { kind: 'set' | 'delete' | 'get'; key: number };

/** Run `ops` on a table and a Map side by side; every answer and the sizes must agree. */
function agree(ops: readonly Op[]): void {
  const table = new IntTable<number>();
  const map = new Map<number, number>();
  ops.forEach((op, n) => {
    if (op.kind === 'set') {
      table.set(op.key, n);
      map.set(op.key, n);
    } else if (op.kind === 'delete') {
      assert.equal(table.delete(op.key), map.delete(op.key), `delete ${op.key}`);
    } else {
      assert.equal(table.get(op.key), map.get(op.key), `get ${op.key}`);
    }
    assert.equal(table.size, map.size);
  });
  for (const [key, value] of map) assert.equal(table.get(key), value, `at the end, ${key}`);
}

const op = (key: fc.Arbitrary<number>): fc.Arbitrary<Op> =>
  fc.record({ kind: fc.constantFrom<Op['kind']>('set', 'set', 'delete', 'get'), key });

describe('IntTable', () => {
  it('answers as a Map does, for small keys that collide and wrap around', () => {
    fc.assert(fc.property(fc.array(op(fc.integer({ min: 0, max: 300 })), { maxLength: 2000 }), agree), {
      numRuns: 200,
    });
  });

  it('answers as a Map does, for keys past 2^32 (session number x 65536 + packet id)', () => {
    const key = fc
      .tuple(fc.integer({ min: 0, max: 2 ** 30 }), fc.integer({ min: 1, max: 65535 }))
      .map(([session, packetId]) => session * 65536 + packetId);
    fc.assert(fc.property(fc.array(op(key), { maxLength: 1000 }), agree), { numRuns: 100 });
  });

  it('keeps a sliding window of consecutive keys, and stays right as a burst grows and shrinks it', () => {
    const table = new IntTable<string>();
    let first = 1;
    let next = 1;
    // A window of about 2 000 keys in flight, each deleted in order after its successors were set.
    for (let round = 0; round < 200; round++) {
      for (let k = 0; k < 1000; k++, next++) table.set(next, `v${next}`);
      while (next - first > 2000) {
        assert.equal(table.delete(first), true);
        first++;
      }
      assert.equal(table.size, next - first);
    }
    for (let key = first; key < next; key++) assert.equal(table.get(key), `v${key}`);
    assert.equal(table.get(first - 1), undefined);
    // A burst of 100 000, then all gone: the table is small again (its capacity is not public, so its
    // behaviour is what is checked: still correct after shrinking step by step).
    for (let k = 0; k < 100_000; k++, next++) table.set(next, `v${next}`);
    for (; first < next - 3; first++) assert.equal(table.delete(first), true);
    assert.equal(table.size, 3);
    for (let key = first; key < next; key++) assert.equal(table.get(key), `v${key}`);
  });
});
