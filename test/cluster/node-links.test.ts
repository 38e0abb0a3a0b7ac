/**
 * NodeLinks on its own, against stand-ins for the other end: a listener that never answers, one written
 * from docs/cluster.md that checks the handshake and proves (or fails to prove) the secret, one that stops
 * reading; and registry entries a node must not try.
 */
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import type { NodeInfo } from '../../src/cluster/backend.js';
import { NodeLinks } from '../../src/cluster/node-links.js';
import { linkFrame as frame, until } from './cluster-harness.js';

test('a link never welcomed (something else listens there) is given up after 5 s and tried again', async () => {
  let connections = 0;
  let closes = 0;
  const silent = createServer((socket) => {
    connections++;
    // Reads what comes, never sends a challenge.
    socket.resume();
    socket.on('close', () => closes++);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const { port } = silent.address() as AddressInfo;
  const links = new NodeLinks('probe', () => 'secret', {
    qos0: () => undefined,
    inbox: () => undefined,
    refused: () => undefined,
  });
  try {
    const registry = [{ id: 'ghost', alive: true, info: { link: `127.0.0.1:${port}` } as NodeInfo }];
    links.update(registry);
    await until(() => connections === 1, 'the first attempt');
    assert.equal(links.ready('ghost'), false);
    assert.equal(links.sendQos0('ghost', Buffer.from('x')), 'none', 'nothing sent before WELCOME');
    await until(() => closes === 1, 'the attempt given up', 7000);
    // The next look at the registry (after the 1 s pause for a failed attempt) tries again.
    await until(
      () => connections === 2,
      'a second attempt',
      3000,
      async () => links.update(registry),
    );
  } finally {
    links.close();
    silent.close();
  }
});

/**
 * A stand-in for a node's link listener, written from docs/cluster.md: it challenges each connection, checks
 * the HELLO (from `probe` to `listener`), and answers WELCOME with a good proof when `honest(n)` (n: the
 * connection's number, from 1), a wrong one otherwise. `received[n - 1]`: the bytes of connection n. With
 * `stall`, it stops reading once it welcomed.
 */
async function fakeListener(
  secret: string,
  honest: (connection: number) => boolean,
  stall = false,
): Promise<{ port: number; received: Buffer[][]; close(): void }> {
  const received: Buffer[][] = [];
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    const bytes: Buffer[] = [];
    received.push(bytes);
    const good = honest(received.length);
    const challenge = randomBytes(16);
    socket.write(frame(5, challenge));
    socket.on('data', (chunk: Buffer) => {
      bytes.push(chunk);
      const hello = Buffer.concat(bytes);
      if (bytes.length > 1 || hello.length < 4 + hello.readUInt32BE(0)) return;
      const [from, to, nonce, proof] = hello.subarray(5).toString().split('\n');
      const mac = (role: string): string =>
        createHmac('sha256', secret)
          .update(`${role}\n${challenge.toString('hex')}\n${nonce}\n${from}\n${to}`)
          .digest('hex');
      assert.deepEqual(
        [hello[4], from, to, proof],
        [1, 'probe', 'listener', mac('hello')],
        'a HELLO proving the secret',
      );
      socket.write(frame(2, good ? mac('welcome') : createHmac('sha256', 'guess').update('x').digest('hex')));
      if (stall) socket.pause();
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    received,
    close: () => {
      server.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}

/** A NodeLinks as node `probe`, linking to the node `listener` at `port`. */
function probeLinks(secret: string, port: number): { links: NodeLinks; look(): void; reports: string[] } {
  const reports: string[] = [];
  const links = new NodeLinks('probe', () => secret, {
    qos0: () => undefined,
    inbox: () => undefined,
    refused: (_from, reason) => reports.push(reason),
  });
  const registry = [{ id: 'listener', alive: true, info: { link: `127.0.0.1:${port}` } as NodeInfo }];
  return { links, look: () => links.update(registry), reports };
}

test('the secret never crosses the wire, and a listener that cannot prove it knows it is sent nothing', async () => {
  const secret = 'the-cluster-secret-0123456789';
  const fake = await fakeListener(secret, (n) => n === 2);
  const { links, look, reports } = probeLinks(secret, fake.port);
  const received = fake.received;
  try {
    look();
    await until(() => received.length === 1 && (received[0]?.length ?? 0) > 0, 'the HELLO');
    // A WELCOME with a wrong proof: the link is closed, nothing is sent over it.
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(links.ready('listener'), false, 'not welcomed by a wrong proof');
    assert.deepEqual(
      reports,
      [
        `its link at 127.0.0.1:${fake.port} failed (its WELCOME does not prove the cluster secret); its messages go through Redis`,
      ],
      'said once',
    );
    assert.equal(links.sendQos0('listener', Buffer.from('payload')), 'none');
    // The honest listener (second connection, after the pause for a failed attempt) gets the frames.
    await until(
      () => links.ready('listener'),
      'welcomed on the second try',
      4000,
      async () => look(),
    );
    // QoS 0 waits 100 ms after the welcome (what went through Redis meanwhile arrives first).
    assert.equal(links.sendQos0('listener', Buffer.from('early')), 'none', 'not at once');
    await new Promise((resolve) => setTimeout(resolve, 120));
    assert.equal(links.sendQos0('listener', Buffer.from('payload')), 'sent');
    await until(() => Buffer.concat(received[1] ?? []).includes('payload'), 'the QoS 0 frame');
    const wire = Buffer.concat(received.flat());
    assert.equal(wire.includes(secret), false, 'the secret is not in what the node sent');
    assert.equal(wire.includes('early'), false, 'nothing sent in the first 100 ms');
    assert.equal(
      Buffer.concat(received[0] ?? []).includes('payload'),
      false,
      'nothing for the first listener',
    );
  } finally {
    links.close();
    fake.close();
  }
});

test('a link more than 8 MiB behind drops QoS 0 rather than sending it around through Redis', async () => {
  const secret = 'the-cluster-secret-0123456789';
  const fake = await fakeListener(secret, () => true, true);
  const { links, look } = probeLinks(secret, fake.port);
  try {
    look();
    await until(() => links.ready('listener'), 'welcomed');
    await new Promise((resolve) => setTimeout(resolve, 120));
    // The listener reads no more: the kernel's buffers fill, then the link's own 8 MiB.
    const batch = Buffer.alloc(1024 * 1024, 0x61);
    const answers: string[] = [];
    for (let i = 0; i < 100 && answers.at(-1) !== 'full'; i++) {
      answers.push(links.sendQos0('listener', batch));
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(answers.at(-1), 'full', `backed up after ${answers.length} MiB`);
    assert.ok(answers.length > 8, 'the first 8 MiB (and what the kernel took) were sent');
    assert.deepEqual(new Set(answers.slice(0, -1)), new Set(['sent']), 'sent until then, never the backend');
    // Still full: QoS 0 keeps being dropped (the caller counts it), not rerouted.
    assert.equal(links.sendQos0('listener', batch), 'full');
    assert.equal(links.ready('listener'), false, 'QoS 1/2 copies stop too (their appends carry them)');
  } finally {
    links.close();
    fake.close();
  }
});

test("another machine's loopback link address is reported once and not tried; a malformed one is skipped", async () => {
  let connections = 0;
  const local = createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => local.listen(0, '127.0.0.1', resolve));
  const { port } = local.address() as AddressInfo;
  const reports: [string | undefined, string][] = [];
  const links = new NodeLinks(
    'here-node',
    () => 'secret',
    {
      qos0: () => undefined,
      inbox: () => undefined,
      refused: (from, reason) => reports.push([from, reason]),
    },
    { host: 'here' },
  );
  try {
    const registry = [
      { id: 'far', alive: true, info: { link: `127.0.0.1:${port}`, host: 'elsewhere' } as NodeInfo },
      { id: 'odd', alive: true, info: { link: 'not an address:x', host: 'here' } as NodeInfo },
    ];
    links.update(registry);
    links.update(registry);
    assert.equal(links.sendQos0('far', Buffer.from('x')), 'none');
    assert.equal(links.sendQos0('odd', Buffer.from('x')), 'none');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(connections, 0, 'nothing tried');
    assert.equal(reports.length, 1, 'reported once');
    assert.equal(reports[0]?.[0], 'far');
    assert.match(reports[0]?.[1] ?? '', /loopback address, and it runs on elsewhere: give it --cluster-link/);
  } finally {
    links.close();
    local.close();
  }
});
