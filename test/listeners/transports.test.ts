import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { WebSocket } from 'ws';
import type { ConnectionFacts } from '../../src/broker/port.js';
import type { ClientInfo } from '../../src/index.js';
import { Broker } from '../../src/index.js';
import type { ListenerAddress } from '../../src/listeners/listener.js';
import { encode } from '../../src/packets/index.js';
import { engineOf, listenersOf } from '../../src/server/broker.js';
import { waitFor } from '../support/raw-client.js';
import { makeTestPki, type TestPki } from './certs.js';

const portOf = (address: ListenerAddress | undefined): number => {
  assert.ok(address !== undefined && typeof address !== 'string');
  return address.port;
};

/** Subscribe, publish to the same topic, and return what came back. */
async function echo(client: MqttClient, topic: string): Promise<string> {
  await client.subscribeAsync(topic, { qos: 1 });
  const received = new Promise<string>((resolve) =>
    client.once('message', (_t, payload) => resolve(payload.toString())),
  );
  await client.publishAsync(topic, `hello ${topic}`, { qos: 1 });
  return received;
}

/** Run a mosquitto_sub that exits after one message (or 5 s); resolves to its stdout and exit code. */
function mosquittoSub(args: string[]): { done: Promise<{ stdout: string; code: number | null }> } {
  const child = spawn('mosquitto_sub', [...args, '-C', '1', '-W', '5'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  const done = once(child, 'exit').then(([code]) => ({ stdout, code: code as number | null }));
  return { done };
}

const subscriptionCount = (broker: Broker): number => {
  let n = 0;
  for (const session of engineOf(broker).sessions.values()) n += session.subscriptions.size;
  return n;
};

describe('listeners from the `listeners` option', () => {
  let pki: TestPki;
  let broker: Broker;
  let addresses: ListenerAddress[];
  const seen: { listener: string; facts: ConnectionFacts }[] = [];
  const socketPath = (): string => join(pki.dir, 'mqtt.sock');

  before(async () => {
    pki = makeTestPki();
    broker = new Broker({
      listeners: [
        { type: 'tcp', host: '127.0.0.1', port: 0 },
        {
          type: 'tls',
          host: '127.0.0.1',
          port: 0,
          cert: pki.cert,
          key: pki.key,
          ca: pki.ca,
          clientCertificates: 'optional',
        },
        { type: 'ws', host: '127.0.0.1', port: 0 },
        { type: 'wss', host: '127.0.0.1', port: 0, cert: pki.cert, key: pki.key, path: '/secure' },
        { type: 'unix', path: join(pki.dir, 'mqtt.sock') },
        {
          type: 'tls',
          name: 'tls-strict',
          host: '127.0.0.1',
          port: 0,
          cert: pki.cert,
          key: pki.key,
          ca: pki.ca,
          clientCertificates: 'required',
        },
      ],
    });
    await broker.addHook({
      onConnect(client: ClientInfo) {
        seen.push({
          listener: client.listener,
          facts: (client as unknown as { facts: ConnectionFacts }).facts,
        });
      },
    });
    addresses = await broker.start();
  });

  after(async () => {
    await broker.close();
    pki.remove();
  });

  test('every listener is up, named after its kind unless named', () => {
    assert.deepEqual(
      listenersOf(broker).map((l) => [l.name, l.kind, l.listening]),
      [
        ['tcp', 'tcp', true],
        ['tls', 'tls', true],
        ['ws', 'ws', true],
        ['wss', 'wss', true],
        ['unix', 'unix', true],
        ['tls-strict', 'tls', true],
      ],
    );
    assert.equal(addresses[4], socketPath());
  });

  test('a second listener with the same name is refused', async () => {
    const { TcpListener } = await import('../../src/listeners/tcp.js');
    await assert.rejects(
      broker.addListener(new TcpListener({ type: 'tcp', host: '127.0.0.1', port: 0 })),
      /already exists/,
    );
  });

  test('MQTT.js over mqtt://', async () => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${portOf(addresses[0])}`, {
      reconnectPeriod: 0,
    });
    try {
      assert.equal(await echo(client, 'tcp/t'), 'hello tcp/t');
    } finally {
      await client.endAsync();
    }
  });

  test('MQTT.js over mqtts:// with and without a client certificate', async () => {
    const port = portOf(addresses[1]);
    const anonymous = await mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, {
      ca: pki.ca,
      reconnectPeriod: 0,
      clientId: 'tls-anon',
    });
    const withCert = await mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, {
      ca: pki.ca,
      cert: pki.clientCert,
      key: pki.clientKey,
      reconnectPeriod: 0,
      clientId: 'tls-cert',
      protocolVersion: 5,
    });
    try {
      assert.equal(await echo(anonymous, 'tls/a'), 'hello tls/a');
      assert.equal(await echo(withCert, 'tls/b'), 'hello tls/b');
      const certFacts = seen
        .filter((s) => s.listener === 'tls')
        .map((s) => s.facts.peerCertificate as { subject?: { CN?: string } } | undefined);
      assert.equal(certFacts.length, 2);
      assert.equal(certFacts[0], undefined);
      assert.equal(certFacts[1]?.subject?.CN, 'test-client');
    } finally {
      await anonymous.endAsync();
      await withCert.endAsync();
    }
  });

  test('a listener requiring client certificates refuses a client without one', async () => {
    const port = portOf(addresses[5]);
    const client = mqtt.connect(`mqtts://127.0.0.1:${port}`, {
      ca: pki.ca,
      reconnectPeriod: 0,
      connectTimeout: 3000,
    });
    const err = await new Promise<Error>((resolve) => client.once('error', resolve));
    client.end(true);
    assert.match(err.message, /certificate|handshake|alert|socket|ECONNRESET/i);
    const good = await mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, {
      ca: pki.ca,
      cert: pki.clientCert,
      key: pki.clientKey,
      reconnectPeriod: 0,
    });
    await good.endAsync();
  });

  test('MQTT.js over ws:// on the default path and wss:// on a custom path', async () => {
    const ws = await mqtt.connectAsync(`ws://127.0.0.1:${portOf(addresses[2])}/mqtt`, {
      reconnectPeriod: 0,
      protocolVersion: 5,
    });
    const wss = await mqtt.connectAsync(`wss://127.0.0.1:${portOf(addresses[3])}/secure`, {
      ca: pki.ca,
      reconnectPeriod: 0,
    });
    try {
      assert.equal(await echo(ws, 'ws/t'), 'hello ws/t');
      assert.equal(await echo(wss, 'wss/t'), 'hello wss/t');
      const headers = seen.filter((s) => s.listener === 'ws').at(-1)?.facts.headers;
      assert.equal(headers?.['sec-websocket-protocol'], 'mqtt');
    } finally {
      await ws.endAsync();
      await wss.endAsync();
    }
  });

  test('[MQTT-6.0.0-2] WebSocket: a packet split over frames, several packets in one frame, mqttv3.1 negotiated', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${portOf(addresses[2])}/mqtt`, ['mqttv3.1']);
    await once(ws, 'open');
    assert.equal(ws.protocol, 'mqttv3.1');
    const received: Buffer[] = [];
    ws.on('message', (data: Buffer) => received.push(data));
    const connect = encode(
      {
        type: 'connect',
        protocolName: 'MQTT',
        protocolVersion: 4,
        clientId: 'ws-raw',
        clean: true,
        keepalive: 30,
      },
      4,
    );
    // CONNECT in three frames.
    ws.send(connect.subarray(0, 3));
    ws.send(connect.subarray(3, 10));
    ws.send(connect.subarray(10));
    await waitFor(() => received.length >= 1, 2000, 'CONNACK');
    assert.deepEqual([...(received[0] as Buffer)], [0x20, 0x02, 0x00, 0x00]);
    // Two PINGREQ in one frame: two PINGRESP.
    ws.send(Buffer.from([0xc0, 0x00, 0xc0, 0x00]));
    await waitFor(() => Buffer.concat(received.slice(1)).length >= 4, 2000, 'two PINGRESP');
    assert.deepEqual([...Buffer.concat(received.slice(1))], [0xd0, 0x00, 0xd0, 0x00]);
    ws.close();
  });

  test('[MQTT-6.0.0-1] [MQTT-6.0.0-4] WebSocket: "mqtt" selected; a text frame closes the connection; other paths get 404', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${portOf(addresses[2])}/mqtt`, ['mqtt']);
    await once(ws, 'open');
    assert.equal(ws.protocol, 'mqtt');
    ws.send('not binary');
    const [code] = (await once(ws, 'close')) as [number];
    assert.equal(code, 1003);
    const wrong = new WebSocket(`ws://127.0.0.1:${portOf(addresses[2])}/elsewhere`, ['mqtt']);
    const [, response] = (await once(wrong, 'unexpected-response')) as [unknown, { statusCode: number }];
    assert.equal(response.statusCode, 404);
    wrong.on('error', () => {});
    wrong.terminate();
  });

  test('mosquitto_sub over TLS', async () => {
    const before = subscriptionCount(broker);
    const sub = mosquittoSub([
      '-h',
      '127.0.0.1',
      '-p',
      String(portOf(addresses[1])),
      '--cafile',
      pki.caPath,
      '-t',
      'mosq/tls',
    ]);
    await waitFor(() => subscriptionCount(broker) > before, 5000, 'mosquitto_sub subscribed');
    broker.publish('mosq/tls', 'over tls', { qos: 1 });
    const { stdout, code } = await sub.done;
    assert.equal(code, 0);
    assert.equal(stdout.trim(), 'over tls');
  });

  test('mosquitto_sub over the Unix socket', async () => {
    const before = subscriptionCount(broker);
    const sub = mosquittoSub(['--unix', socketPath(), '-t', 'mosq/unix']);
    await waitFor(() => subscriptionCount(broker) > before, 5000, 'mosquitto_sub subscribed');
    broker.publish('mosq/unix', 'over unix', { qos: 0 });
    const { stdout, code } = await sub.done;
    assert.equal(code, 0);
    assert.equal(stdout.trim(), 'over unix');
    assert.ok(seen.some((s) => s.listener === 'unix'));
  });
});

describe('start() failures', () => {
  test('a listener that cannot bind makes start reject and leaves nothing open', async () => {
    const first = new Broker({ listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }] });
    const [address] = await first.start();
    const second = new Broker({
      listeners: [
        { type: 'ws', host: '127.0.0.1', port: 0 },
        { type: 'tcp', host: '127.0.0.1', port: portOf(address) },
      ],
    });
    try {
      await assert.rejects(second.start(), /EADDRINUSE/);
      assert.equal(listenersOf(second).length, 0);
    } finally {
      await second.close();
      await first.close();
    }
  });
});
