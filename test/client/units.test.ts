/**
 * Unit tests of the client's pure parts: topic matching, backoff, packet identifiers, queues, options.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { AsyncQueue } from '../../src/client/async-queue.js';
import { connackReasonCode } from '../../src/client/connack.js';
import { Inflight, type PublishEntry } from '../../src/client/inflight.js';
import {
  buildConnectPacket,
  parseEndpoint,
  randomClientId,
  resolveOptions,
} from '../../src/client/options.js';
import { backoffDelay, resolveReconnectPolicy, shouldReconnect } from '../../src/client/reconnect.js';
import { stripSharePrefix, topicMatches } from '../../src/client/subscription.js';
import { InboundTopicAliases, OutboundTopicAliases } from '../../src/client/topic-alias.js';
import { MqttError } from '../../src/packets/errors.js';
import type { PublishPacket } from '../../src/packets/types.js';

/** Straightforward reference matcher over split levels (spec 4.7). */
function referenceMatch(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

describe('topicMatches', () => {
  it('follows the spec examples', () => {
    const cases: [string, string, boolean][] = [
      ['sport/tennis/player1/#', 'sport/tennis/player1', true],
      ['sport/tennis/player1/#', 'sport/tennis/player1/ranking', true],
      ['sport/tennis/player1/#', 'sport/tennis/player1/score/wimbledon', true],
      ['sport/#', 'sport', true],
      ['#', 'a/b/c', true],
      ['sport/tennis/+', 'sport/tennis/player1', true],
      ['sport/tennis/+', 'sport/tennis/player1/ranking', false],
      ['sport/+', 'sport', false],
      ['sport/+', 'sport/', true],
      ['+/+', '/finance', true],
      ['/+', '/finance', true],
      ['+', '/finance', false],
      ['#', '$SYS/uptime', false],
      ['+/monitor/Clients', '$SYS/monitor/Clients', false],
      ['$SYS/#', '$SYS/monitor/Clients', true],
      ['$SYS/monitor/+', '$SYS/monitor/Clients', true],
      ['a/b', 'a/b', true],
      ['a/b', 'a/bc', false],
      ['a/bc', 'a/b', false],
      ['a//b', 'a//b', true],
      ['a/+/b', 'a//b', true],
    ];
    for (const [filter, topic, expected] of cases) {
      assert.equal(topicMatches(filter, topic), expected, `${filter} vs ${topic}`);
    }
  });

  it('agrees with a split-based reference on generated filters and topics', () => {
    const level = fc.constantFrom('a', 'b', '', 'ab', '$x');
    const topic = fc.array(level, { minLength: 1, maxLength: 4 }).map((l) => l.join('/'));
    const filter = fc
      .tuple(fc.array(fc.oneof(level, fc.constant('+')), { minLength: 1, maxLength: 4 }), fc.boolean())
      .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'));
    fc.assert(
      fc.property(filter, topic, (f, t) => topicMatches(f, t) === referenceMatch(f, t)),
      { numRuns: 3000 },
    );
  });

  it('matches shared subscriptions on the filter after the share name', () => {
    assert.equal(stripSharePrefix('$share/group/a/+'), 'a/+');
    assert.equal(stripSharePrefix('a/b'), 'a/b');
  });
});

describe('reconnect policy', () => {
  const policy = resolveReconnectPolicy(undefined);

  it('defaults to 1 s doubling to 30 s with full jitter', () => {
    assert.deepEqual(policy, { initialDelayMs: 1000, maxDelayMs: 30_000, factor: 2, jitter: 1 });
    assert.equal(resolveReconnectPolicy(false), undefined);
    assert.throws(() => resolveReconnectPolicy({ jitter: 2 }), RangeError);
    assert.throws(() => resolveReconnectPolicy({ initialDelayMs: 10, maxDelayMs: 5 }), RangeError);
  });

  it('grows exponentially up to the maximum, jitter taking up to the whole delay', () => {
    assert.ok(policy !== undefined);
    const none = { ...policy, jitter: 0 };
    assert.deepEqual(
      [1, 2, 3, 5, 6, 20].map((attempt) => backoffDelay(attempt, none)),
      [1000, 2000, 4000, 16_000, 30_000, 30_000],
    );
    assert.equal(
      backoffDelay(3, policy, () => 0),
      4000,
    );
    assert.equal(
      backoffDelay(3, policy, () => 0.5),
      2000,
    );
    assert.equal(
      backoffDelay(3, { ...policy, jitter: 0.25 }, () => 1),
      3000,
    );
  });

  it('does not retry refusals that cannot change by themselves', () => {
    assert.equal(shouldReconnect(new MqttError(0x87, 'not authorized')), false);
    assert.equal(shouldReconnect(new MqttError(0x8e, 'taken over')), false);
    assert.equal(shouldReconnect(new MqttError(0x89, 'busy')), true);
    assert.equal(shouldReconnect(new Error('ECONNREFUSED')), true);
  });
});

describe('Inflight packet identifiers', () => {
  const entry = (): PublishEntry => ({
    kind: 'publish',
    packet: { type: 'publish', topic: 't', payload: Buffer.alloc(0), qos: 1, retain: false, dup: false },
    awaiting: 'puback',
    resolve: () => undefined,
    reject: () => undefined,
  });

  it('allocates 1..65535, skips identifiers in use and wraps around', () => {
    const inflight = new Inflight();
    assert.equal(inflight.allocateId(), 1);
    inflight.add(1, entry());
    inflight.add(3, entry());
    assert.equal(inflight.allocateId(), 2);
    inflight.add(2, entry());
    assert.equal(inflight.allocateId(), 4);
    for (let id = 4; id <= 0xffff; id++) inflight.add(id, entry());
    assert.equal(inflight.allocateId(), undefined, 'all identifiers in use');
    inflight.delete(2);
    assert.equal(inflight.allocateId(), 2);
    assert.equal(inflight.publishCount, 0xffff - 1);
  });

  it('rejects everything sent and waiting', () => {
    const inflight = new Inflight();
    const errors: string[] = [];
    const failing = (name: string): PublishEntry => ({
      ...entry(),
      reject: (e) => errors.push(`${name}:${e.message}`),
    });
    inflight.add(5, failing('sent'));
    inflight.waiting.push(failing('waiting'));
    inflight.rejectAll(new Error('gone'));
    assert.deepEqual(errors, ['sent:gone', 'waiting:gone']);
    assert.equal(inflight.size, 0);
    assert.equal(inflight.waiting.length, 0);
  });
});

describe('AsyncQueue', () => {
  it('buffers up to its limit, dropping the oldest, then ends', async () => {
    const queue = new AsyncQueue<number>(3);
    for (let i = 1; i <= 5; i++) queue.push(i);
    queue.end();
    queue.push(6);
    const seen: number[] = [];
    for await (const n of queue) seen.push(n);
    assert.deepEqual(seen, [3, 4, 5]);
    assert.equal(queue.dropped, 2);
  });

  it('hands items to a waiting consumer and calls onReturn when the consumer breaks', async () => {
    let returned = 0;
    const queue = new AsyncQueue<string>(10, () => returned++);
    const next = queue.next();
    queue.push('a');
    assert.deepEqual(await next, { done: false, value: 'a' });
    queue.push('b');
    for await (const _ of queue) break;
    assert.equal(returned, 1);
    assert.deepEqual(await queue.next(), { done: true, value: undefined });
  });
});

describe('topic aliases', () => {
  it('assigns outbound aliases up to the maximum, committed once sent', () => {
    const aliases = new OutboundTopicAliases(2);
    assert.equal(aliases.lookup('a'), -1);
    assert.equal(aliases.lookup('a'), -1, 'not committed yet');
    aliases.commit('a', 1);
    assert.equal(aliases.lookup('a'), 1);
    aliases.commit('b', -aliases.lookup('b'));
    assert.equal(aliases.lookup('b'), 2);
    assert.equal(aliases.lookup('c'), 0);
    assert.deepEqual(aliases.properties(1, undefined), { topicAlias: 1 });
    assert.deepEqual(aliases.properties(2, { contentType: 'x' }), { contentType: 'x', topicAlias: 2 });
  });

  it('refuses an inbound alias used before it was mapped', () => {
    const aliases = new InboundTopicAliases(3);
    const packet: PublishPacket = {
      type: 'publish',
      topic: '',
      payload: Buffer.alloc(0),
      qos: 0,
      retain: false,
      dup: false,
      properties: { topicAlias: 1 },
    };
    assert.throws(
      () => aliases.resolve(packet),
      (e: unknown) => e instanceof MqttError && e.reasonCode === 0x82,
    );
  });
});

describe('options', () => {
  it('parses every URL scheme with its default port', () => {
    assert.deepEqual(
      ['mqtt://h', 'tcp://h:1', 'mqtts://h', 'ssl://h', 'ws://h/mqtt?x=1', 'wss://[::1]'].map((u) => {
        const e = parseEndpoint(u);
        return [e.kind, e.host, e.port, e.path];
      }),
      [
        ['tcp', 'h', 1883, '/'],
        ['tcp', 'h', 1, '/'],
        ['tls', 'h', 8883, '/'],
        ['tls', 'h', 8883, '/'],
        ['ws', 'h', 80, '/mqtt?x=1'],
        ['wss', '::1', 443, '/'],
      ],
    );
    assert.throws(() => parseEndpoint('http://h'), TypeError);
  });

  it('builds CONNECT from defaults, URL credentials and v5 options', () => {
    assert.match(randomClientId(), /^starling-[0-9a-f]{8}$/);
    const v3 = buildConnectPacket(resolveOptions('mqtt://user:p%40ss@h', { protocolVersion: 3 }), 'id');
    assert.equal(v3.protocolName, 'MQIsdp');
    assert.equal(v3.username, 'user');
    assert.equal(v3.password?.toString(), 'p@ss');
    assert.equal(v3.keepalive, 60);
    assert.equal(v3.clean, true);
    assert.equal(v3.properties, undefined);
    const v5 = buildConnectPacket(
      resolveOptions('mqtt://h', {
        clean: false,
        sessionExpiryInterval: 5,
        topicAliasMaximum: 4,
        properties: { requestProblemInformation: 1 },
      }),
      'id',
    );
    assert.equal(v5.protocolName, 'MQTT');
    assert.deepEqual(v5.properties, {
      requestProblemInformation: 1,
      sessionExpiryInterval: 5,
      topicAliasMaximum: 4,
    });
    assert.throws(() => resolveOptions('mqtt://h', { keepalive: 70_000 }), RangeError);
    assert.throws(
      () => resolveOptions('mqtt://h', { protocolVersion: 4, authenticationMethod: 'x' }),
      TypeError,
    );
  });

  it('maps v3 CONNACK return codes to v5 reason codes', () => {
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5].map((code) => connackReasonCode(code, 4)),
      [0x00, 0x84, 0x85, 0x88, 0x86, 0x87],
    );
    assert.equal(connackReasonCode(0x8c, 5), 0x8c);
  });
});
