import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type MatchResult, TopicIndex } from '../../src/broker/topic-index.js';
import { Slot, SubscriberList, TopicNode } from '../../src/broker/topic-node.js';

/**
 * Reference matcher, written as directly from spec 4.7 as possible: level by level, `+` any one level,
 * `#` the rest (zero or more levels), and no first-level wildcard for `$` topics.
 */
function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

function newResult<S>(): MatchResult<S> {
  return { subscribers: [], shared: [] };
}

/** The filters (held as subscription values) matching `topic`, sorted. */
function matchedFilters(index: TopicIndex<string, unknown>, topic: string): string[] {
  const out = newResult<string>();
  index.match(topic, out);
  return out.subscribers.map((s) => s.value).sort();
}

function retainedMatches<R>(index: TopicIndex<unknown, R>, filter: string): string[] {
  const seen: string[] = [];
  index.matchRetained(filter, (topic) => seen.push(topic));
  return seen.sort();
}

// [filter, topic, matches]
const cases: readonly (readonly [string, string, boolean])[] = [
  ['a/b', 'a/b', true],
  ['a/b', 'a/c', false],
  ['a/b', 'a/b/c', false],
  ['a/b/c', 'a/b', false],
  ['A/b', 'a/b', false],
  ['a/B', 'a/B', true],
  ['+', 'a', true],
  ['+', '', true],
  ['+', 'a/b', false],
  ['+', '/', false],
  ['+/+', '/', true],
  ['/+', '/a', true],
  ['/+', 'a', false],
  ['a/+', 'a/', true],
  ['a/+', 'a', false],
  ['a/+', 'a/b', true],
  ['a/+', 'a/b/c', false],
  ['a/+/c', 'a//c', true],
  ['a/+/c', 'a/b/c', true],
  ['a/+/c', 'a/b/d', false],
  ['+/b/+', 'x/b/y', true],
  ['a/#', 'a', true],
  ['a/#', 'a/', true],
  ['a/#', 'a/b', true],
  ['a/#', 'a/b/c', true],
  ['a/#', 'ab', false],
  ['a/#', 'b/a', false],
  ['a/b/#', 'a', false],
  ['#', 'a', true],
  ['#', 'a/b/c', true],
  ['#', '/', true],
  ['#', '', true],
  ['/#', '/a', true],
  ['/#', '/', true],
  ['/#', 'a', false],
  ['+/#', 'a', true],
  ['+/#', 'a/b/c', true],
  ['+/+/#', 'a', false],
  ['a//b', 'a//b', true],
  ['a//b', 'a/b', false],
  ['a/', 'a/', true],
  ['a/', 'a', false],
  ['#', '$SYS', false],
  ['#', '$SYS/x', false],
  ['+', '$SYS', false],
  ['+/x', '$SYS/x', false],
  ['+/#', '$SYS/x', false],
  ['$SYS/#', '$SYS/x', true],
  ['$SYS/#', '$SYS', true],
  ['$SYS/+', '$SYS/x', true],
  ['$SYS/x', '$SYS/x', true],
  ['a/+', 'a/$b', true],
  ['a/#', 'a/$b/c', true],
  ['#', 'a$', true],
  ['$share/g/a', 'a', false],
];

describe('topicMatches (reference matcher)', () => {
  for (const [filter, topic, expected] of cases) {
    it(`${JSON.stringify(filter)} ${expected ? 'matches' : 'does not match'} ${JSON.stringify(topic)}`, () => {
      assert.equal(topicMatches(filter, topic), expected);
    });
  }
});

describe('TopicIndex.match', () => {
  it('follows the spec table with one subscription at a time', () => {
    for (const [filter, topic, expected] of cases) {
      const index = new TopicIndex<string, never>();
      index.subscribe('c', filter, filter);
      assert.deepEqual(matchedFilters(index, topic), expected ? [filter] : [], `${filter} vs ${topic}`);
    }
  });

  it('finds exactly the matching filters with every table filter subscribed at once', () => {
    const index = new TopicIndex<string, never>();
    const filters = [...new Set(cases.map(([f]) => f))];
    const topics = [...new Set(cases.map(([, t]) => t))];
    for (const filter of filters) index.subscribe('c', filter, filter);
    for (const topic of topics) {
      const expected = filters.filter((f) => topicMatches(f, topic)).sort();
      assert.deepEqual(matchedFilters(index, topic), expected, topic);
    }
  });

  it('reports a client once per overlapping filter, with each filter value', () => {
    const index = new TopicIndex<string, never>();
    index.subscribe('c1', 'a/b', 'exact');
    index.subscribe('c1', 'a/+', 'plus');
    index.subscribe('c1', 'a/#', 'hash');
    index.subscribe('c1', '#', 'all');
    index.subscribe('c2', 'a/+', 'other');
    const out = newResult<string>();
    index.match('a/b', out);
    const pairs = out.subscribers.map((s) => `${s.clientId}:${s.value}`).sort();
    assert.deepEqual(pairs, ['c1:all', 'c1:exact', 'c1:hash', 'c1:plus', 'c2:other']);
    assert.equal(out.shared.length, 0);
    assert.equal(index.subscriptionCount, 5);
  });

  it('appends to the caller-owned result without clearing it', () => {
    const index = new TopicIndex<string, never>();
    index.subscribe('c', 'a', 'v');
    const out = newResult<string>();
    index.match('a', out);
    index.match('a', out);
    assert.equal(out.subscribers.length, 2);
    out.subscribers.length = 0;
    index.match('b', out);
    assert.equal(out.subscribers.length, 0);
  });

  it('replaces a subscription, returning the previous value', () => {
    const index = new TopicIndex<number, never>();
    assert.equal(index.subscribe('c', 'a/+', 1), undefined);
    assert.equal(index.subscribe('c', 'a/+', 2), 1);
    assert.equal(index.subscriptionCount, 1);
    assert.equal(index.getSubscription('c', 'a/+'), 2);
    assert.equal(index.getSubscription('c', 'a/#'), undefined);
    assert.equal(index.getSubscription('other', 'a/+'), undefined);
    const out = newResult<number>();
    index.match('a/x', out);
    assert.deepEqual(out.subscribers, [{ clientId: 'c', value: 2 }]);
  });

  it('unsubscribes one client without touching the others', () => {
    const index = new TopicIndex<string, never>();
    index.subscribe('c1', 'a/#', 'v1');
    index.subscribe('c2', 'a/#', 'v2');
    index.subscribe('c3', 'a/#', 'v3');
    assert.equal(index.unsubscribe('c1', 'a/#'), 'v1');
    assert.equal(index.unsubscribe('c1', 'a/#'), undefined);
    assert.equal(index.unsubscribe('c2', 'a/+'), undefined);
    assert.equal(index.unsubscribe('c2', 'nothing/here'), undefined);
    assert.equal(index.subscriptionCount, 2);
    const out = newResult<string>();
    index.match('a/b', out);
    assert.deepEqual(out.subscribers.map((s) => s.clientId).sort(), ['c2', 'c3']);
  });

  it('walks topics of thousands of levels without recursion', () => {
    const index = new TopicIndex<string, string>();
    const deep = new Array(20_000).fill('x').join('/');
    index.subscribe('c', deep, 'exact');
    index.subscribe('c', `${deep}/#`, 'hash');
    index.setRetained(deep, 'r');
    assert.deepEqual(matchedFilters(index, deep), ['exact', 'hash']);
    assert.deepEqual(retainedMatches(index, 'x/#'), [deep]);
    index.unsubscribe('c', deep);
    index.unsubscribe('c', `${deep}/#`);
    index.setRetained(deep, undefined);
    assert.equal(index.nodeCount, 0);
  });
});

describe('TopicIndex shared subscriptions', () => {
  it('keeps one entry per (group, filter) with members in subscription order', () => {
    const index = new TopicIndex<string, never>();
    index.subscribe('c1', 'a/+', 'g1-c1', 'g1');
    index.subscribe('c2', 'a/+', 'g1-c2', 'g1');
    index.subscribe('c1', 'a/+', 'g2-c1', 'g2');
    index.subscribe('c3', 'a/#', 'g1-c3', 'g1');
    index.subscribe('c1', 'a/+', 'plain');
    assert.equal(index.subscriptionCount, 5);

    const out = newResult<string>();
    index.match('a/b', out);
    assert.deepEqual(out.subscribers, [{ clientId: 'c1', value: 'plain' }]);
    const groups = out.shared.map((g) => `${g.group}|${g.filter}|${[...g.members.keys()].join(',')}`).sort();
    assert.deepEqual(groups, ['g1|a/#|c3', 'g1|a/+|c1,c2', 'g2|a/+|c1']);
  });

  it('hands out the same group object so the broker cursor persists, and keeps member order on replace', () => {
    const index = new TopicIndex<number, never>();
    index.subscribe('c1', 'job', 1, 'g');
    index.subscribe('c2', 'job', 2, 'g');
    const first = newResult<number>();
    index.match('job', first);
    const group = first.shared[0]!;
    group.cursor = 1;
    assert.equal(index.subscribe('c1', 'job', 10, 'g'), 1);
    index.subscribe('c3', 'job', 3, 'g');
    const second = newResult<number>();
    index.match('job', second);
    assert.equal(second.shared[0], group);
    assert.equal(group.cursor, 1);
    assert.deepEqual(
      [...group.members],
      [
        ['c1', 10],
        ['c2', 2],
        ['c3', 3],
      ],
    );
    assert.equal(index.getSubscription('c1', 'job', 'g'), 10);
    assert.equal(index.getSubscription('c1', 'job'), undefined);
    assert.equal(index.getSubscription('c1', 'job', 'other'), undefined);
  });

  it('drops a group with its last member and prunes its node', () => {
    const index = new TopicIndex<number, never>();
    index.subscribe('c1', 'a/b', 1, 'g');
    index.subscribe('c2', 'a/b', 2, 'g');
    assert.equal(index.unsubscribe('c1', 'a/b'), undefined, 'not a plain subscription');
    assert.equal(index.unsubscribe('c1', 'a/b', 'h'), undefined, 'not in that group');
    assert.equal(index.unsubscribe('c1', 'a/b', 'g'), 1);
    const out = newResult<number>();
    index.match('a/b', out);
    assert.deepEqual([...out.shared[0]!.members.keys()], ['c2']);
    assert.equal(index.unsubscribe('c2', 'a/b', 'g'), 2);
    out.shared.length = 0;
    index.match('a/b', out);
    assert.equal(out.shared.length, 0);
    assert.equal(index.subscriptionCount, 0);
    assert.equal(index.nodeCount, 0);
  });

  it('applies the $ rule to shared filters too', () => {
    const index = new TopicIndex<number, never>();
    index.subscribe('c', '#', 1, 'g');
    const out = newResult<number>();
    index.match('$SYS/load', out);
    assert.equal(out.shared.length, 0);
    index.match('load', out);
    assert.equal(out.shared.length, 1);
  });
});

describe('TopicIndex pruning', () => {
  it('removes exactly the nodes no longer used', () => {
    const index = new TopicIndex<number, string>();
    index.subscribe('c', 'a/b/c', 1);
    index.subscribe('c', 'a/b/d', 1);
    assert.equal(index.nodeCount, 4);
    index.subscribe('c', 'a/+/#', 1);
    assert.equal(index.nodeCount, 6);
    index.unsubscribe('c', 'a/b/c');
    assert.equal(index.nodeCount, 5);
    index.unsubscribe('c', 'a/+/#');
    assert.equal(index.nodeCount, 3);
    index.unsubscribe('c', 'a/b/d');
    assert.equal(index.nodeCount, 0);
  });

  it('keeps a node while either a subscription or a retained message uses it', () => {
    const index = new TopicIndex<string, string>();
    index.setRetained('a/b', 'r');
    index.subscribe('c', 'a/b', 'v');
    assert.equal(index.nodeCount, 2);
    index.unsubscribe('c', 'a/b');
    assert.equal(index.nodeCount, 2);
    assert.equal(index.getRetained('a/b'), 'r');
    index.subscribe('c', 'a/b', 'v');
    index.setRetained('a/b', undefined);
    assert.equal(index.nodeCount, 2);
    assert.deepEqual(matchedFilters(index, 'a/b'), ['v']);
    index.unsubscribe('c', 'a/b');
    assert.equal(index.nodeCount, 0);
  });

  it('leaves an empty trie after any sequence of adds and removes (property)', () => {
    const level = fc.constantFrom('a', 'b', '', '+', '$x');
    const filter = fc
      .tuple(fc.array(level, { minLength: 1, maxLength: 4 }), fc.boolean())
      .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'));
    const op = fc.record({
      client: fc.constantFrom('c1', 'c2'),
      filter,
      group: fc.constantFrom(undefined, 'g'),
      retain: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
        const index = new TopicIndex<number, number>();
        const topics = new Set<string>();
        const keys = new Set<string>();
        for (const { client, filter, group, retain } of ops) {
          index.subscribe(client, filter, 1, group);
          keys.add(JSON.stringify([client, filter, group]));
          if (retain) {
            const topic = filter.replaceAll('#', 'h').replaceAll('+', 'p');
            index.setRetained(topic, 1);
            topics.add(topic);
          }
        }
        assert.equal(index.subscriptionCount, keys.size);
        assert.equal(index.retainedCount, topics.size);
        for (const { client, filter, group } of ops) index.unsubscribe(client, filter, group);
        for (const topic of topics) index.setRetained(topic, undefined);
        assert.equal(index.subscriptionCount, 0);
        assert.equal(index.retainedCount, 0);
        assert.equal(index.nodeCount, 0);
      }),
      { numRuns: 500, interruptAfterTimeLimit: 1000 },
    );
  });
});

describe('TopicIndex retained messages', () => {
  it('sets, replaces and deletes with exact counts', () => {
    const index = new TopicIndex<never, string>();
    index.setRetained('a/b', 'one');
    index.setRetained('a/b', 'two');
    index.setRetained('a', 'parent');
    index.setRetained('/a', 'leading');
    assert.equal(index.retainedCount, 3);
    assert.equal(index.getRetained('a/b'), 'two');
    assert.equal(index.getRetained('a'), 'parent');
    assert.equal(index.getRetained('/a'), 'leading');
    assert.equal(index.getRetained('A/b'), undefined);
    assert.equal(index.getRetained('a/b/c'), undefined);
    index.setRetained('a', undefined);
    index.setRetained('never/set', undefined);
    assert.equal(index.retainedCount, 2);
    assert.equal(index.getRetained('a'), undefined);
    assert.equal(index.getRetained('a/b'), 'two');
    index.setRetained('a/b', undefined);
    index.setRetained('/a', undefined);
    assert.equal(index.retainedCount, 0);
    assert.equal(index.nodeCount, 0);
  });

  it('never reports retained messages from match, nor subscriptions from matchRetained', () => {
    const index = new TopicIndex<string, string>();
    index.setRetained('a/b', 'r');
    index.subscribe('c', 'a/+', 'v');
    assert.deepEqual(matchedFilters(index, 'a/b'), ['v']);
    assert.deepEqual(retainedMatches(index, 'a/+'), ['a/b']);
    assert.deepEqual(retainedMatches(index, 'a/x'), []);
  });

  it('follows the spec table, filters matched against stored topic names', () => {
    const index = new TopicIndex<never, string>();
    const topics = [...new Set(cases.map(([, t]) => t))];
    for (const topic of topics) index.setRetained(topic, topic);
    for (const filter of new Set(cases.map(([f]) => f))) {
      const expected = topics.filter((t) => topicMatches(filter, t)).sort();
      assert.deepEqual(retainedMatches(index, filter), expected, filter);
    }
  });

  it('passes the stored value with its topic', () => {
    const index = new TopicIndex<never, { n: number }>();
    index.setRetained('a/1', { n: 1 });
    index.setRetained('a/2', { n: 2 });
    const seen: [string, number][] = [];
    index.matchRetained('a/+', (topic, value) => seen.push([topic, value.n]));
    assert.deepEqual(seen.sort(), [
      ['a/1', 1],
      ['a/2', 2],
    ]);
  });

  it('walks only the subtree the filter selects', () => {
    const index = new TopicIndex<number, number>();
    for (let i = 0; i < 10_000; i++) index.setRetained(`big/${i % 100}/${i}`, i);
    index.setRetained('small/a', 1);
    index.setRetained('small/b/c', 2);
    index.subscribe('c', 'small/x/y/z', 0);

    assert.deepEqual(retainedMatches(index, 'small/#'), ['small/a', 'small/b/c']);
    // root, small, small/a, small/b, small/b/c; the subscription-only branch small/x is skipped.
    assert.equal(index.lastMatchRetainedVisits, 5);
    assert.deepEqual(retainedMatches(index, 'big/7/8'), []);
    assert.equal(index.lastMatchRetainedVisits, 3);
    assert.deepEqual(retainedMatches(index, 'big/7/107'), ['big/7/107']);
    assert.equal(index.lastMatchRetainedVisits, 4);
    assert.deepEqual(retainedMatches(index, 'none/#'), []);
    assert.equal(index.lastMatchRetainedVisits, 1);
    assert.equal(retainedMatches(index, 'big/42/+').length, 100);
    assert.equal(index.lastMatchRetainedVisits, 103);
    assert.equal(retainedMatches(index, '#').length, 10_002);
  });

  it('lets the visitor delete what it visits', () => {
    const index = new TopicIndex<never, number>();
    for (let i = 0; i < 50; i++) index.setRetained(`t/${i % 5}/${i}`, i);
    let visited = 0;
    index.matchRetained('t/#', (topic) => {
      visited++;
      index.setRetained(topic, undefined);
    });
    assert.equal(visited, 50);
    assert.equal(index.retainedCount, 0);
    assert.equal(index.nodeCount, 0);
  });
});

describe('TopicIndex against the reference matcher (property)', () => {
  // A small alphabet so that random filters and topics collide often; `$x` exercises the $ rule.
  const topicLevel = fc.constantFrom('a', 'b', 'A', '', '$x');
  const topicArb = fc.array(topicLevel, { minLength: 1, maxLength: 4 }).map((l) => l.join('/'));
  const filterArb = fc
    .tuple(fc.array(fc.constantFrom('a', 'b', 'A', '', '$x', '+'), { maxLength: 4 }), fc.boolean())
    .filter(([levels, hash]) => levels.length > 0 || hash)
    .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'));

  it('match returns exactly the subscriptions whose filter matches', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(filterArb, { maxLength: 25 }),
        fc.array(topicArb, { maxLength: 10 }),
        (filters, topics) => {
          const index = new TopicIndex<string, never>();
          for (const [i, filter] of filters.entries()) index.subscribe(`c${i % 3}`, filter, filter);
          for (const topic of topics) {
            const expected = filters.filter((f) => topicMatches(f, topic)).sort();
            assert.deepEqual(matchedFilters(index, topic), expected, topic);
          }
        },
      ),
      { numRuns: 10_000, interruptAfterTimeLimit: 1500 },
    );
  });

  it('matchRetained visits exactly the retained topics the filter matches', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(topicArb, { maxLength: 25 }),
        fc.array(filterArb, { maxLength: 10 }),
        (topics, filters) => {
          const index = new TopicIndex<never, string>();
          for (const topic of topics) index.setRetained(topic, topic);
          for (const filter of filters) {
            const expected = topics.filter((t) => topicMatches(filter, t)).sort();
            assert.deepEqual(retainedMatches(index, filter), expected, filter);
          }
        },
      ),
      { numRuns: 10_000, interruptAfterTimeLimit: 1500 },
    );
  });
});

describe('TopicIndex mute', () => {
  it('a muted subscription is not matched, its misses are counted, and unmuting restores it', () => {
    const index = new TopicIndex<string, string>();
    index.subscribe('slow', 'a/+', 'slow-sub');
    index.subscribe('fast', 'a/+', 'fast-sub');
    assert.equal(index.mute('slow', 'a/+'), true);
    assert.equal(index.mute('slow', 'a/+'), false, 'already muted');
    const out: MatchResult<string> = { subscribers: [], shared: [] };
    for (let i = 0; i < 3; i++) {
      out.subscribers.length = 0;
      index.match('a/b', out);
      assert.deepEqual(
        out.subscribers.map((e) => e.clientId),
        ['fast'],
      );
    }
    assert.equal(index.subscriptionCount, 2, 'a muted subscription still counts');
    assert.equal(index.mutedMissed('slow', 'a/+'), 3, 'the misses so far, read without unmuting');
    assert.equal(index.mutedMissed('fast', 'a/+'), -1, 'an active subscription has none');
    assert.equal(index.unmute('slow', 'a/+'), 3, 'three messages missed');
    assert.equal(index.unmute('slow', 'a/+'), -1, 'not muted any more');
    out.subscribers.length = 0;
    index.match('a/b', out);
    assert.deepEqual(out.subscribers.map((e) => e.clientId).sort(), ['fast', 'slow']);
    index.mute('slow', 'a/+');
    assert.equal(index.unsubscribe('slow', 'a/+'), 'slow-sub', 'a muted subscription can be removed');
    index.unsubscribe('fast', 'a/+');
    assert.equal(index.nodeCount, 0, 'nothing left behind');
  });
});

/** Set or remove the subscriber of one of `clients` client ids (`c0`, `c1`, ...): a step against a Map model. */
function subscriberOp(clients: number) {
  const clientId = fc.integer({ min: 0, max: clients - 1 }).map((n) => `c${n}`);
  return fc.record({ remove: fc.boolean(), clientId, value: fc.integer() });
}

describe('SubscriberList (a node subscriber list)', () => {
  it('agrees with a Map through inserts, replacements and removals, short (scanned) and long (indexed)', () => {
    fc.assert(
      fc.property(fc.array(subscriberOp(20), { minLength: 20, maxLength: 120, size: 'max' }), (ops) => {
        const list = new SubscriberList<number>();
        const model = new Map<string, number>();
        for (const { remove, clientId, value } of ops) {
          if (remove) {
            assert.equal(list.delete(clientId)?.value, model.get(clientId));
            model.delete(clientId);
          } else {
            assert.equal(list.set(clientId, { clientId, value })?.value, model.get(clientId));
            model.set(clientId, value);
          }
          assert.equal(list.size, model.size);
          for (let n = 0; n < 20; n++) assert.equal(list.get(`c${n}`)?.value, model.get(`c${n}`));
          assert.deepEqual(list.items.map((e) => [e.clientId, e.value]).sort(), [...model].sort());
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('TopicNode plain subscribers (one held alone, a list from two on)', () => {
  it('agrees with a Map, and holds a lone subscriber without a list', () => {
    fc.assert(
      fc.property(fc.array(subscriberOp(12), { minLength: 1, maxLength: 80 }), (ops) => {
        const node = new TopicNode<number, never>(undefined, 'a', Slot.literal);
        const model = new Map<string, number>();
        for (const { remove, clientId, value } of ops) {
          if (remove) {
            assert.equal(node.deleteSubscriber(clientId)?.value, model.get(clientId));
            model.delete(clientId);
          } else {
            assert.equal(node.setSubscriber({ clientId, value })?.value, model.get(clientId));
            model.set(clientId, value);
          }
          assert.equal(node.subscriberCount, model.size);
          for (let n = 0; n < 12; n++) assert.equal(node.getSubscriber(`c${n}`)?.value, model.get(`c${n}`));
          assert.equal(
            node.subscribers instanceof SubscriberList,
            model.size > 1,
            'a list only for two or more',
          );
          assert.equal(node.subscribers === undefined, model.size === 0);
          assert.equal(node.isEmpty(), model.size === 0);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('keeps no side object for a node with neither muted subscribers nor shared groups', () => {
    const index = new TopicIndex<string, string>();
    index.subscribe('a', 't', 'a');
    index.subscribe('b', 't', 'b');
    index.subscribe('m', 't', 'm', 'g');
    index.mute('a', 't');
    const out: MatchResult<string> = { subscribers: [], shared: [] };
    index.match('t', out);
    assert.deepEqual(
      out.subscribers.map((e) => e.clientId),
      ['b'],
    );
    assert.deepEqual(
      out.shared.map((g) => g.group),
      ['g'],
    );
    assert.equal(index.unmute('a', 't'), 1);
    index.unsubscribe('m', 't', 'g');
    const node = (index as unknown as { root: TopicNode<string, string> }).root.children?.get('t');
    assert.equal(node?.extras, undefined, 'extras dropped once empty');
    assert.equal(node?.subscriberCount, 2);
  });
});
