/**
 * Property lists are encoded in identifier order whatever order the object's keys were set in, ignore
 * keys that are not properties, and report the same first error: the encoder walks only the keys present.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { decode, encode, MqttError, type Properties, type PublishPacket } from '../../src/packets/index.js';

function publish(properties: Properties): PublishPacket {
  return {
    type: 'publish',
    topic: 't',
    payload: Buffer.from('p'),
    qos: 0,
    retain: false,
    dup: false,
    properties,
  };
}

/** The same properties with their keys set in the given order. */
function reordered(properties: Properties, keys: readonly string[]): Properties {
  const source = properties as Record<string, unknown>;
  const copy: Record<string, unknown> = {};
  for (const key of keys) copy[key] = source[key];
  return copy as Properties;
}

const all: Properties = {
  payloadFormatIndicator: 1,
  messageExpiryInterval: 3600,
  contentType: 'application/json',
  responseTopic: 'replies/7',
  correlationData: Buffer.from([1, 2, 3]),
  subscriptionIdentifiers: [5, 300],
  topicAlias: 9,
  userProperties: [
    ['a', '1'],
    ['b', '2'],
  ],
};

describe('property encoding order', () => {
  test('writes identifiers in ascending order: explicit bytes for keys set in reverse', () => {
    const props = reordered({ topicAlias: 3, contentType: 'c', payloadFormatIndicator: 1 }, [
      'topicAlias',
      'contentType',
      'payloadFormatIndicator',
    ]);
    const bytes = encode(publish(props), 5);
    // fixed header, topic "t", then the property list: length 9, 0x01 1, 0x03 "c", 0x23 3, then payload.
    assert.deepEqual(
      bytes,
      Buffer.from([0x30, 14, 0, 1, 0x74, 9, 0x01, 1, 0x03, 0, 1, 0x63, 0x23, 0, 3, 0x70]),
    );
  });

  test('every key order of a publish property set gives the same bytes, which decode back', () => {
    const keys = Object.keys(all);
    const reference = encode(publish(all), 5);
    assert.deepEqual((decode(reference, 5) as PublishPacket).properties, all);
    fc.assert(
      fc.property(fc.shuffledSubarray(keys, { minLength: keys.length }), (order) => {
        assert.deepEqual(encode(publish(reordered(all, order)), 5), reference);
      }),
      { numRuns: 200 },
    );
  });

  test('keys that are not properties, or are undefined, are ignored', () => {
    const withExtra = { contentType: 'c', extra: 'x', responseTopic: undefined } as unknown as Properties;
    assert.deepEqual(encode(publish(withExtra), 5), encode(publish({ contentType: 'c' }), 5));
  });

  test('with several bad values the lowest identifier is reported, whatever the key order', () => {
    const bad = reordered({ topicAlias: 0, payloadFormatIndicator: 2 }, [
      'topicAlias',
      'payloadFormatIndicator',
    ]);
    assert.throws(
      () => encode(publish(bad), 5),
      (err: unknown) => err instanceof MqttError && /payloadFormatIndicator/.test(err.message),
    );
    const notAllowed = reordered({ contentType: 'c', sessionExpiryInterval: 5 }, [
      'contentType',
      'sessionExpiryInterval',
    ]);
    assert.throws(
      () => encode(publish(notAllowed), 5),
      (err: unknown) => err instanceof MqttError && /sessionExpiryInterval/.test(err.message),
    );
  });
});
