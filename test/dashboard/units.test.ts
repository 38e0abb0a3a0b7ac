/**
 * The dashboard's pieces on their own: the wrong-password limiter (on a clock the test moves), query and
 * body checks, host and cookie parsing, paging, user validation, and the stats recorder's rates over a
 * real broker.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AdminAuth, cookieValue, isLoopbackHost } from '../../src/dashboard/admin-auth.js';
import {
  ApiRequestError,
  parsePublishBody,
  QueryParams,
  utf8OrUndefined,
} from '../../src/dashboard/api-params.js';
import { LoginLimiter } from '../../src/dashboard/login-limiter.js';
import { collectPage, containsFolded } from '../../src/dashboard/paging.js';
import { StatsRecorder } from '../../src/dashboard/stats-history.js';
import { hashPassword } from '../../src/hooks/password.js';
import { Broker } from '../../src/index.js';
import { adminPort } from '../../src/server/admin-port.js';
import { engineOf } from '../../src/server/broker.js';

describe('LoginLimiter', () => {
  test('locks an address out after maxFailures within the window; lockouts double; success clears', () => {
    let now = 1_000_000;
    const limiter = new LoginLimiter({ maxFailures: 3, windowMs: 10_000, lockoutMs: 5_000 }, () => now);
    assert.equal(limiter.failed('a'), 0);
    assert.equal(limiter.failed('a'), 0);
    assert.equal(limiter.retryAfterMs('a'), 0);
    assert.equal(limiter.failed('a'), 5_000);
    assert.equal(limiter.retryAfterMs('a'), 5_000);
    assert.equal(limiter.retryAfterMs('b'), 0, 'other addresses are not affected');
    now += 5_000;
    assert.equal(limiter.retryAfterMs('a'), 0);
    limiter.failed('a');
    limiter.failed('a');
    assert.equal(limiter.failed('a'), 10_000, 'the second lockout is twice as long');
    limiter.succeeded('a');
    assert.equal(limiter.retryAfterMs('a'), 0);
    assert.equal(limiter.failed('a'), 0, 'a success starts the count afresh');
  });

  test('failures older than the window do not count', () => {
    let now = 0;
    const limiter = new LoginLimiter({ maxFailures: 2, windowMs: 1_000 }, () => now);
    limiter.failed('a');
    now += 1_500;
    assert.equal(limiter.failed('a'), 0);
    assert.ok(limiter.failed('a') > 0);
  });
});

describe('QueryParams', () => {
  const params = (query: string) => new QueryParams(new URLSearchParams(query));
  const refuses = (fn: () => unknown, reason: RegExp) =>
    assert.throws(
      fn,
      (err: unknown) => err instanceof ApiRequestError && err.status === 400 && reason.test(err.message),
    );

  test('paging defaults and bounds', () => {
    assert.deepEqual(params('').page(), { offset: 0, limit: 50 });
    assert.deepEqual(params('offset=20&limit=500').page(), { offset: 20, limit: 500 });
    refuses(() => params('limit=1e3').page(), /'limit': must be an integer/);
    refuses(() => params('offset=99999999999').page(), /'offset': must be from 0/);
  });

  test('text, booleans, topics; unread parameters are refused by done()', () => {
    const q = params('search=a%20b&connected=false&topic=x/y&filter=x/%2B');
    assert.equal(q.text('search'), 'a b');
    assert.equal(q.boolean('connected'), false);
    assert.equal(q.topicName('topic'), 'x/y');
    assert.equal(q.topicFilter('filter', '#'), 'x/+');
    q.done();
    refuses(() => params('a=1').done(), /unknown parameter 'a'/);
    refuses(() => params('topic=').topicName('topic'), /'topic': must not be empty/);
    refuses(() => params('x=1&x=2'), /'x': given more than once/);
    assert.equal(params('').topicFilter('filter', '#'), '#');
  });

  test('publish bodies', () => {
    assert.deepEqual(parsePublishBody({ topic: 't' }), {
      topic: 't',
      payload: Buffer.alloc(0),
      qos: 0,
      retain: false,
    });
    const bytes = parsePublishBody({ topic: 't', payloadBase64: '3q2+7w==', qos: 2, retain: true });
    assert.deepEqual(
      [Buffer.from(bytes.payload).toString('hex'), bytes.qos, bytes.retain],
      ['deadbeef', 2, true],
    );
    assert.throws(() => parsePublishBody(null), /body must be a JSON object/);
    assert.throws(() => parsePublishBody({ topic: '' }), /not a valid topic name/);
    assert.throws(() => parsePublishBody({ topic: 't', payload: 5 }), /'payload': must be a string/);
  });

  test('payload text only when it is valid UTF-8', () => {
    assert.equal(utf8OrUndefined(Buffer.from('grüße')), 'grüße');
    assert.equal(utf8OrUndefined(Buffer.from([0xc3, 0x28])), undefined);
  });
});

describe('hosts, cookies, paging', () => {
  test('isLoopbackHost', () => {
    for (const host of ['localhost', 'localhost:8080', '127.0.0.1', '127.1.2.3:80', '[::1]', '[::1]:9000'])
      assert.equal(isLoopbackHost(host), true, host);
    for (const host of [
      undefined,
      '',
      'evil.example',
      '127.0.0.1.evil.example',
      '10.0.0.1:80',
      '[::2]',
      'localhost.evil',
    ])
      assert.equal(isLoopbackHost(host), false, String(host));
  });

  test('cookieValue', () => {
    assert.equal(cookieValue('a=1; starling_admin=xyz; b=2', 'starling_admin'), 'xyz');
    assert.equal(cookieValue('starling_admin_old=1', 'starling_admin'), undefined);
    assert.equal(cookieValue(undefined, 'starling_admin'), undefined);
  });

  test('collectPage counts every match and maps only the page', () => {
    const mapped: number[] = [];
    const page = collectPage(
      [1, 2, 3, 4, 5, 6, 7],
      { offset: 1, limit: 2 },
      (n) => n % 2 === 1,
      (n) => {
        mapped.push(n);
        return n * 10;
      },
    );
    assert.deepEqual(page, { items: [30, 50], total: 4, offset: 1, limit: 2 });
    assert.deepEqual(mapped, [3, 5]);
    assert.equal(containsFolded('Sensor-A', 'sor-a'), true);
    assert.equal(containsFolded(undefined, 'x'), false);
    assert.equal(containsFolded(undefined, ''), true);
  });
});

describe('AdminAuth users', () => {
  test('refuses duplicate names, plain-text passwords and unknown roles', async () => {
    const hash = await hashPassword('pw');
    assert.throws(
      () =>
        new AdminAuth([
          { username: 'a', password: hash, role: 'admin' },
          { username: 'a', password: hash, role: 'read-only' },
        ]),
      /listed twice/,
    );
    assert.throws(() => new AdminAuth([{ username: 'a', password: 'pw', role: 'admin' }]), /starling passwd/);
    assert.throws(
      () => new AdminAuth([{ username: 'a', password: hash, role: 'root' as 'admin' }]),
      /role must be admin or read-only/,
    );
    assert.equal(new AdminAuth([]).open, true);
    assert.match(new AdminAuth([]).notice ?? '', /no admin user configured/);
    assert.equal(new AdminAuth([{ username: 'a', password: hash, role: 'admin' }]).notice, undefined);
  });
});

describe('StatsRecorder', () => {
  test('turns counters into per-second rates and keeps at most `points` samples', async () => {
    const broker = new Broker({ sysInterval: 0 });
    const engine = engineOf(broker);
    const recorder = new StatsRecorder(
      adminPort(engine, { listeners: () => [], clusterNodes: async () => [] }),
      {
        points: 3,
      },
    );
    try {
      assert.equal(await recorder.sample(), undefined, 'the first read is the baseline');
      engine.stats.countPublishIn(1, 10);
      engine.stats.countPublishIn(1, 10);
      engine.stats.bytesReceived += 4096;
      engine.stats.dropped['queue-full'] += 3;
      engine.stats.refused['not-authorized'] += 2;
      await new Promise((r) => setTimeout(r, 100));
      const point = await recorder.sample();
      assert.ok(point !== undefined);
      const seconds = 2 / point.values.msgsInQos1;
      assert.ok(seconds >= 0.1 && seconds < 1, `rates are over the real interval (${seconds} s)`);
      assert.equal(point.values.msgsInQos0, 0);
      assert.ok(Math.abs(point.values.bytesIn - 4096 / seconds) < 1e-6);
      assert.ok(Math.abs(point.values.dropped - 3 / seconds) < 1e-6);
      assert.ok(Math.abs(point.values.refused - 2 / seconds) < 1e-6);
      assert.ok(point.values.rssBytes > 0 && point.values.heapUsedBytes > 0);
      for (let i = 0; i < 4; i++) await recorder.sample();
      const history = recorder.history();
      assert.equal(history.t.length, 3);
      assert.equal(history.series.msgsInQos1.length, 3);
      assert.deepEqual(history.series.msgsInQos1, [0, 0, 0], 'the old point with traffic has been dropped');
    } finally {
      recorder.stop();
      await broker.close();
    }
  });
});
