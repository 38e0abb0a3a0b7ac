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
  test('[MQTT-4.7.3-3] refuses more than 65535 UTF-8 bytes, accepts exactly 65535', () => {
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
  test('[MQTT-4.7.3-3] refuses more than 65535 UTF-8 bytes', () => {
    assert.equal(isValidTopicFilter(`${'a/'.repeat(32_767)}#`), true);
    assert.equal(isValidTopicFilter(`${'a/'.repeat(32_767)}ab`), false);
  });
});

describe('topic rules shared by names and filters', () => {
  test('[MQTT-4.7.3-2] U+0000 anywhere refuses a name and a filter', () => {
    for (const value of ['\u0000', 'a\u0000', '\u0000/a', 'a/\u0000/b']) {
      assert.equal(isValidTopicName(value), false, JSON.stringify(value));
      assert.equal(isValidTopicFilter(value), false, JSON.stringify(value));
    }
    assert.equal(isValidTopicFilter('$share/g/a\u0000'), false);
    assert.equal(isValidTopicFilter('$share/g\u0000/a'), false);
  });
});

describe('shared subscription filters', () => {
  test('[MQTT-4.8.2-1] starts with $share/ and a ShareName of at least one character', () => {
    assert.equal(isValidTopicFilter('$share/g/a'), true);
    assert.equal(isValidTopicFilter('$share//a'), false);
    assert.equal(isValidTopicFilter('$share/'), false);
    // Not $share/ exactly: an ordinary filter, judged by the ordinary rules.
    assert.equal(isValidTopicFilter('$Share/g/a'), true);
    assert.equal(parseSharedFilter('$Share/g/a'), undefined);
  });
  test('[MQTT-4.8.2-2] the ShareName holds no / + #, and is followed by / and a valid filter', () => {
    for (const bad of ['$share/g+/a', '$share/+/a', '$share/#/a', '$share/g#/a', '$share/g', '$share/g/']) {
      assert.equal(isValidTopicFilter(bad), false, bad);
    }
    for (const bad of ['$share/g/a/#/b', '$share/g/a+', '$share/g/#a']) {
      assert.equal(isValidTopicFilter(bad), false, bad);
    }
    // The first '/' after the ShareName ends it, so a '/' can never be part of one.
    assert.deepEqual(parseSharedFilter('$share/g/h/a'), { group: 'g', filter: 'h/a' });
    for (const good of ['$share/g/#', '$share/g/+/a', '$share/g//']) {
      assert.equal(isValidTopicFilter(good), true, good);
    }
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
