/**
 * Client protocol behaviour against a scripted server: exact packet sequences a real broker does not
 * produce on demand (challenges, duplicates, silence, limits).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  type Client,
  type ClientEvent,
  type ClientOptions,
  connect,
  type Message,
} from '../../src/client/index.js';
import { MqttError } from '../../src/packets/errors.js';
import type { ConnackPacket, Properties } from '../../src/packets/types.js';
import { type ScriptedPeer, type ScriptedServer, startScriptedServer } from './scripted-server.js';

let server: ScriptedServer;
const clients: Client[] = [];

beforeEach(async () => {
  server = await startScriptedServer();
});

afterEach(async () => {
  for (const client of clients.splice(0)) await client.end({ timeoutMs: 200 });
  await server.stop();
});

/** Connects a client, answering its CONNECT with `connack` (reason 0 unless given). */
async function connectScripted(
  options: ClientOptions,
  connack: Partial<ConnackPacket> = {},
): Promise<{ client: Client; peer: ScriptedPeer }> {
  const connecting = connect(server.url, { reconnect: false, ...options });
  const peer = await server.accept();
  await peer.expect('connect');
  peer.send({ type: 'connack', sessionPresent: false, reasonCode: 0, ...connack });
  const client = await connecting;
  clients.push(client);
  return { client, peer };
}

function nextEvent(client: Client, type: ClientEvent['type']): Promise<ClientEvent> {
  return new Promise((resolve) => {
    const remove = client.onEvent((event) => {
      if (event.type === type) {
        remove();
        resolve(event);
      }
    });
  });
}

describe('client against a scripted server', { timeout: 10_000 }, () => {
  it('maps a v3.1.1 CONNACK return code to the v5 reason code', async () => {
    const connecting = connect(server.url, { protocolVersion: 4, reconnect: false });
    const peer = await server.accept();
    const packet = await peer.expect('connect');
    assert.equal(packet.protocolName, 'MQTT');
    assert.equal(packet.protocolVersion, 4);
    peer.send({ type: 'connack', sessionPresent: false, reasonCode: 4 });
    await assert.rejects(
      connecting,
      (error: unknown) => error instanceof MqttError && error.reasonCode === 0x86,
    );
  });

  it('rejects connect() when no CONNACK arrives within connectTimeoutMs', async () => {
    const connecting = connect(server.url, { reconnect: false, connectTimeoutMs: 150 });
    const peer = await server.accept();
    await peer.expect('connect');
    await assert.rejects(connecting, /no CONNACK within 150 ms/);
    await peer.closed;
  });

  it('sends the options in CONNECT and honours the server keep alive and assigned client id', async () => {
    const { client, peer } = await connectScripted(
      {
        clientId: '',
        keepalive: 30,
        sessionExpiryInterval: 10,
        receiveMaximum: 7,
        will: { topic: 'w', payload: 'bye', qos: 1, retain: true, properties: { willDelayInterval: 5 } },
        username: 'u',
        password: 'p',
        properties: { userProperties: [['x', 'y']] },
      },
      { properties: { assignedClientIdentifier: 'assigned-1', serverKeepAlive: 1 } },
    );
    assert.equal(client.clientId, 'assigned-1');
    // Server Keep Alive 1 s: a PINGREQ within about a second although we asked for 30.
    assert.equal((await peer.next(2000)).type, 'pingreq');
    peer.send({ type: 'pingresp' });
    assert.equal(client.status, 'connected');
  });

  it('drops the connection when PINGRESP does not come (0x8D) and reconnects', async () => {
    const connecting = connect(server.url, {
      keepalive: 1,
      reconnect: { initialDelayMs: 10, maxDelayMs: 10 },
    });
    const peer = await server.accept();
    await peer.expect('connect');
    peer.send({ type: 'connack', sessionPresent: false, reasonCode: 0 });
    const client = await connecting;
    clients.push(client);
    const disconnected = nextEvent(client, 'disconnected');
    await peer.expect('pingreq', 2000);
    const event = await disconnected;
    assert.ok(event.type === 'disconnected' && event.reason instanceof MqttError);
    assert.equal(event.reason.reasonCode, 0x8d);
    const disconnect = await peer.expect('disconnect');
    assert.equal(disconnect.reasonCode, 0x8d);
    const again = await server.accept();
    await again.expect('connect');
  });

  it('surfaces a server DISCONNECT reason code and reconnects', async () => {
    const connecting = connect(server.url, { reconnect: { initialDelayMs: 10, maxDelayMs: 10 } });
    const peer = await server.accept();
    await peer.expect('connect');
    peer.send({ type: 'connack', sessionPresent: false, reasonCode: 0 });
    const client = await connecting;
    clients.push(client);
    const disconnected = nextEvent(client, 'disconnected');
    const reconnecting = nextEvent(client, 'reconnecting');
    peer.send({ type: 'disconnect', reasonCode: 0x98, properties: { reasonString: 'admin' } });
    const event = await disconnected;
    assert.ok(event.type === 'disconnected' && event.reason instanceof MqttError);
    assert.equal(event.reason.reasonCode, 0x98);
    assert.match(event.reason.message, /admin/);
    assert.equal((await reconnecting).type, 'reconnecting');
    const again = await server.accept();
    await again.expect('connect');
  });

  it('resolves inbound topic aliases and refuses one beyond its maximum with 0x94', async () => {
    const { client, peer } = await connectScripted({ topicAliasMaximum: 2 });
    const received: Message[] = [];
    client.onMessage((m) => received.push(m));
    const closed = nextEvent(client, 'closed');
    peer.send({
      type: 'publish',
      topic: 'a/b',
      payload: Buffer.from('1'),
      qos: 0,
      retain: false,
      dup: false,
      properties: { topicAlias: 2 },
    });
    peer.send({
      type: 'publish',
      topic: '',
      payload: Buffer.from('2'),
      qos: 0,
      retain: false,
      dup: false,
      properties: { topicAlias: 2 },
    });
    peer.send({
      type: 'publish',
      topic: 'c',
      payload: Buffer.from('3'),
      qos: 0,
      retain: false,
      dup: false,
      properties: { topicAlias: 3 },
    });
    const disconnect = await peer.expect('disconnect');
    assert.equal(disconnect.reasonCode, 0x94);
    assert.deepEqual(
      received.map((m) => [m.topic, m.payload.toString()]),
      [
        ['a/b', '1'],
        ['a/b', '2'],
      ],
    );
    await closed;
  });

  it('delivers an inbound QoS 2 message once however often it is redelivered before PUBREL', async () => {
    const { client, peer } = await connectScripted({});
    const received: string[] = [];
    client.onMessage((m) => received.push(m.payload.toString()));
    const publish = {
      type: 'publish',
      topic: 't',
      payload: Buffer.from('x'),
      qos: 2,
      retain: false,
      packetId: 7,
    } as const;
    peer.send({ ...publish, dup: false });
    assert.equal((await peer.expect('pubrec')).packetId, 7);
    peer.send({ ...publish, dup: true });
    assert.equal((await peer.expect('pubrec')).packetId, 7);
    peer.send({ type: 'pubrel', packetId: 7 });
    assert.equal((await peer.expect('pubcomp')).packetId, 7);
    // After PUBREL the identifier is free: the same id now carries a new message.
    peer.send({ ...publish, payload: Buffer.from('y'), dup: false });
    await peer.expect('pubrec');
    assert.deepEqual(received, ['x', 'y']);
  });

  it("rejects publishes locally beyond the server's limits (0x95, 0x9B, 0x9A)", async () => {
    const { client, peer } = await connectScripted(
      {},
      { properties: { maximumPacketSize: 64, maximumQoS: 1, retainAvailable: 0 } },
    );
    const reason = (code: number) => (error: unknown) =>
      error instanceof MqttError && error.reasonCode === code;
    await assert.rejects(client.publish('t', Buffer.alloc(100)), reason(0x95));
    await assert.rejects(client.publish('t', Buffer.alloc(100), { qos: 1 }), reason(0x95));
    await assert.rejects(client.publish('t', 'x', { qos: 2 }), reason(0x9b));
    await assert.rejects(client.publish('t', 'x', { retain: true }), reason(0x9a));
    await assert.rejects(client.publish('a/+', 'x'), reason(0x90));
    await assert.rejects(client.subscribe('a/#/b'), reason(0x8f));
    const fits = client.publish('t', 'fits', { qos: 1 });
    const sent = await peer.expect('publish');
    assert.equal(sent.payload.toString(), 'fits');
    peer.send({ type: 'puback', packetId: sent.packetId ?? 0 });
    await fits;
  });

  it('rejects a publish with the reason code of a failed PUBACK / PUBREC', async () => {
    const { client, peer } = await connectScripted({});
    const one = client.publish('t', 'a', { qos: 1 });
    const two = client.publish('t', 'b', { qos: 2 });
    const p1 = await peer.expect('publish');
    const p2 = await peer.expect('publish');
    peer.send({
      type: 'puback',
      packetId: p1.packetId ?? 0,
      reasonCode: 0x87,
      properties: { reasonString: 'nope' },
    });
    peer.send({ type: 'pubrec', packetId: p2.packetId ?? 0, reasonCode: 0x97 });
    await assert.rejects(
      one,
      (e: unknown) => e instanceof MqttError && e.reasonCode === 0x87 && /nope/.test(e.message),
    );
    await assert.rejects(two, (e: unknown) => e instanceof MqttError && e.reasonCode === 0x97);
    // No PUBREL follows a failed PUBREC: the next packet is the PINGREQ-free next publish.
    const three = client.publish('t', 'c', { qos: 1 });
    const p3 = await peer.expect('publish');
    assert.notEqual(p3.packetId, undefined);
    peer.send({ type: 'puback', packetId: p3.packetId ?? 0 });
    await three;
  });

  it('waits for free Receive Maximum slots and sends in order', async () => {
    const { client, peer } = await connectScripted({}, { properties: { receiveMaximum: 2 } });
    const all = [1, 2, 3, 4].map((i) => client.publish('t', `${i}`, { qos: 1 }));
    const first = await peer.expect('publish');
    const second = await peer.expect('publish');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(peer.pending.length, 0, 'a third publish went out beyond Receive Maximum 2');
    assert.equal(client.inflightCount, 2);
    peer.send({ type: 'puback', packetId: first.packetId ?? 0 });
    const third = await peer.expect('publish');
    assert.equal(third.payload.toString(), '3');
    assert.notEqual(third.packetId, second.packetId, 'packet identifiers in flight never collide');
    peer.send({ type: 'puback', packetId: second.packetId ?? 0 });
    peer.send({ type: 'puback', packetId: third.packetId ?? 0 });
    const fourth = await peer.expect('publish');
    assert.equal(fourth.payload.toString(), '4');
    peer.send({ type: 'puback', packetId: fourth.packetId ?? 0 });
    await Promise.all(all);
  });

  it('resends unacknowledged PUBLISH (DUP) and PUBREL in order on a resumed session', async () => {
    const connecting = connect(server.url, {
      clean: false,
      reconnect: { initialDelayMs: 10, maxDelayMs: 10 },
    });
    const peer = await server.accept();
    await peer.expect('connect');
    peer.send({ type: 'connack', sessionPresent: false, reasonCode: 0 });
    const client = await connecting;
    clients.push(client);
    const done = [
      client.publish('t', 'q2', { qos: 2 }),
      client.publish('t', 'q1-a', { qos: 1 }),
      client.publish('t', 'q1-b', { qos: 1 }),
    ];
    const q2 = await peer.expect('publish');
    const a = await peer.expect('publish');
    const b = await peer.expect('publish');
    peer.send({ type: 'pubrec', packetId: q2.packetId ?? 0 });
    await peer.expect('pubrel');
    peer.destroy();
    const again = await server.accept();
    const reconnect = await again.expect('connect');
    assert.equal(reconnect.clean, false);
    again.send({ type: 'connack', sessionPresent: true, reasonCode: 0 });
    const pubrel = await again.expect('pubrel');
    assert.equal(pubrel.packetId, q2.packetId);
    const ra = await again.expect('publish');
    const rb = await again.expect('publish');
    assert.deepEqual([ra.packetId, ra.dup, ra.payload.toString()], [a.packetId, true, 'q1-a']);
    assert.deepEqual([rb.packetId, rb.dup, rb.payload.toString()], [b.packetId, true, 'q1-b']);
    again.send({ type: 'pubcomp', packetId: q2.packetId ?? 0 });
    again.send({ type: 'puback', packetId: a.packetId ?? 0 });
    again.send({ type: 'puback', packetId: b.packetId ?? 0 });
    await Promise.all(done);
  });

  it('runs an enhanced authentication exchange on connect and on reauthenticate()', async () => {
    const challenges: string[] = [];
    const connecting = connect(server.url, {
      reconnect: false,
      authenticationMethod: 'TEST-CHALLENGE',
      authenticationData: Buffer.from('hello'),
      auth: async ({ method, data, reasonCode }) => {
        assert.equal(method, 'TEST-CHALLENGE');
        assert.equal(reasonCode, 0x18);
        challenges.push(data?.toString() ?? '');
        return Buffer.from(`answer to ${data?.toString()}`);
      },
    });
    const peer = await server.accept();
    const packet = await peer.expect('connect');
    assert.equal(packet.properties?.authenticationMethod, 'TEST-CHALLENGE');
    assert.equal(packet.properties?.authenticationData?.toString(), 'hello');
    const method: Properties = { authenticationMethod: 'TEST-CHALLENGE' };
    peer.send({
      type: 'auth',
      reasonCode: 0x18,
      properties: { ...method, authenticationData: Buffer.from('c1') },
    });
    const answer = await peer.expect('auth');
    assert.equal(answer.reasonCode, 0x18);
    assert.equal(answer.properties?.authenticationData?.toString(), 'answer to c1');
    peer.send({ type: 'connack', sessionPresent: false, reasonCode: 0, properties: method });
    const client = await connecting;
    clients.push(client);

    const reauth = client.reauthenticate(Buffer.from('again'));
    const start = await peer.expect('auth');
    assert.equal(start.reasonCode, 0x19);
    assert.equal(start.properties?.authenticationData?.toString(), 'again');
    peer.send({
      type: 'auth',
      reasonCode: 0x18,
      properties: { ...method, authenticationData: Buffer.from('c2') },
    });
    assert.equal((await peer.expect('auth')).properties?.authenticationData?.toString(), 'answer to c2');
    peer.send({ type: 'auth', reasonCode: 0x00, properties: method });
    await reauth;
    assert.deepEqual(challenges, ['c1', 'c2']);
  });

  it('closes the connection with a Protocol Error on a packet before CONNACK', async () => {
    const connecting = connect(server.url, { reconnect: false });
    const peer = await server.accept();
    await peer.expect('connect');
    peer.send({ type: 'puback', packetId: 1 });
    await assert.rejects(
      connecting,
      (error: unknown) => error instanceof MqttError && error.reasonCode === 0x82,
    );
    assert.equal((await peer.expect('disconnect')).reasonCode, 0x82);
  });

  it('ends with DISCONNECT carrying the reason code and properties, rejecting what is in flight', async () => {
    const { client, peer } = await connectScripted({ sessionExpiryInterval: 30 });
    const pending = client.publish('t', 'never acked', { qos: 1 });
    await peer.expect('publish');
    const ending = client.end({
      reasonCode: 0x04,
      sessionExpiryInterval: 0,
      properties: { reasonString: 'bye' },
    });
    const disconnect = await peer.expect('disconnect');
    assert.equal(disconnect.reasonCode, 0x04);
    assert.equal(disconnect.properties?.sessionExpiryInterval, 0);
    assert.equal(disconnect.properties?.reasonString, 'bye');
    peer.destroy();
    await ending;
    await assert.rejects(pending, /client closed/);
    assert.equal(client.status, 'closed');
    await assert.rejects(client.publish('t', 'late'), /client closed/);
  });
});

/** A throwaway self-signed certificate for localhost / 127.0.0.1. */
function selfSignedCertificate(): { key: Buffer; cert: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'starling-tls-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
      ].concat([
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
      ]),
      { stdio: 'ignore' },
    );
    return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('client over TLS', { timeout: 10_000 }, () => {
  it('connects with mqtts:// when the CA is trusted and refuses an untrusted certificate', async () => {
    const certificate = selfSignedCertificate();
    const tlsServer = await startScriptedServer(certificate);
    try {
      await assert.rejects(connect(tlsServer.url, { reconnect: false }), /self[- ]signed/i);
      const connecting = connect(`mqtts://localhost:${tlsServer.port}`, {
        reconnect: false,
        ca: certificate.cert,
      });
      // The refused attempt never completed its handshake, so this is the first secure connection.
      const peer = await tlsServer.accept();
      await peer.expect('connect');
      peer.send({ type: 'connack', sessionPresent: false, reasonCode: 0 });
      const client = await connecting;
      const published = client.publish('over/tls', 'secret', { qos: 1 });
      const publish = await peer.expect('publish');
      assert.equal(publish.payload.toString(), 'secret');
      peer.send({ type: 'puback', packetId: publish.packetId ?? 0 });
      await published;
      await client.end({ timeoutMs: 200 });
    } finally {
      await tlsServer.stop();
    }
  });
});
