/**
 * The admin API with admin users configured: login (cookie session), HTTP Basic, roles, CSRF on cookie
 * sessions, logout, rate-limited wrong passwords, and the live stream behind the same login.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import type { AdminUser } from '../../src/dashboard/admin-auth.js';
import type { StatsHistory, StatsPoint, WhoAmI } from '../../src/dashboard/wire-types.js';
import { basic, call, type DashboardBroker, emitter, startDashboardBroker, testUsers } from './harness.js';

/** Log in and return the cookie and CSRF token. */
async function login(
  baseUrl: string,
  username: string,
  password: string,
): Promise<{ cookie: string; token: string }> {
  const answer = await call<WhoAmI>(baseUrl, 'POST', '/api/v1/login', { body: { username, password } });
  assert.equal(answer.status, 200, `login as ${username}`);
  const setCookie = answer.headers.get('set-cookie') ?? '';
  assert.match(setCookie, /^starling_admin=[\w-]{40,}; Path=\/; HttpOnly; SameSite=Strict$/);
  return { cookie: setCookie.split(';')[0] ?? '', token: answer.body.csrfToken ?? '' };
}

describe('admin API: login, roles and CSRF', () => {
  let b: DashboardBroker;
  let users: AdminUser[];
  let client: MqttClient;

  before(async () => {
    users = await testUsers();
    b = await startDashboardBroker({ users, stats: { intervalMs: 200 } });
    assert.equal(b.dashboard.notice, undefined, 'nothing to warn about when users are configured');
    client = await mqtt.connectAsync(b.mqttUrl, { clientId: 'watched', reconnectPeriod: 0 });
  });
  after(async () => {
    await client.endAsync(true);
    await b.close();
  });

  test('no credentials: 401; scripts get a Basic challenge, the page (X-Requested-With) does not', async () => {
    const plain = await call<{ error: string }>(b.baseUrl, 'GET', '/api/v1/clients');
    assert.deepEqual([plain.status, plain.body.error], [401, 'login required']);
    assert.match(plain.headers.get('www-authenticate') ?? '', /^Basic realm="starling admin"/);
    const page = await call(b.baseUrl, 'GET', '/api/v1/clients', {
      headers: { 'x-requested-with': 'starling-dashboard' },
    });
    assert.equal(page.status, 401);
    assert.equal(page.headers.get('www-authenticate'), null);
    const who = await call<WhoAmI>(b.baseUrl, 'GET', '/api/v1/whoami');
    assert.deepEqual([who.status, who.body.authenticated], [200, false]);
    for (const path of [
      '/api/v1/sessions',
      '/api/v1/retained',
      '/api/v1/topics',
      '/api/v1/live',
      '/api/v1/stats/history',
    ]) {
      assert.equal((await call(b.baseUrl, 'GET', path)).status, 401, path);
    }
    for (const [method, path] of [
      ['POST', '/api/v1/clients/watched/disconnect'],
      ['POST', '/api/v1/publish'],
      ['DELETE', '/api/v1/retained/message?topic=a'],
      ['DELETE', '/api/v1/sessions/watched'],
    ] as const) {
      assert.equal(
        (await call(b.baseUrl, method, path, { body: { topic: 'a' } })).status,
        401,
        `${method} ${path}`,
      );
    }
    assert.equal(client.connected, true);
    // The page itself is public: it shows the login form.
    assert.equal((await fetch(`${b.baseUrl}/`)).status, 200);
  });

  test('a wrong password or an unknown user is refused with the same answer', async () => {
    for (const body of [
      { username: 'admin', password: 'nope' },
      { username: 'mallory', password: 'admin-pw' },
    ]) {
      const answer = await call<{ error: string }>(b.baseUrl, 'POST', '/api/v1/login', { body });
      assert.deepEqual([answer.status, answer.body.error], [401, 'wrong username or password']);
      assert.equal(answer.headers.get('set-cookie'), null);
    }
    const missing = await call<{ error: string }>(b.baseUrl, 'POST', '/api/v1/login', {
      body: { username: 'admin' },
    });
    assert.deepEqual([missing.status, missing.body.error], [400, "bad field 'password': must be a string"]);
    const crossSite = await call(b.baseUrl, 'POST', '/api/v1/login', {
      headers: { origin: 'http://evil.example' },
      body: { username: 'admin', password: 'admin-pw' },
    });
    assert.equal(crossSite.status, 403);
  });

  test('admin: a session cookie reads, and writes with its CSRF token', async () => {
    const { cookie, token } = await login(b.baseUrl, 'admin', 'admin-pw');
    const who = await call<WhoAmI>(b.baseUrl, 'GET', '/api/v1/whoami', { headers: { cookie } });
    assert.deepEqual(
      { ...who.body, csrfToken: who.body.csrfToken === token },
      { authenticated: true, username: 'admin', role: 'admin', mode: 'login', csrfToken: true },
    );
    assert.equal((await call(b.baseUrl, 'GET', '/api/v1/clients', { headers: { cookie } })).status, 200);
    const noToken = await call(b.baseUrl, 'POST', '/api/v1/publish', {
      headers: { cookie },
      body: { topic: 't' },
    });
    assert.equal(noToken.status, 403);
    const withToken = await call(b.baseUrl, 'POST', '/api/v1/publish', {
      headers: { cookie, 'x-csrf-token': token },
      body: { topic: 't' },
    });
    assert.equal(withToken.status, 200);
  });

  test('read-only: reads everything, may not disconnect, publish or delete', async () => {
    const { cookie, token } = await login(b.baseUrl, 'viewer', 'viewer-pw');
    const headers = { cookie, 'x-csrf-token': token };
    assert.equal((await call(b.baseUrl, 'GET', '/api/v1/clients/watched', { headers })).status, 200);
    const writes: [string, string, unknown][] = [
      ['POST', '/api/v1/clients/watched/disconnect', undefined],
      ['POST', '/api/v1/publish', { topic: 'x' }],
      ['DELETE', '/api/v1/retained/message?topic=x', undefined],
      ['DELETE', '/api/v1/sessions/watched', undefined],
    ];
    for (const [method, path, body] of writes) {
      const answer = await call<{ error: string }>(b.baseUrl, method, path, { headers, body });
      assert.equal(answer.status, 403, `${method} ${path}`);
      assert.equal(answer.body.error, "user 'viewer' has role read-only; this needs role admin");
    }
    assert.equal(client.connected, true);
    const basicWrite = await call(b.baseUrl, 'POST', '/api/v1/clients/watched/disconnect', {
      headers: basic('viewer', 'viewer-pw'),
    });
    assert.equal(basicWrite.status, 403);
  });

  test('HTTP Basic: right credentials work without a CSRF token (no cookie is involved); wrong ones are 401', async () => {
    const read = await call(b.baseUrl, 'GET', '/api/v1/sessions', { headers: basic('viewer', 'viewer-pw') });
    assert.equal(read.status, 200);
    const wrong = await call(b.baseUrl, 'GET', '/api/v1/sessions', { headers: basic('viewer', 'admin-pw') });
    assert.equal(wrong.status, 401);
    const other = await mqtt.connectAsync(b.mqttUrl, { clientId: 'basic-target', reconnectPeriod: 0 });
    const closed = once(emitter(other), 'close');
    const write = await call(b.baseUrl, 'POST', '/api/v1/clients/basic-target/disconnect', {
      headers: basic('admin', 'admin-pw'),
    });
    assert.equal(write.status, 200);
    await closed;
    const crossOrigin = await call(b.baseUrl, 'POST', '/api/v1/clients/watched/disconnect', {
      headers: { ...basic('admin', 'admin-pw'), origin: 'http://evil.example' },
    });
    assert.equal(crossOrigin.status, 403);
  });

  test('logout ends the session; removing a user ends theirs', async () => {
    const first = await login(b.baseUrl, 'admin', 'admin-pw');
    const out = await call(b.baseUrl, 'POST', '/api/v1/logout', {
      headers: { cookie: first.cookie, 'x-csrf-token': first.token },
    });
    assert.equal(out.status, 200);
    assert.match(out.headers.get('set-cookie') ?? '', /Max-Age=0/);
    assert.equal(
      (await call(b.baseUrl, 'GET', '/api/v1/clients', { headers: { cookie: first.cookie } })).status,
      401,
    );
    const viewer = await login(b.baseUrl, 'viewer', 'viewer-pw');
    b.dashboard.setUsers(users.filter((u) => u.username !== 'viewer'));
    try {
      assert.equal(
        (await call(b.baseUrl, 'GET', '/api/v1/clients', { headers: { cookie: viewer.cookie } })).status,
        401,
      );
    } finally {
      b.dashboard.setUsers(users);
    }
  });

  test('logging out ends the live stream it opened', async () => {
    const { cookie, token } = await login(b.baseUrl, 'viewer', 'viewer-pw');
    const response = await fetch(`${b.baseUrl}/api/v1/live`, { headers: { cookie } });
    assert.equal(response.status, 200);
    assert.ok(response.body !== null);
    const reader = response.body.getReader();
    const first = await reader.read();
    assert.equal(first.done, false);
    const out = await call(b.baseUrl, 'POST', '/api/v1/logout', {
      headers: { cookie, 'x-csrf-token': token },
    });
    assert.equal(out.status, 200);
    // The stream ends at its next sample (every 200 ms here) instead of sending it.
    let ended = false;
    const deadline = Date.now() + 5_000;
    while (!ended && Date.now() < deadline) ended = (await reader.read()).done;
    assert.equal(ended, true);
  });

  test('the live stream sends the history, then a sample each interval', async () => {
    const { cookie } = await login(b.baseUrl, 'viewer', 'viewer-pw');
    const controller = new AbortController();
    const response = await fetch(`${b.baseUrl}/api/v1/live`, {
      headers: { cookie },
      signal: controller.signal,
    });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    const events: { event: string; data: unknown }[] = [];
    const decoder = new TextDecoder();
    let buffer = '';
    assert.ok(response.body !== null);
    for await (const chunk of response.body) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true });
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event !== undefined && data !== undefined) events.push({ event, data: JSON.parse(data) });
        end = buffer.indexOf('\n\n');
      }
      if (events.length >= 3) break;
    }
    controller.abort();
    assert.equal(events[0]?.event, 'history');
    assert.equal((events[0]?.data as StatsHistory | undefined)?.intervalMs, 200);
    assert.deepEqual(
      events.slice(1).map((e) => e.event),
      ['sample', 'sample'],
    );
    const point = events[1]?.data as StatsPoint | undefined;
    assert.equal(point?.values.clients, 1);
    assert.ok((point?.t ?? 0) > Date.now() - 10_000);
  });
});

describe('admin API: wrong passwords are rate-limited per address', () => {
  let b: DashboardBroker;
  before(async () => {
    b = await startDashboardBroker({
      users: await testUsers(),
      auth: { loginLimits: { maxFailures: 3, lockoutMs: 30_000 } },
    });
  });
  after(() => b.close());

  test('the third wrong password locks the address out, even for the right one, with Retry-After', async () => {
    const attempt = (password: string) =>
      call<{ error: string }>(b.baseUrl, 'POST', '/api/v1/login', { body: { username: 'admin', password } });
    assert.equal((await attempt('one')).status, 401);
    assert.equal((await attempt('two')).status, 401);
    const third = await attempt('three');
    assert.equal(third.status, 429);
    assert.match(third.body.error, /too many wrong passwords from this address; try again in 30 s/);
    assert.equal(third.headers.get('retry-after'), '30');
    assert.equal(
      (await attempt('admin-pw')).status,
      429,
      'locked out: not even the right password is checked',
    );
    const viaBasic = await call(b.baseUrl, 'GET', '/api/v1/clients', { headers: basic('admin', 'admin-pw') });
    assert.equal(viaBasic.status, 429);
  });
});
