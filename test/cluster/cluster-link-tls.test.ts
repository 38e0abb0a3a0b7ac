/**
 * TLS on the nodes' direct links (`linkTls`): nodes with certificates of one CA link over mutual TLS and
 * their messages take the link; a peer without such a certificate, or a plain node, is not linked (one
 * warning each side, not one per attempt) and the messages go through Redis. What crosses a TLS link shows
 * neither topics nor payloads to someone in between.
 */
import assert from 'node:assert/strict';
import { type AddressInfo, createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createServer as createTlsServer, connect as tlsConnect } from 'node:tls';
import type { BrokerLogger } from '../../src/broker/logger.js';
import type { NodeInfo } from '../../src/cluster/backend.js';
import { type LinkTls, linkSockets } from '../../src/cluster/link-sockets.js';
import { NodeLinks, parseLinkAddress } from '../../src/cluster/node-links.js';
import type { ClusterNodeInfo } from '../../src/dashboard/wire-types.js';
import { call } from '../dashboard/harness.js';
import { makeTestPki, type TestPki } from '../listeners/certs.js';
import { type RedisServer, startRedis } from '../support/redis.js';
import { Client, clusterOf, type Node, routeKnown, startNode, until } from './cluster-harness.js';

let pki: TestPki;
let otherPki: TestPki;
let redis: RedisServer;
const nodes: Node[] = [];
const clients: Client[] = [];

before(async () => {
  pki = makeTestPki();
  otherPki = makeTestPki('another-ca');
  redis = await startRedis();
});

after(async () => {
  for (const client of clients.splice(0)) await client.end().catch(() => undefined);
  await Promise.all(nodes.splice(0).map((n) => n.broker.close()));
  await redis?.stop();
  pki?.remove();
  otherPki?.remove();
});

/** A node's link TLS: the server certificate of `of`, or its client certificate (both signed by its CA). */
function tlsOf(of: TestPki, which: 'server' | 'client' = 'server'): LinkTls {
  return which === 'server'
    ? { cert: of.cert, key: of.key, ca: of.ca }
    : { cert: of.clientCert, key: of.clientKey, ca: of.ca };
}

/** The warnings a node logged about its links. */
function linkWarnings(): { logger: BrokerLogger; about(node: string): string[] } {
  const seen: { node: unknown; reason: unknown; msg: string | undefined }[] = [];
  const logger: BrokerLogger = {
    info() {},
    debug() {},
    error() {},
    warn(obj, msg) {
      const { node, reason } = obj as { node?: unknown; reason?: unknown };
      seen.push({ node, reason, msg });
    },
  };
  return {
    logger,
    about: (node) =>
      seen.filter((w) => w.msg === 'cluster link refused' && w.node === node).map((w) => String(w.reason)),
  };
}

async function node(
  id: string,
  prefix: string,
  linkTls: LinkTls | undefined,
  logger: BrokerLogger,
  http = false,
): Promise<Node> {
  const made = await startNode(
    redis,
    id,
    prefix,
    { logger, ...(http ? { dashboard: { users: [] } } : {}) },
    linkTls === undefined ? {} : { linkTls },
  );
  nodes.push(made);
  return made;
}

async function client(on: Node, clientId: string): Promise<Client> {
  const made = await Client.connect(on, { clientId });
  clients.push(made);
  return made;
}

const framesSent = (n: Node): number => clusterOf(n.broker)?.links?.framesSent ?? -1;
const linked = (from: Node, to: Node): boolean => clusterOf(from.broker)?.links?.ready(to.id) === true;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * QoS 0, then QoS 1 messages published on `from` reach a subscriber on `to`, in order; the frames `from`
 * had sent over its links before, after the QoS 0 ones, and after all.
 */
async function crosses(
  from: Node,
  to: Node,
  tag: string,
): Promise<{ before: number; afterQos0: number; after: number }> {
  const sub = await client(to, `${tag}-sub`);
  await sub.subscribe(`${tag}/#`, 1);
  await routeKnown([from, to], to, `${tag}/#`);
  const pub = await client(from, `${tag}-pub`);
  const before = framesSent(from);
  for (let i = 0; i < 3; i++) await pub.publish(`${tag}/q0`, `${tag}-zero-${i}`, 0);
  await until(() => sub.received.length === 3, `3 QoS 0 messages from ${from.id} at ${to.id}`);
  const afterQos0 = framesSent(from);
  for (let i = 0; i < 3; i++) await pub.publish(`${tag}/q1`, `${tag}-one-${i}`, 1);
  await until(() => sub.received.length === 6, `3 QoS 1 messages from ${from.id} at ${to.id}`);
  assert.deepEqual(
    sub.payloads(`${tag}/q0`),
    [0, 1, 2].map((i) => `${tag}-zero-${i}`),
  );
  assert.deepEqual(
    sub.payloads(`${tag}/q1`),
    [0, 1, 2].map((i) => `${tag}-one-${i}`),
  );
  return { before, afterQos0, after: framesSent(from) };
}

/** The first frame on `socket` (type, body length), or undefined when it closes or stays silent for `ms`. */
function firstFrame(socket: Socket, ms = 1500): Promise<{ type: number; length: number } | undefined> {
  return new Promise((resolve) => {
    let bytes = Buffer.alloc(0);
    const timer = setTimeout(() => resolve(undefined), ms);
    socket.on('data', (chunk: Buffer) => {
      bytes = Buffer.concat([bytes, chunk]);
      if (bytes.length < 4 || bytes.length < 4 + bytes.readUInt32BE(0)) return;
      clearTimeout(timer);
      resolve({ type: bytes[4] as number, length: bytes.readUInt32BE(0) - 1 });
    });
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
}

/** What `node`'s link port answers a TLS client with `creds` (no certificate of its own when absent). */
async function tlsAnswer(node: Node, creds: { cert?: Buffer; key?: Buffer; ca: Buffer }) {
  const address = clusterOf(node.broker)?.links?.address;
  assert.ok(address !== undefined);
  const socket = tlsConnect({ ...parseLinkAddress(address), ...creds, checkServerIdentity: () => undefined });
  try {
    return await firstFrame(socket);
  } finally {
    socket.destroy();
  }
}

describe('TLS on the cluster links', () => {
  test('two nodes with certificates of one CA: QoS 0 and 1 take the link, which speaks TLS only', async () => {
    const logA = linkWarnings();
    const logB = linkWarnings();
    const a = await node('tls-a', 'tls1:', tlsOf(pki, 'server'), logA.logger);
    const b = await node('tls-b', 'tls1:', tlsOf(pki, 'client'), logB.logger);
    await until(() => linked(b, a) && linked(a, b), 'both linked', 10_000);
    // QoS 0 takes a link 100 ms after it opened.
    await sleep(150);
    const early = () => clusterOf(a.broker)?.stats.earlyDelivered ?? 0;
    const earlyBefore = early();
    const frames = await crosses(b, a, 'over');
    assert.ok(frames.afterQos0 > frames.before, 'the QoS 0 messages went over the link');
    assert.ok(frames.after > frames.afterQos0, 'the QoS 1 copies went over the link');
    assert.ok(early() > earlyBefore, 'A delivered QoS 1 copies that came over the link');
    assert.deepEqual([logA.about(b.id), logB.about(a.id)], [[], []], 'no link warnings');

    // A's link port: TLS only, mutual.
    const address = clusterOf(a.broker)?.links?.address;
    assert.ok(address !== undefined);
    const plain = netConnect(parseLinkAddress(address));
    assert.equal(await firstFrame(plain), undefined, 'a plain connection gets no CHALLENGE');
    plain.destroy();
    assert.deepEqual(
      await tlsAnswer(a, { cert: pki.clientCert, key: pki.clientKey, ca: pki.ca }),
      { type: 5, length: 16 },
      'a TLS client with a certificate of the CA: CHALLENGE, inside TLS',
    );
    assert.equal(await tlsAnswer(a, { ca: pki.ca }), undefined, 'no client certificate: refused');
    assert.equal(
      await tlsAnswer(a, { cert: otherPki.clientCert, key: otherPki.clientKey, ca: pki.ca }),
      undefined,
      'a client certificate of another CA: refused',
    );
    // Still linked, still over the link.
    assert.ok(linked(b, a));
  });

  test('a node whose certificate is of another CA: not linked, one warning each side, messages through Redis', async () => {
    const logA = linkWarnings();
    const logC = linkWarnings();
    const a = await node('ca-a', 'tls2:', tlsOf(pki), logA.logger);
    // C trusts A's CA as well as its own, but A does not trust C's: A refuses C's certificate as a server
    // (C is closed without a word), and as a client (A's check of C's certificate fails).
    const trustsBoth = { ...tlsOf(otherPki), ca: Buffer.concat([otherPki.ca, pki.ca]) };
    const c = await node('ca-c', 'tls2:', trustsBoth, logC.logger);
    // Each tries the other about once a second.
    await until(() => logA.about(c.id).length > 0 && logC.about(a.id).length > 0, 'both warned', 10_000);
    await sleep(3500);
    assert.equal(linked(a, c) || linked(c, a), false, 'not linked');
    const [fromA, fromC] = [logA.about(c.id), logC.about(a.id)];
    assert.equal(fromA.length, 1, `one warning, not one per attempt: ${fromA.join(' | ')}`);
    assert.equal(fromC.length, 1, `one warning, not one per attempt: ${fromC.join(' | ')}`);
    assert.match(
      fromA[0] ?? '',
      /failed \((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_\w+): .*signed by one CA\); its messages go through Redis$/,
    );
    assert.match(
      fromC[0] ?? '',
      /failed \(.*not a word from it over TLS \(.*CA did not sign this node's certificate\)\); its messages go through Redis$/,
    );
    const { before, after: sent } = await crosses(c, a, 'other-ca');
    assert.equal(sent, before, 'nothing over a link');
    await crosses(a, c, 'other-ca-back');
  });

  test('a TLS node and a plain node: not linked, one warning each side, messages through Redis', async () => {
    const logT = linkWarnings();
    const logP = linkWarnings();
    const t = await node('mixed-tls', 'tls3:', tlsOf(pki), logT.logger, true);
    const p = await node('mixed-plain', 'tls3:', undefined, logP.logger);
    // The TLS node's attempts fail at once; the plain node's wait 5 s for a CHALLENGE that never comes.
    await until(() => logT.about(p.id).length > 0 && logP.about(t.id).length > 0, 'both warned', 10_000);
    assert.equal(linked(t, p) || linked(p, t), false, 'not linked');
    assert.equal(logT.about(p.id).length, 1);
    assert.match(logT.about(p.id)[0] ?? '', /failed \(ERR_SSL_\w+: .*cluster\.linkTls/);
    assert.equal(logP.about(t.id).length, 1);
    assert.match(
      logP.about(t.id)[0] ?? '',
      /failed \(no WELCOME within 5 s: not a word from it \(.*one whose link is TLS/,
    );
    const one = await crosses(p, t, 'mixed');
    assert.equal(one.after, one.before, 'nothing over a link from the plain node');
    const two = await crosses(t, p, 'mixed-back');
    assert.equal(two.after, two.before, 'nothing over a link from the TLS node');

    // The cluster view says which node's link is TLS.
    const http = await t.broker.addListener({ type: 'http', host: '127.0.0.1', port: 0 });
    assert.ok(typeof http !== 'string');
    const answer = await call<{ items: ClusterNodeInfo[] }>(
      `http://127.0.0.1:${http.port}`,
      'GET',
      '/api/v1/cluster',
    );
    const items = answer.body.items.map((n) => [n.id, n.linkTls, n.linked]);
    assert.deepEqual(
      items.sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
      [
        [p.id, false, false],
        [t.id, true, undefined],
      ],
    );
  });
});

/** A TCP proxy to `port` that keeps every byte it passes, both ways. */
async function recordingProxy(port: number): Promise<{ port: number; bytes(): Buffer; close(): void }> {
  const seen: Buffer[] = [];
  const sockets: Socket[] = [];
  const server: Server = createServer((inbound) => {
    const outbound = netConnect({ host: '127.0.0.1', port });
    sockets.push(inbound, outbound);
    for (const [from, to] of [
      [inbound, outbound],
      [outbound, inbound],
    ] as const) {
      from.on('data', (chunk: Buffer) => {
        seen.push(chunk);
        to.write(chunk);
      });
      from.on('close', () => to.destroy());
      from.on('error', () => undefined);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    bytes: () => Buffer.concat(seen),
    close: () => {
      server.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}

/** What a proxy between two NodeLinks (`tls` or plain) saw of a QoS 0 batch and an inbox copy. */
async function throughProxy(tls: LinkTls | undefined): Promise<Buffer> {
  const received: string[] = [];
  const sockets = linkSockets(tls);
  const handlers = {
    qos0: (_from: string, batch: Buffer) => received.push(batch.toString()),
    inbox: (_from: string, _stamp: string, _previous: string, batch: Buffer) =>
      received.push(batch.toString()),
    refused: () => undefined,
  };
  const a = new NodeLinks('node-a', () => 'the-secret-of-the-cluster', handlers, { sockets });
  const b = new NodeLinks('node-b', () => 'the-secret-of-the-cluster', handlers, { sockets });
  const { port } = parseLinkAddress(await a.listen('127.0.0.1', 0));
  const proxy = await recordingProxy(port);
  try {
    b.update([{ id: 'node-a', alive: true, info: { link: `127.0.0.1:${proxy.port}` } as NodeInfo }]);
    await until(() => b.ready('node-a'), 'B linked to A through the proxy');
    await sleep(150);
    assert.equal(b.sendQos0('node-a', Buffer.from('topic/secret-qos0-payload')), 'sent');
    assert.equal(b.sendInbox('node-a', '1-1', '', Buffer.from('topic/secret-qos1-payload')), true);
    await until(() => received.length === 2, 'both frames at A');
    assert.deepEqual(received, ['topic/secret-qos0-payload', 'topic/secret-qos1-payload']);
    return proxy.bytes();
  } finally {
    b.close();
    a.close();
    proxy.close();
  }
}

test('between TLS links, a proxy sees no topic, payload or node id; between plain links it does', async () => {
  const plainWire = await throughProxy(undefined);
  const tlsWire = await throughProxy(tlsOf(pki));
  for (const text of ['secret-qos0-payload', 'secret-qos1-payload', 'node-b\nnode-a']) {
    assert.ok(plainWire.includes(text), `plain: '${text}' on the wire`);
    assert.equal(tlsWire.includes(text), false, `TLS: '${text}' not on the wire`);
  }
  // A TLS record (handshake, 0x16 0x03) opens the connection, where a plain link starts with a frame.
  assert.deepEqual([...tlsWire.subarray(0, 2)], [0x16, 0x03]);
});

test('a TLS link checks the certificate of the node it connects to: one of another CA is sent nothing', async () => {
  // A listener with a certificate of another CA, asking for none, that speaks first as a node would.
  const received: Buffer[] = [];
  const rogue = createTlsServer({ cert: otherPki.cert, key: otherPki.key }, (socket) => {
    socket.write(Buffer.from([0, 0, 0, 17, 5, ...Array.from({ length: 16 }, (_, i) => i)]));
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => rogue.listen(0, '127.0.0.1', resolve));
  const warnings: string[] = [];
  const links = new NodeLinks(
    'probe',
    () => 'the-secret-of-the-cluster',
    { qos0: () => undefined, inbox: () => undefined, refused: (_from, reason) => warnings.push(reason) },
    { sockets: linkSockets(tlsOf(pki)) },
  );
  try {
    const { port } = rogue.address() as AddressInfo;
    links.update([{ id: 'rogue', alive: true, info: { link: `127.0.0.1:${port}` } as NodeInfo }]);
    await until(() => warnings.length > 0, 'the failure reported');
    await sleep(200);
    assert.equal(links.ready('rogue'), false);
    assert.deepEqual(received, [], 'no HELLO (nothing at all) to a listener whose certificate fails');
    assert.match(warnings[0] ?? '', /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY/);
  } finally {
    links.close();
    rogue.close();
  }
});
