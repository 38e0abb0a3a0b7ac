/** The decoder's topic name cache: exact hits only, and names differing in any byte get their own slots. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TopicNameCache } from '../../src/packets/topic.js';

function stored(cache: TopicNameCache, topics: readonly string[]): number {
  let hits = 0;
  for (const topic of topics) {
    const bytes = Buffer.from(topic);
    const hit = cache.get(bytes, 0, bytes.length);
    if (hit !== undefined) {
      assert.equal(hit, topic);
      hits++;
    }
  }
  return hits;
}

describe('TopicNameCache', () => {
  test('topics differing only between their first, middle and last byte are all kept', () => {
    const cache = new TopicNameCache(1024);
    const topics = Array.from({ length: 10 }, (_, i) => `bench/${i}/x`);
    for (const topic of topics) cache.set(Buffer.from(topic), 0, topic.length, topic);
    assert.equal(stored(cache, topics), 10);
    // A hundred such names in 1024 slots: at most a few collide (the hash is deterministic).
    const hundred = Array.from({ length: 100 }, (_, i) => `bench/${i}/x`);
    for (const topic of hundred) cache.set(Buffer.from(topic), 0, topic.length, topic);
    assert.ok(stored(cache, hundred) >= 80);
  });

  test('a hit needs every byte equal; non-ASCII names and empty names are not cached', () => {
    const cache = new TopicNameCache(16);
    cache.set(Buffer.from('a/b'), 0, 3, 'a/b');
    const view = Buffer.from('xxa/bxx');
    assert.equal(cache.get(view, 2, 3), 'a/b');
    assert.equal(cache.get(Buffer.from('a/c'), 0, 3), undefined);
    const unicode = Buffer.from('caf\u00e9');
    cache.set(unicode, 0, unicode.length, 'caf\u00e9');
    assert.equal(cache.get(unicode, 0, unicode.length), undefined);
    cache.set(Buffer.alloc(0), 0, 0, '');
    assert.equal(cache.get(Buffer.alloc(0), 0, 0), undefined);
  });
});
