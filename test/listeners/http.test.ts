import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { Broker } from '../../src/index.js';
import type { ListenerAddress } from '../../src/listeners/listener.js';

const portOf = (address: ListenerAddress | undefined): number => {
  assert.ok(address !== undefined && typeof address !== 'string');
  return address.port;
};

/** Parse Prometheus text: `name{labels}` -> value, and the TYPE of each metric. */
function parsePrometheus(text: string): { samples: Map<string, number>; types: Map<string, string> } {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const typeLine = /^# TYPE (\w+) (gauge|counter)$/.exec(line);
    if (typeLine !== null) {
      types.set(typeLine[1] as string, typeLine[2] as string);
      continue;
    }
    if (line.startsWith('# HELP ')) continue;
    const sample = /^(\w+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    assert.ok(sample !== null, `not a sample line: ${line}`);
    const value = Number(sample[2]);
    assert.ok(!Number.isNaN(value), `bad value in: ${line}`);
    samples.set(sample[1] as string, value);
  }
  return { samples, types };
}

describe('HTTP listener', () => {
  let broker: Broker;
  let mqttPort: number;
  let httpPort: number;

  before(async () => {
    broker = new Broker({
      // $SYS topics are retained; off here so the retained count is ours alone.
      sysInterval: 0,
      listeners: [
        { type: 'tcp', host: '127.0.0.1', port: 0 },
        { type: 'http', host: '127.0.0.1', port: 0, websocket: { path: '/ws' } },
      ],
    });
    const addresses = await broker.start();
    mqttPort = portOf(addresses[0]);
    httpPort = portOf(addresses[1]);
  });

  after(async () => {
    await broker.close();
  });

  const get = (path: string): Promise<Response> => fetch(`http://127.0.0.1:${httpPort}${path}`);

  test('GET /healthz is 200 while every listener is up', async () => {
    const res = await get('/healthz');
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'ok\n');
  });

  test('unknown paths are 404, other methods 405', async () => {
    assert.equal((await get('/nope')).status, 404);
    const post = await fetch(`http://127.0.0.1:${httpPort}/metrics`, { method: 'POST' });
    assert.equal(post.status, 405);
    await post.body?.cancel();
  });

  test('/metrics counts connections, subscriptions, retained and messages by QoS', async () => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, {
      reconnectPeriod: 0,
      clientId: 'metrics-1',
    });
    const viaWs = await mqtt.connectAsync(`ws://127.0.0.1:${httpPort}/ws`, {
      reconnectPeriod: 0,
      clientId: 'metrics-ws',
    });
    try {
      await client.subscribeAsync('m/#', { qos: 1 });
      await client.subscribeAsync('n/#', { qos: 0 });
      await client.publishAsync('m/retained', 'r', { qos: 1, retain: true });
      await viaWs.publishAsync('m/x', 'x', { qos: 0 });
      await viaWs.publishAsync('m/y', 'y', { qos: 1 });
      const res = await get('/metrics');
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const { samples, types } = parsePrometheus(await res.text());
      assert.equal(samples.get('starling_clients_connected'), 2);
      assert.equal(samples.get('starling_connections{listener="tcp"}'), 1);
      assert.equal(samples.get('starling_connections{listener="http"}'), 1);
      assert.equal(samples.get('starling_subscriptions'), 2);
      assert.equal(samples.get('starling_sessions'), 2);
      assert.equal(samples.get('starling_retained_messages'), 1);
      assert.equal(samples.get('starling_messages_received_total{qos="0"}'), 1);
      assert.equal(samples.get('starling_messages_received_total{qos="1"}'), 2);
      assert.equal(samples.get('starling_packets_received_total{type="subscribe"}'), 2);
      assert.ok((samples.get('starling_bytes_received_total') ?? 0) > 0);
      assert.ok((samples.get('starling_memory_bytes{kind="rss"}') ?? 0) > 0);
      assert.ok(samples.has('starling_event_loop_lag_seconds{stat="p99"}'));
      assert.ok(samples.has('starling_messages_dropped_total{reason="queue-full"}'));
      assert.equal(types.get('starling_messages_received_total'), 'counter');
      assert.equal(types.get('starling_clients_connected'), 'gauge');
    } finally {
      await client.endAsync();
      await viaWs.endAsync();
    }
  });

  test('/api/v1/stats is JSON with the same figures', async () => {
    const res = await get('/api/v1/stats');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json');
    const stats = (await res.json()) as {
      retainedMessages: number;
      messages: { receivedByQos: number[] };
      connections: { total: number };
    };
    assert.equal(stats.retainedMessages, 1);
    assert.deepEqual(stats.messages.receivedByQos, [1, 2, 0]);
    assert.equal(stats.connections.total, 2);
  });

  test('/healthz is 503 once a listener is down', async () => {
    const tcp = broker.listeners.find((l) => l.name === 'tcp');
    assert.ok(tcp !== undefined);
    await tcp.close();
    const res = await get('/healthz');
    assert.equal(res.status, 503);
    await res.body?.cancel();
  });
});
