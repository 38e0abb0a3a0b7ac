import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { Broker, type ClientInfo } from '../../src/index.js';
import type { ListenerAddress } from '../../src/listeners/listener.js';
import { parseProxyHeader } from '../../src/listeners/proxy-protocol.js';
import { encode } from '../../src/packets/index.js';
import { waitFor } from '../support/raw-client.js';

const portOf = (address: ListenerAddress | undefined): number => {
  assert.ok(address !== undefined && typeof address !== 'string');
  return address.port;
};

const V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

function v2Header(command: number, family: number, body: Buffer): Buffer {
  const fixed = Buffer.from([0x20 | command, family, 0, 0]);
  fixed.writeUInt16BE(body.length, 2);
  return Buffer.concat([V2_SIGNATURE, fixed, body]);
}

function v2Ipv4(source: number[], sourcePort: number): Buffer {
  const body = Buffer.alloc(12);
  Buffer.from(source).copy(body, 0);
  Buffer.from([10, 0, 0, 1]).copy(body, 4);
  body.writeUInt16BE(sourcePort, 8);
  body.writeUInt16BE(1883, 10);
  return v2Header(1, 0x11, body);
}

describe('parseProxyHeader', () => {
  test('v1 TCP4 and TCP6', () => {
    const v4 = Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 51234 1883\r\nrest');
    assert.deepEqual(parseProxyHeader(v4), {
      kind: 'proxied',
      length: v4.length - 4,
      remoteAddress: '203.0.113.7',
      remotePort: 51234,
    });
    const v6 = Buffer.from('PROXY TCP6 2001:db8::1 2001:db8::2 4000 1883\r\n');
    assert.deepEqual(parseProxyHeader(v6), {
      kind: 'proxied',
      length: v6.length,
      remoteAddress: '2001:db8::1',
      remotePort: 4000,
    });
  });

  test('v1 UNKNOWN keeps the socket address; partial headers ask for more; junk is invalid', () => {
    assert.deepEqual(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n')), { kind: 'local', length: 15 });
    assert.deepEqual(parseProxyHeader(Buffer.from('PROX')), { kind: 'incomplete' });
    assert.deepEqual(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4')), { kind: 'incomplete' });
    assert.equal(parseProxyHeader(Buffer.from([0x10, 0x0c, 0x00])).kind, 'invalid');
    assert.equal(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n')).kind, 'invalid');
    assert.equal(parseProxyHeader(Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`)).kind, 'invalid');
  });

  test('v2 IPv4, IPv6, LOCAL and incomplete', () => {
    const v4 = v2Ipv4([198, 51, 100, 9], 40000);
    assert.deepEqual(parseProxyHeader(v4), {
      kind: 'proxied',
      length: 28,
      remoteAddress: '198.51.100.9',
      remotePort: 40000,
    });
    const body6 = Buffer.alloc(36);
    body6.writeUInt16BE(0x2001, 0);
    body6.writeUInt16BE(0x0db8, 2);
    body6.writeUInt16BE(7, 14);
    body6.writeUInt16BE(5555, 32);
    assert.deepEqual(parseProxyHeader(v2Header(1, 0x21, body6)), {
      kind: 'proxied',
      length: 52,
      remoteAddress: '2001:db8:0:0:0:0:0:7',
      remotePort: 5555,
    });
    assert.deepEqual(parseProxyHeader(v2Header(0, 0x00, Buffer.alloc(0))), { kind: 'local', length: 16 });
    assert.deepEqual(parseProxyHeader(v4.subarray(0, 20)), { kind: 'incomplete' });
    assert.deepEqual(parseProxyHeader(v4.subarray(0, 5)), { kind: 'incomplete' });
  });
});

describe('client addresses behind proxies', () => {
  let broker: Broker;
  let ports: number[];
  const seen = new Map<
    string,
    { remoteAddress: string | undefined; remotePort: number | undefined; listener: string }
  >();

  before(async () => {
    broker = new Broker({
      sysInterval: 0,
      listeners: [
        { type: 'tcp', name: 'proxied', host: '127.0.0.1', port: 0, proxyProtocol: true },
        { type: 'tcp', name: 'plain', host: '127.0.0.1', port: 0 },
        { type: 'ws', name: 'ws-trusting', host: '127.0.0.1', port: 0, trustForwardedFor: true },
        { type: 'ws', name: 'ws-plain', host: '127.0.0.1', port: 0 },
      ],
    });
    await broker.addHook({
      onConnect(client: ClientInfo) {
        seen.set(client.clientId, {
          remoteAddress: client.remoteAddress,
          remotePort: client.remotePort,
          listener: client.listener,
        });
      },
    });
    ports = (await broker.start()).map(portOf);
  });

  after(async () => {
    await broker.close();
  });

  /** Write a header and CONNECT in one go and wait for CONNACK. */
  async function connectWith(port: number, header: Buffer, clientId: string): Promise<Buffer> {
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    const connectPacket = encode(
      { type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clientId, clean: true, keepalive: 0 },
      4,
    );
    // The header and the first packet in separate writes too, to exercise buffering.
    socket.write(header.subarray(0, 7));
    socket.write(Buffer.concat([header.subarray(7), connectPacket]));
    const [reply] = (await once(socket, 'data')) as [Buffer];
    socket.destroy();
    return reply;
  }

  test('PROXY v1 and v2 on an enabled listener: onConnect sees the proxied address', async () => {
    const [proxied = 0] = ports;
    const v1 = await connectWith(
      proxied,
      Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 51234 1883\r\n'),
      'p1',
    );
    assert.deepEqual([...v1], [0x20, 0x02, 0x00, 0x00]);
    await connectWith(proxied, v2Ipv4([198, 51, 100, 9], 40000), 'p2');
    assert.deepEqual(seen.get('p1'), {
      remoteAddress: '203.0.113.7',
      remotePort: 51234,
      listener: 'proxied',
    });
    assert.deepEqual(seen.get('p2'), {
      remoteAddress: '198.51.100.9',
      remotePort: 40000,
      listener: 'proxied',
    });
  });

  test('a proxied listener drops a connection without a valid header', async () => {
    const [proxied = 0] = ports;
    const socket = connect(proxied, '127.0.0.1');
    socket.on('error', () => {});
    socket.write(
      encode(
        {
          type: 'connect',
          protocolName: 'MQTT',
          protocolVersion: 4,
          clientId: 'nohdr',
          clean: true,
          keepalive: 0,
        },
        4,
      ),
    );
    await once(socket, 'close');
    assert.equal(seen.has('nohdr'), false);
  });

  test('PROXY headers are not parsed where not enabled', async () => {
    const [, plain = 0] = ports;
    const socket = connect(plain, '127.0.0.1');
    socket.on('error', () => {});
    // Seen as MQTT, 'P' (0x50) starts a PUBREC of 0x52 bytes; padding completes it so the broker
    // refuses it now rather than at the connect timeout.
    socket.write(
      Buffer.concat([Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 51234 1883\r\n'), Buffer.alloc(64)]),
    );
    await once(socket, 'close');
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${plain}`, {
      clientId: 'direct',
      reconnectPeriod: 0,
    });
    await client.endAsync();
    assert.equal(seen.get('direct')?.remoteAddress, '127.0.0.1');
  });

  test('X-Forwarded-For is used only where trusted, taking the last hop', async () => {
    const [, , trusting = 0, plain = 0] = ports;
    const headers = { 'x-forwarded-for': '192.0.2.1, 198.51.100.23' };
    const a = await mqtt.connectAsync(`ws://127.0.0.1:${trusting}/mqtt`, {
      clientId: 'xff',
      reconnectPeriod: 0,
      wsOptions: { headers },
    });
    const b = await mqtt.connectAsync(`ws://127.0.0.1:${plain}/mqtt`, {
      clientId: 'noxff',
      reconnectPeriod: 0,
      wsOptions: { headers },
    });
    await waitFor(() => seen.has('xff') && seen.has('noxff'), 2000, 'both connected');
    assert.equal(seen.get('xff')?.remoteAddress, '198.51.100.23');
    assert.equal(seen.get('noxff')?.remoteAddress, '127.0.0.1');
    await a.endAsync();
    await b.endAsync();
  });
});
