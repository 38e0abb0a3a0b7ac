/**
 * The admin API's read routes against a real broker with MQTT.js clients: what each route reports, paging
 * and search, and a 400 naming the parameter for every kind of bad input. No admin user is configured and
 * the tests call from loopback, so no login is needed here (api-auth.test.ts covers login).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type {
  ClientSummary,
  ListenerInfo,
  Page,
  RetainedMessageView,
  RetainedSummary,
  SessionDetails,
  SessionSummary,
  StatsHistory,
  SubscriptionInfo,
  TopicNodeInfo,
} from '../../src/dashboard/wire-types.js';
import { call, type DashboardBroker, startDashboardBroker, waitFor } from './harness.js';

describe('admin API: reads', () => {
  let b: DashboardBroker;
  const clients: MqttClient[] = [];
  const connect = async (options: IClientOptions): Promise<MqttClient> => {
    const client = await mqtt.connectAsync(b.mqttUrl, { reconnectPeriod: 0, ...options });
    clients.push(client);
    return client;
  };
  const get = <T>(path: string) => call<T>(b.baseUrl, 'GET', path);

  before(async () => {
    b = await startDashboardBroker({ stats: { intervalMs: 200 } });
    const alpha = await connect({ clientId: 'alpha-1', username: 'ann', protocolVersion: 5, keepalive: 30 });
    await alpha.subscribeAsync('sensors/+/temp', { qos: 1 });
    await alpha.subscribeAsync('$share/g1/jobs/#', { qos: 0 });
    await connect({ clientId: 'beta-2', protocolVersion: 4, keepalive: 0 });
    // An offline session that lives on: a v5 client with an expiry and a will, gone away.
    const gone = await connect({
      clientId: 'gamma-offline',
      protocolVersion: 5,
      clean: false,
      properties: { sessionExpiryInterval: 600 },
    });
    await gone.subscribeAsync('alerts/#', { qos: 2 });
    await gone.endAsync();
    const publisher = await connect({ clientId: 'retainer' });
    await publisher.publishAsync('sensors/kitchen/temp', '21.5', { retain: true, qos: 1 });
    await publisher.publishAsync('sensors/hall/temp', Buffer.from([0xff, 0xfe, 0x00]), { retain: true });
    await publisher.publishAsync('status', 'up', { retain: true });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await b.close();
  });

  test('clients: each connected client with its protocol, keep alive and subscription count', async () => {
    const { status, body } = await get<Page<ClientSummary>>('/api/v1/clients');
    assert.equal(status, 200);
    assert.deepEqual(body.items.map((c) => c.clientId).sort(), ['alpha-1', 'beta-2', 'retainer']);
    assert.equal(body.total, 3);
    const alpha = body.items.find((c) => c.clientId === 'alpha-1');
    assert.ok(alpha !== undefined);
    assert.equal(alpha.username, 'ann');
    assert.equal(alpha.protocolVersion, 5);
    assert.equal(alpha.keepAlive, 30);
    assert.equal(alpha.subscriptions, 2);
    assert.equal(alpha.listener, 'tcp');
    assert.equal(alpha.remoteAddress, '127.0.0.1');
    assert.ok(Math.abs(alpha.connectedAt - Date.now()) < 60_000);
    const beta = body.items.find((c) => c.clientId === 'beta-2');
    assert.equal(beta?.protocolVersion, 4);
    assert.equal(beta?.keepAlive, 0);
  });

  test('clients: search by id, user and address; paging keeps the total', async () => {
    const ids = async (query: string) =>
      (await get<Page<ClientSummary>>(`/api/v1/clients?${query}`)).body.items.map((c) => c.clientId).sort();
    assert.deepEqual(await ids('search=ALPHA'), ['alpha-1']);
    assert.deepEqual(await ids('search=ann'), ['alpha-1']);
    assert.deepEqual(await ids('search=127.0.0'), ['alpha-1', 'beta-2', 'retainer']);
    assert.deepEqual(await ids('search=nobody'), []);
    const pages = [];
    for (let offset = 0; offset < 3; offset++) {
      const { body } = await get<Page<ClientSummary>>(`/api/v1/clients?limit=1&offset=${offset}`);
      assert.equal(body.total, 3);
      assert.equal(body.items.length, 1);
      pages.push(body.items[0]?.clientId);
    }
    assert.deepEqual(pages.sort(), ['alpha-1', 'beta-2', 'retainer']);
    const past = await get<Page<ClientSummary>>('/api/v1/clients?offset=10');
    assert.deepEqual([past.body.items.length, past.body.total], [0, 3]);
  });

  test('bad paging and unknown parameters are a 400 that names the parameter', async () => {
    const cases: [string, RegExp][] = [
      ['/api/v1/clients?limit=abc', /bad parameter 'limit': must be an integer/],
      ['/api/v1/clients?limit=0', /bad parameter 'limit': must be from 1 to 500, got 0/],
      ['/api/v1/clients?limit=501', /bad parameter 'limit'/],
      ['/api/v1/clients?offset=-1', /bad parameter 'offset'/],
      ['/api/v1/clients?offset=1.5', /bad parameter 'offset'/],
      ['/api/v1/clients?limit=1&limit=2', /bad parameter 'limit': given more than once/],
      ['/api/v1/clients?serch=alpha', /unknown parameter 'serch'/],
      ['/api/v1/sessions?connected=maybe', /bad parameter 'connected': must be true or false/],
      ['/api/v1/clients/alpha-1?items=lots', /bad parameter 'items'/],
      ['/api/v1/retained?filter=a/%23/b', /bad parameter 'filter': 'a\/#\/b' is not a valid topic filter/],
      ['/api/v1/retained/message', /missing parameter 'topic'/],
      ['/api/v1/retained/message?topic=a/%2B', /bad parameter 'topic': 'a\/\+' is not a valid topic name/],
      ['/api/v1/topics?parent=a%2Bb', /bad parameter 'parent'/],
      ['/api/v1/clients/%E0%A4%A', /not valid percent-encoding/],
    ];
    for (const [path, reason] of cases) {
      const { status, body } = await get<{ error: string }>(path);
      assert.equal(status, 400, path);
      assert.match(body.error, reason, path);
    }
  });

  test('client details: 200 with the session for a connected client, 404 otherwise', async () => {
    const { status, body } = await get<SessionDetails>('/api/v1/clients/alpha-1');
    assert.equal(status, 200);
    assert.equal(body.client?.clientId, 'alpha-1');
    assert.deepEqual(body.subscriptionList.map((s) => s.topicFilter).sort(), [
      '$share/g1/jobs/#',
      'sensors/+/temp',
    ]);
    const offline = await get<{ error: string }>('/api/v1/clients/gamma-offline');
    assert.equal(offline.status, 404);
    assert.match(offline.body.error, /not connected/);
    assert.equal((await get('/api/v1/clients/nobody')).status, 404);
  });

  test('sessions: connected and offline, filtered; details of an offline session', async () => {
    const all = await get<Page<SessionSummary>>('/api/v1/sessions');
    assert.deepEqual(all.body.items.map((s) => s.clientId).sort(), [
      'alpha-1',
      'beta-2',
      'gamma-offline',
      'retainer',
    ]);
    const offline = await get<Page<SessionSummary>>('/api/v1/sessions?connected=false');
    assert.deepEqual(
      offline.body.items.map((s) => s.clientId),
      ['gamma-offline'],
    );
    assert.equal(offline.body.items[0]?.expiryInterval, 600);
    assert.ok(offline.body.items[0]?.disconnectedAt !== undefined);
    const online = await get<Page<SessionSummary>>('/api/v1/sessions?connected=true&search=BETA');
    assert.deepEqual(
      online.body.items.map((s) => s.clientId),
      ['beta-2'],
    );
    const details = await get<SessionDetails>('/api/v1/sessions/gamma-offline');
    assert.equal(details.status, 200);
    assert.equal(details.body.connected, false);
    assert.equal(details.body.client, undefined);
    assert.ok(details.body.expiresAt !== undefined && details.body.expiresAt > Date.now());
    assert.deepEqual(
      details.body.subscriptionList.map((s) => [s.topicFilter, s.qos]),
      [['alerts/#', 2]],
    );
    assert.equal((await get('/api/v1/sessions/nobody')).status, 404);
  });

  test('session details cap each list at `items`', async () => {
    const { body } = await get<SessionDetails>('/api/v1/sessions/alpha-1?items=1');
    assert.equal(body.subscriptions, 2);
    assert.equal(body.subscriptionList.length, 1);
  });

  test('subscriptions: over all sessions, by client and by filter text, with their options', async () => {
    const all = await get<Page<SubscriptionInfo>>('/api/v1/subscriptions');
    assert.equal(all.body.total, 3);
    const shared = all.body.items.find((s) => s.topicFilter === '$share/g1/jobs/#');
    assert.equal(shared?.shareGroup, 'g1');
    assert.equal(shared?.clientId, 'alpha-1');
    const byClient = await get<Page<SubscriptionInfo>>('/api/v1/subscriptions?clientId=gamma-offline');
    assert.deepEqual(
      byClient.body.items.map((s) => s.topicFilter),
      ['alerts/#'],
    );
    const byText = await get<Page<SubscriptionInfo>>('/api/v1/subscriptions?search=temp');
    assert.deepEqual(
      byText.body.items.map((s) => [s.clientId, s.topicFilter, s.qos]),
      [['alpha-1', 'sensors/+/temp', 1]],
    );
  });

  test('retained: listed by filter, sorted and paged; one message with its payload as text or base64', async () => {
    const all = await get<Page<RetainedSummary>>('/api/v1/retained');
    assert.deepEqual(
      all.body.items.map((r) => r.topic),
      ['sensors/hall/temp', 'sensors/kitchen/temp', 'status'],
    );
    const sensors = await get<Page<RetainedSummary>>(
      '/api/v1/retained?filter=sensors/%2B/temp&limit=1&offset=1',
    );
    assert.deepEqual(
      [sensors.body.total, sensors.body.items.map((r) => r.topic)],
      [2, ['sensors/kitchen/temp']],
    );
    const text = await get<RetainedMessageView>('/api/v1/retained/message?topic=sensors/kitchen/temp');
    assert.equal(text.status, 200);
    assert.deepEqual([text.body.payloadText, text.body.qos, text.body.payloadBytes], ['21.5', 1, 4]);
    const binary = await get<RetainedMessageView>('/api/v1/retained/message?topic=sensors/hall/temp');
    assert.equal(binary.body.payloadText, undefined);
    assert.deepEqual(Buffer.from(binary.body.payloadBase64, 'base64'), Buffer.from([0xff, 0xfe, 0x00]));
    assert.equal((await get('/api/v1/retained/message?topic=nothing/here')).status, 404);
  });

  test('topics: the tree one level at a time, with retained and subscription counts', async () => {
    const root = await get<Page<TopicNodeInfo>>('/api/v1/topics');
    const levels = new Map(root.body.items.map((n) => [n.level, n]));
    assert.ok(levels.has('sensors') && levels.has('status') && levels.has('alerts') && levels.has('jobs'));
    assert.equal(levels.get('sensors')?.retainedBelow, 2);
    assert.equal(levels.get('status')?.retained, true);
    const wild = await get<Page<TopicNodeInfo>>('/api/v1/topics?parent=sensors');
    assert.deepEqual(
      wild.body.items.map((n) => n.path),
      ['sensors/hall', 'sensors/kitchen', 'sensors/+'],
    );
    const plusTemp = await get<Page<TopicNodeInfo>>('/api/v1/topics?parent=sensors/%2B');
    assert.deepEqual(
      plusTemp.body.items.map((n) => [n.path, n.subscriptions]),
      [['sensors/+/temp', 1]],
    );
    const missing = await get<{ error: string }>('/api/v1/topics?parent=no/such');
    assert.equal(missing.status, 404);
  });

  test('listeners and cluster', async () => {
    const { body } = await get<{ items: ListenerInfo[] }>('/api/v1/listeners');
    const byName = new Map(body.items.map((l) => [l.name, l]));
    assert.equal(byName.get('tcp')?.address, new URL(b.mqttUrl).host);
    assert.equal(byName.get('http')?.address, new URL(b.baseUrl).host);
    assert.equal(byName.get('tcp')?.connections, 3);
    assert.ok(body.items.every((l) => l.listening));
    assert.deepEqual((await get('/api/v1/cluster')).body, { clustered: false, items: [] });
  });

  test('stats history: one column per series, moving once traffic flows', async () => {
    const publisher = clients.find((c) => c.options.clientId === 'retainer');
    assert.ok(publisher !== undefined);
    await waitFor(
      async () => {
        await publisher.publishAsync('load/x', 'x');
        const { body } = await get<StatsHistory>('/api/v1/stats/history');
        for (const column of Object.values(body.series)) assert.equal(column.length, body.t.length);
        return (body.series.msgsInQos0.at(-1) ?? 0) > 0 && body.series.clients.at(-1) === 3;
      },
      5_000,
      'a message rate in the history',
    );
  });

  test('the listener keeps /api/v1/stats, /healthz and /metrics; other API paths are 404/405 in JSON', async () => {
    const stats = await get<{ connections: { clients: number } }>('/api/v1/stats');
    assert.equal(stats.body.connections.clients, 3);
    assert.equal((await fetch(`${b.baseUrl}/healthz`)).status, 200);
    assert.match(await (await fetch(`${b.baseUrl}/metrics`)).text(), /starling_clients_connected 3/);
    const missing = await get<{ error: string }>('/api/v1/nope');
    assert.deepEqual([missing.status, missing.body.error], [404, 'no such API route: /api/v1/nope']);
    const wrong = await call<{ error: string }>(b.baseUrl, 'PUT', '/api/v1/clients');
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get('allow'), 'GET');
    assert.equal((await fetch(`${b.baseUrl}/not-the-dashboard`)).status, 404);
  });
});
