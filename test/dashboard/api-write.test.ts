/**
 * The admin API's write routes against a real broker, each checked from the MQTT side (MQTT.js sees its
 * disconnect, a subscriber gets the published message), and the CSRF rules every write obeys.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import mqtt, { type IClientOptions, type IDisconnectPacket, type MqttClient } from 'mqtt';
import type { Page, RetainedSummary, SessionSummary, WhoAmI } from '../../src/dashboard/wire-types.js';
import { engineOf } from '../../src/server/broker.js';
import { call, type DashboardBroker, emitter, startDashboardBroker, waitFor } from './harness.js';

describe('admin API: writes', () => {
  let b: DashboardBroker;
  let token = '';
  const clients: MqttClient[] = [];
  const connect = async (options: IClientOptions): Promise<MqttClient> => {
    const client = await mqtt.connectAsync(b.mqttUrl, { reconnectPeriod: 0, ...options });
    clients.push(client);
    return client;
  };
  const write = <T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => call<T>(b.baseUrl, method, path, { headers: { 'x-csrf-token': token, ...headers }, body });

  before(async () => {
    b = await startDashboardBroker();
    const who = await call<WhoAmI>(b.baseUrl, 'GET', '/api/v1/whoami');
    assert.equal(who.body.mode, 'open');
    assert.equal(who.body.role, 'admin');
    token = who.body.csrfToken ?? '';
    assert.ok(token.length >= 32);
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await b.close();
  });

  test('disconnect: the v5 client gets DISCONNECT 0x98 Administrative action; unknown ids are 404', async () => {
    const client = await connect({ clientId: 'victim', protocolVersion: 5 });
    const disconnected = once(emitter(client), 'disconnect') as Promise<[IDisconnectPacket]>;
    const { status, body } = await write('POST', '/api/v1/clients/victim/disconnect');
    assert.deepEqual([status, body], [200, { disconnected: 'victim' }]);
    const [packet] = await disconnected;
    assert.equal(packet.reasonCode, 0x98);
    const again = await write<{ error: string }>('POST', '/api/v1/clients/victim/disconnect');
    assert.deepEqual([again.status, again.body.error], [404, "client 'victim' is not connected"]);
  });

  test('a client id holding a slash is one path segment, percent-encoded', async () => {
    const client = await connect({ clientId: 'site/a#1', protocolVersion: 4 });
    const closed = once(emitter(client), 'close');
    const { status } = await write('POST', `/api/v1/clients/${encodeURIComponent('site/a#1')}/disconnect`);
    assert.equal(status, 200);
    await closed;
  });

  test('writes need the CSRF token, a same-origin page, and never happen on GET', async () => {
    const client = await connect({ clientId: 'kept', protocolVersion: 4 });
    const path = '/api/v1/clients/kept/disconnect';
    const noToken = await call<{ error: string }>(b.baseUrl, 'POST', path);
    assert.equal(noToken.status, 403);
    assert.match(noToken.body.error, /CSRF token/);
    const wrongToken = await write<{ error: string }>('POST', path, undefined, { 'x-csrf-token': 'guess' });
    assert.equal(wrongToken.status, 403);
    const crossOrigin = await write<{ error: string }>('POST', path, undefined, {
      origin: 'http://evil.example',
    });
    assert.equal(crossOrigin.status, 403);
    assert.match(crossOrigin.body.error, /cross-origin request refused/);
    const crossSite = await write<{ error: string }>('POST', path, undefined, {
      'sec-fetch-site': 'cross-site',
    });
    assert.equal(crossSite.status, 403);
    const viaGet = await call<{ error: string }>(b.baseUrl, 'GET', path);
    assert.deepEqual([viaGet.status, viaGet.body.error], [405, 'GET is not allowed here; use POST']);
    assert.equal(client.connected, true, 'none of the refused calls disconnected the client');
    const sameOrigin = await write('POST', path, undefined, {
      origin: b.baseUrl,
      'sec-fetch-site': 'same-origin',
    });
    assert.equal(sameOrigin.status, 200);
  });

  test('with no admin user, a request naming a non-loopback host is refused (DNS rebinding)', async () => {
    const url = new URL(`${b.baseUrl}/api/v1/clients`);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        { host: url.hostname, port: url.port, path: url.pathname, headers: { host: 'evil.example' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 403);
  });

  test('publish: a subscriber gets the message; retain stores it; base64 payloads are bytes', async () => {
    const subscriber = await connect({ clientId: 'listener-1' });
    await subscriber.subscribeAsync('dash/#', { qos: 1 });
    const got = once(emitter(subscriber), 'message') as Promise<[string, Buffer]>;
    const { status, body } = await write('POST', '/api/v1/publish', {
      topic: 'dash/one',
      payload: 'héllo',
      qos: 1,
    });
    assert.deepEqual([status, body], [200, { topic: 'dash/one', deliveries: 1 }]);
    const [topic, payload] = await got;
    assert.deepEqual([topic, payload.toString('utf8')], ['dash/one', 'héllo']);
    const binary = once(emitter(subscriber), 'message') as Promise<[string, Buffer]>;
    await write('POST', '/api/v1/publish', { topic: 'dash/bin', payloadBase64: 'AAH/', retain: true });
    assert.deepEqual((await binary)[1], Buffer.from([0, 1, 255]));
    const retained = await call<Page<RetainedSummary>>(b.baseUrl, 'GET', '/api/v1/retained?filter=dash/%23');
    assert.deepEqual(
      retained.body.items.map((r) => [r.topic, r.payloadBytes]),
      [['dash/bin', 3]],
    );
  });

  test('publish: bad bodies are refused with the reason', async () => {
    const cases: [unknown, number, RegExp][] = [
      [{ topic: 'a/+', payload: 'x' }, 400, /bad field 'topic': 'a\/\+' is not a valid topic name/],
      [{ payload: 'x' }, 400, /bad field 'topic': must be a string/],
      [{ topic: 'a', qos: 3 }, 400, /bad field 'qos': must be 0, 1 or 2, got 3/],
      [{ topic: 'a', retain: 'yes' }, 400, /bad field 'retain'/],
      [{ topic: 'a', payload: 'x', payloadBase64: 'eA==' }, 400, /not both/],
      [{ topic: 'a', payloadBase64: '%%%' }, 400, /bad field 'payloadBase64'/],
      [{ topic: 'a', colour: 'red' }, 400, /unknown field 'colour'/],
      [[1, 2], 400, /body must be a JSON object/],
      ['{"topic":', 400, /body is not valid JSON/],
    ];
    for (const [body, status, reason] of cases) {
      const answer = await write<{ error: string }>('POST', '/api/v1/publish', body);
      assert.equal(answer.status, status, JSON.stringify(body));
      assert.match(answer.body.error, reason, JSON.stringify(body));
    }
    // A form post (what another site's page can send without a preflight) is not JSON: refused.
    const form = await write<{ error: string }>('POST', '/api/v1/publish', 'topic=a', {
      'content-type': 'application/x-www-form-urlencoded',
    });
    assert.equal(form.status, 415);
  });

  test('delete retained: gone from the index, then 404', async () => {
    const publisher = await connect({ clientId: 'retain-src' });
    await publisher.publishAsync('keep/me', 'v', { retain: true, qos: 1 });
    const first = await write('DELETE', '/api/v1/retained/message?topic=keep/me');
    assert.deepEqual([first.status, first.body], [200, { deleted: 'keep/me' }]);
    assert.equal(engineOf(b.broker).index.getRetained('keep/me'), undefined);
    const second = await write<{ error: string }>('DELETE', '/api/v1/retained/message?topic=keep/me');
    assert.equal(second.status, 404);
    const bad = await write<{ error: string }>('DELETE', '/api/v1/retained/message?topic=keep/%23');
    assert.equal(bad.status, 400);
  });

  test('delete session: an offline session ends; a connected one is disconnected first', async () => {
    const sleeper = await connect({
      clientId: 'sleeper',
      clean: false,
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 300 },
    });
    await sleeper.subscribeAsync('x/#');
    await sleeper.endAsync();
    await waitFor(
      () => engineOf(b.broker).sessions.get('sleeper')?.link === undefined,
      2000,
      'sleeper offline',
    );
    const offline = await write('DELETE', '/api/v1/sessions/sleeper');
    assert.equal(offline.status, 200);
    assert.equal(engineOf(b.broker).sessions.has('sleeper'), false);
    const awake = await connect({
      clientId: 'awake',
      clean: false,
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 300 },
    });
    const closed = once(emitter(awake), 'close');
    const live = await write('DELETE', '/api/v1/sessions/awake');
    assert.equal(live.status, 200);
    await closed;
    assert.equal(engineOf(b.broker).sessions.has('awake'), false);
    const sessions = await call<Page<SessionSummary>>(b.baseUrl, 'GET', '/api/v1/sessions?search=awake');
    assert.equal(sessions.body.total, 0);
    assert.equal((await write('DELETE', '/api/v1/sessions/awake')).status, 404);
  });
});
