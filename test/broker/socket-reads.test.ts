/**
 * Shared-buffer socket reads (src/broker/socket-reads.ts): a socket accepted by a real server is switched
 * to them, each read arrives as bytes of its own (the shared buffer being reused does not change what was
 * handed out), pause/resume and end still work, and streams it must not touch are left to 'data' events.
 * Then a broker end to end: many packets split at every byte reach a subscriber unchanged.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { after, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { readIntoSharedBuffer } from '../../src/broker/socket-reads.js';
import { Broker } from '../../src/index.js';

async function serverWith(onSocket: (socket: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(onSocket);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

/** Wait until `done()`, failing after `ms`. */
async function waitFor(done: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe('readIntoSharedBuffer', () => {
  const servers: Server[] = [];
  after(() => {
    for (const server of servers) server.close();
  });

  test('an accepted socket reads into the shared buffer; each chunk keeps its own bytes', async () => {
    const chunks: Buffer[] = [];
    let switched: boolean | undefined;
    let serverSocket: Socket | undefined;
    const { server, port } = await serverWith((socket) => {
      serverSocket = socket;
      switched = readIntoSharedBuffer(socket, (from, chunk) => {
        assert.equal(from, socket);
        chunks.push(chunk);
      });
    });
    servers.push(server);
    const client = connect({ port, host: '127.0.0.1', noDelay: true });
    await once(client, 'connect');
    const sent: Buffer[] = [];
    for (let i = 0; i < 20; i++) {
      const piece = Buffer.alloc(1 + i * 997, i + 1);
      sent.push(piece);
      client.write(piece);
      // One write at a time reaches the server, so reads reuse the shared buffer between them.
      const before = Buffer.concat(chunks).length;
      await waitFor(() => Buffer.concat(chunks).length >= before + piece.length, `write ${i}`);
    }
    assert.equal(switched, true);
    assert.equal(serverSocket?.listenerCount('data'), 0);
    assert.ok(chunks.length >= 20);
    assert.deepEqual(Buffer.concat(chunks), Buffer.concat(sent));

    // pause() stops reads; resume() delivers what waited.
    serverSocket?.pause();
    const count = chunks.length;
    client.write(Buffer.from('after pause'));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(chunks.length, count);
    serverSocket?.resume();
    await waitFor(() => chunks.length > count, 'the read after resume');
    assert.equal(Buffer.concat(chunks.slice(count)).toString(), 'after pause');

    // The peer's end still ends and closes the socket.
    const closed = once(serverSocket as Socket, 'close');
    client.end();
    await closed;
  });

  test('streams that are not plain accepted sockets are left alone', async () => {
    assert.equal(
      readIntoSharedBuffer(new PassThrough(), () => undefined),
      false,
    );
    let withListener: boolean | undefined;
    let buffered: boolean | undefined;
    const { server, port } = await serverWith((socket) => {
      if (withListener === undefined) {
        socket.on('data', () => undefined);
        withListener = readIntoSharedBuffer(socket, () => undefined);
      } else {
        socket.pause();
        socket.unshift(Buffer.from('held'));
        buffered = readIntoSharedBuffer(socket, () => undefined);
      }
      socket.destroy();
    });
    servers.push(server);
    for (let i = 0; i < 2; i++) {
      const client = connect({ port, host: '127.0.0.1' });
      client.on('error', () => undefined);
      await once(client, 'close');
    }
    assert.equal(withListener, false);
    assert.equal(buffered, false);
  });
});

describe('a broker reading through the shared buffer', () => {
  test('packets split at every byte and packed many to a read arrive unchanged', async () => {
    const broker = new Broker();
    after(() => broker.close());
    const { port } = await broker.listen({ host: '127.0.0.1', port: 0 });
    const subscriber = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
    after(() => subscriber.end(true));
    await subscriber.subscribeAsync('split/#', { qos: 1 });
    const received: string[] = [];
    subscriber.on('message', (topic, payload) => received.push(`${topic}=${payload.toString()}`));

    // A raw v3.1.1 publisher: CONNECT, then 200 QoS 0 PUBLISH packets written one byte at a time, then
    // 200 more in one write.
    const raw = connect({ port, host: '127.0.0.1', noDelay: true });
    await once(raw, 'connect');
    const id = Buffer.from('raw-splitter');
    raw.write(
      Buffer.concat([
        Buffer.from([0x10, 12 + id.length, 0, 4]),
        Buffer.from('MQTT'),
        Buffer.from([4, 2, 0, 60, 0, id.length]),
        id,
      ]),
    );
    const publish = (n: number): Buffer => {
      const topic = Buffer.from(`split/${n}`);
      const payload = Buffer.from(`payload-${n}-${'x'.repeat(n % 50)}`);
      return Buffer.concat([
        Buffer.from([0x30, 2 + topic.length + payload.length, 0, topic.length]),
        topic,
        payload,
      ]);
    };
    const expected: string[] = [];
    for (let n = 0; n < 200; n++) {
      for (const byte of publish(n)) raw.write(Buffer.from([byte]));
      expected.push(`split/${n}=payload-${n}-${'x'.repeat(n % 50)}`);
      if (n % 20 === 0) await new Promise((r) => setImmediate(r));
    }
    const packed: Buffer[] = [];
    for (let n = 200; n < 400; n++) {
      packed.push(publish(n));
      expected.push(`split/${n}=payload-${n}-${'x'.repeat(n % 50)}`);
    }
    raw.write(Buffer.concat(packed));
    const deadline = Date.now() + 10_000;
    while (received.length < expected.length && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    raw.destroy();
    assert.deepEqual(received, expected);
  });
});
