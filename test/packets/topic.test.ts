/** Topic Name and Topic Filter rules (spec 4.7) and shared subscription filters (spec 4.8.2). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isValidTopicFilter, isValidTopicName, parseSharedFilter } from '../../src/packets/index.js';

describe('isValidTopicName', () => {
  const valid = ['a', 'a/b', '/', '/a', 'a/', 'a//b', '$SYS/broker/uptime', ' ', 'é/€/😀', '$share/g/a'];
  for (const topic of valid) {
    test(`accepts ${JSON.stringify(topic)}`, () => assert.equal(isValidTopicName(topic), true));
  }
  const invalid = ['', 'a/+', '+', '#', 'a/#', 'a+b', 'a#', 'a\u0000b'];
  for (const topic of invalid) {
    test(`refuses ${JSON.stringify(topic)}`, () => assert.equal(isValidTopicName(topic), false));
  }
  test('refuses more than 65535 UTF-8 bytes, accepts exactly 65535', () => {
    assert.equal(isValidTopicName('x'.repeat(65_535)), true);
    assert.equal(isValidTopicName('x'.repeat(65_536)), false);
    // '€' is 3 bytes in UTF-8 but one UTF-16 code unit.
    assert.equal(isValidTopicName('€'.repeat(21_845)), true);
    assert.equal(isValidTopicName(`${'€'.repeat(21_845)}x`), false);
  });
});

describe('isValidTopicFilter', () => {
  const valid = [
    'a',
    'a/b',
    '#',
    '+',
    'a/#',
    'a/+/b',
    '+/+',
    '/+',
    '+/',
    '+/#',
    'a//b',
    '/a',
    '/',
    '//',
    '$SYS/#',
    '$share',
    '$sharex/a',
    '$share/g/a/#',
    '$share/g/#',
    '$share/group-1/+/x',
    '$share/g//',
    'é/+/€',
  ];
  for (const filter of valid) {
    test(`accepts ${JSON.stringify(filter)}`, () => assert.equal(isValidTopicFilter(filter), true));
  }
  const invalid = [
    '',
    'a/#/b',
    '#/a',
    'a+',
    '+a',
    '#a',
    'a#',
    'a/b#',
    '##',
    '++',
    'a/+b',
    'a/b+/c',
    'a\u0000',
    '$share/',
    '$share//a',
    '$share/g',
    '$share/g/',
    '$share/g+/a',
    '$share/g#/a',
    '$share/+/a',
    '$share/#/a',
    '$share/g/a/#/b',
    '$share/g/a+',
  ];
  for (const filter of invalid) {
    test(`refuses ${JSON.stringify(filter)}`, () => assert.equal(isValidTopicFilter(filter), false));
  }
  test('refuses more than 65535 UTF-8 bytes', () => {
    assert.equal(isValidTopicFilter(`${'a/'.repeat(32_767)}#`), true);
    assert.equal(isValidTopicFilter(`${'a/'.repeat(32_767)}ab`), false);
  });
});

describe('parseSharedFilter', () => {
  test('splits group and filter', () => {
    assert.deepEqual(parseSharedFilter('$share/g/a/b'), { group: 'g', filter: 'a/b' });
    assert.deepEqual(parseSharedFilter('$share/consumers/#'), { group: 'consumers', filter: '#' });
    assert.deepEqual(parseSharedFilter('$share/g//'), { group: 'g', filter: '/' });
  });
  test('returns undefined when not a shared filter', () => {
    assert.equal(parseSharedFilter('a/b'), undefined);
    assert.equal(parseSharedFilter('$share'), undefined);
    assert.equal(parseSharedFilter('$SHARE/g/a'), undefined);
    assert.equal(parseSharedFilter('$share/g'), undefined);
  });
  test('does not validate the parts (isValidTopicFilter does)', () => {
    assert.deepEqual(parseSharedFilter('$share//a'), { group: '', filter: 'a' });
    assert.deepEqual(parseSharedFilter('$share/g/'), { group: 'g', filter: '' });
  });
});
