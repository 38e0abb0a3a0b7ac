/**
 * The Paho interoperability profile (examples/paho.yaml) loads and behaves as the suite expects: the
 * ACL refuses `test/nosubscribe` (0x80 in 3.1.1 and, with the compatibility switch, in 5.0), everything else
 * is allowed, and a client's keep alive is enforced with its will published. Also the settings the profile
 * documents: `serverKeepAlive` and the switch from the file, a flag and the environment.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { authFromConfig } from '../../src/config/auth.js';
import { ConfigError, loadConfig, optionsHelp } from '../../src/config/load.js';
import { Broker } from '../../src/index.js';
import type { ConnectPacket, ProtocolVersionNumber, QoS } from '../../src/packets/types.js';
import { connectPacket } from '../support/broker-harness.js';
import { RawClient } from '../support/raw-client.js';

const PROFILE = resolve('examples/paho.yaml');
const dir = mkdtempSync(join(tmpdir(), 'starling-paho-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Running {
  broker: Broker;
  port: number;
  clients: RawClient[];
}
let running: Running | undefined;
afterEach(async () => {
  if (running === undefined) return;
  for (const client of running.clients) client.destroy();
  await running.broker.close();
  running = undefined;
});

/** Start a broker the way `starling broker` does from `argv` (listener moved to 127.0.0.1, port 0). */
async function startFromConfig(argv: string[]): Promise<Running> {
  const config = loadConfig({ argv: [...argv, '--host', '127.0.0.1', '--port', '0'], env: {} });
  const broker = new Broker({ ...config.broker, listeners: config.listeners, sysInterval: 0 });
  const auth = await authFromConfig(config.auth, config.listeners);
  for (const hook of auth.hooks) await broker.addHook(hook);
  const [address] = await broker.start();
  assert.ok(address !== undefined && typeof address !== 'string');
  running = { broker, port: address.port, clients: [] };
  return running;
}

async function connect(
  r: Running,
  clientId: string,
  version: ProtocolVersionNumber,
  extra: Partial<ConnectPacket> = {},
): Promise<RawClient> {
  const client = await RawClient.open(r.port, version);
  r.clients.push(client);
  client.send(connectPacket(clientId, version, extra));
  const connack = await client.expectPacket('connack');
  assert.equal(connack.reasonCode, 0, `CONNACK for ${clientId}`);
  return client;
}

async function subscribeCodes(client: RawClient, filters: string[], qos: QoS = 2): Promise<number[]> {
  client.send({
    type: 'subscribe',
    packetId: 7,
    subscriptions: filters.map((topicFilter) => ({ topicFilter, qos })),
  });
  return (await client.expectPacket('suback')).reasonCodes;
}

describe('examples/paho.yaml', () => {
  test('loads: TCP listener, anonymous clients, the compatibility switch on, no server keep alive', () => {
    const config = loadConfig({ argv: ['--config', PROFILE], env: {} });
    assert.deepEqual(config.listeners, [{ type: 'tcp', host: '127.0.0.1', port: 1883 }]);
    assert.equal(config.auth.anonymous, true);
    assert.equal(config.broker.compatUnspecifiedSubscribeError, true);
    assert.equal(config.broker.serverKeepAlive, undefined);
  });

  test('subscribing to test/nosubscribe is refused with 0x80 in 5.0 and 3.1.1; other topics are granted', async () => {
    const r = await startFromConfig(['--config', PROFILE]);
    const v5 = await connect(r, 'myclientid', 5);
    assert.deepEqual(await subscribeCodes(v5, ['test/nosubscribe', 'TopicA/+', '#']), [0x80, 2, 2]);
    const v4 = await connect(r, 'myclientid2', 4);
    assert.deepEqual(await subscribeCodes(v4, ['test/nosubscribe', 'nosubscribe', '+/+']), [0x80, 0x80, 2]);
    // Publishing and receiving works under the ACL (the suite's basic test).
    v4.send({
      type: 'publish',
      topic: 'TopicA',
      payload: Buffer.from('qos 1'),
      qos: 1,
      packetId: 3,
      retain: false,
      dup: false,
    });
    assert.equal((await v4.expectPacket('puback')).packetId, 3);
    const delivered = await v5.expectPacket('publish');
    assert.equal(delivered.topic, 'TopicA');
  });

  test('without the switch, the same v5 refusal is 0x87 Not Authorized', async () => {
    const r = await startFromConfig(['--config', PROFILE, '--compat-unspecified-subscribe-error', 'false']);
    const v5 = await connect(r, 'myclientid', 5);
    assert.deepEqual(await subscribeCodes(v5, ['test/nosubscribe']), [0x87]);
  });

  test("keep alive as the suite checks it: the client's keep alive is enforced and its will published", async () => {
    const r = await startFromConfig(['--config', PROFILE]);
    // The suite uses keep alive 5 and waits 15 s; 1 s keeps the test short (closed after 1.5 s).
    const silent = await connect(r, 'keepalive-a', 5, {
      keepalive: 1,
      will: { topic: '/TopicA', payload: Buffer.from('keepalive expiry'), qos: 0, retain: false },
    });
    const watcher = await connect(r, 'keepalive-b', 5, { keepalive: 0 });
    assert.deepEqual(await subscribeCodes(watcher, ['/TopicA']), [2]);
    const will = await watcher.expectPacket('publish', 4000);
    assert.equal(will.payload.toString(), 'keepalive expiry');
    assert.equal((await silent.expectPacket('disconnect')).reasonCode, 0x8d);
    assert.equal(watcher.isClosed, false, 'keep alive 0 means never closed for silence');
  });
});

describe('serverKeepAlive and the compatibility switch as settings', () => {
  test('from the file (limits.serverKeepAlive, compatibility), the environment and a flag, in that precedence', () => {
    const file = join(dir, 'keepalive.yaml');
    writeFileSync(
      file,
      'limits:\n  serverKeepAlive: 30\ncompatibility:\n  unspecifiedSubscribeError: true\n',
    );
    const fromFile = loadConfig({ argv: ['--config', file], env: {} });
    assert.equal(fromFile.broker.serverKeepAlive, 30);
    assert.equal(fromFile.broker.compatUnspecifiedSubscribeError, true);
    const env = { STARLING_SERVER_KEEP_ALIVE: '20', STARLING_COMPAT_UNSPECIFIED_SUBSCRIBE_ERROR: 'false' };
    const fromEnv = loadConfig({ argv: ['--config', file], env });
    assert.equal(fromEnv.broker.serverKeepAlive, 20);
    assert.equal(fromEnv.broker.compatUnspecifiedSubscribeError, false);
    const fromFlag = loadConfig({ argv: ['--config', file, '--server-keep-alive', '10'], env });
    assert.equal(fromFlag.broker.serverKeepAlive, 10);
    assert.match(optionsHelp(), /--server-keep-alive S .*\[STARLING_SERVER_KEEP_ALIVE\]/);
    assert.match(optionsHelp(), /--compat-unspecified-subscribe-error BOOL/);
  });

  test('bad values are refused with the setting named', () => {
    assert.throws(() => loadConfig({ argv: ['--server-keep-alive', '70000'], env: {} }), ConfigError);
    assert.throws(
      () => loadConfig({ argv: ['--compat-unspecified-subscribe-error', 'yes'], env: {} }),
      /--compat-unspecified-subscribe-error must be true or false/,
    );
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'limits:\n  serverKeepAlive: -1\n');
    assert.throws(() => loadConfig({ argv: ['--config', file], env: {} }), /limits\.serverKeepAlive/);
  });

  test('--server-keep-alive reaches v5 clients in CONNACK and is enforced', async () => {
    const r = await startFromConfig(['--server-keep-alive', '1']);
    const client = await RawClient.open(r.port, 5);
    r.clients.push(client);
    client.send({
      type: 'connect',
      protocolName: 'MQTT',
      protocolVersion: 5,
      clean: true,
      keepalive: 60,
      clientId: 'imposed',
    });
    const connack = await client.expectPacket('connack');
    assert.equal(connack.properties?.serverKeepAlive, 1);
    assert.equal((await client.expectPacket('disconnect', 3500)).reasonCode, 0x8d);
  });
});
