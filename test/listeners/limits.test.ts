import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import mqtt, { type IClientOptions, type IDisconnectPacket, type MqttClient } from 'mqtt';
import { publishRateLimiter } from '../../src/config/publish-rate.js';
import { Broker } from '../../src/index.js';
import type { ListenerAddress, ListenerConfig } from '../../src/listeners/listener.js';

const portOf = (address: ListenerAddress | undefined): number => {
  assert.ok(address !== undefined && typeof address !== 'string');
  return address.port;
};

async function withBroker(
  options: { maxConnections?: number; listeners: ListenerConfig[] },
  run: (ports: number[], broker: Broker) => Promise<void>,
): Promise<void> {
  const broker = new Broker({ sysInterval: 0, ...options });
  try {
    const addresses = await broker.start();
    await run(addresses.map(portOf), broker);
  } finally {
    await broker.close();
  }
}

const open = (port: number, options: IClientOptions): Promise<MqttClient> =>
  mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 3000, ...options });

/** Assert CONNECT is refused with `code` (v5 reason code, or v3 return code). */
async function assertRefused(port: number, options: IClientOptions, code: number): Promise<void> {
  await assert.rejects(open(port, options), (err: Error & { code?: number }) => {
    assert.equal(err.code, code, err.message);
    return true;
  });
}

const tcp = (extra: Partial<ListenerConfig> = {}): ListenerConfig =>
  ({ type: 'tcp', host: '127.0.0.1', port: 0, ...extra }) as ListenerConfig;

describe('connection limits', () => {
  test('global maxConnections: v5 gets CONNACK 0x97, v3 return code 3; a takeover is still let in', async () => {
    await withBroker({ maxConnections: 2, listeners: [tcp()] }, async ([port = 0]) => {
      const a = await open(port, { clientId: 'a', protocolVersion: 5 });
      const b = await open(port, { clientId: 'b', protocolVersion: 4 });
      try {
        await assertRefused(port, { clientId: 'c5', protocolVersion: 5 }, 0x97);
        await assertRefused(port, { clientId: 'c3', protocolVersion: 4 }, 3);
        const takeover = await open(port, { clientId: 'b', protocolVersion: 4 });
        takeover.end(true);
      } finally {
        a.end(true);
        b.end(true);
      }
    });
  });

  test('per-listener maxConnections counts only that listener', async () => {
    await withBroker(
      { listeners: [tcp({ name: 'small', maxConnections: 1 }), tcp({ name: 'big' })] },
      async ([small = 0, big = 0]) => {
        const first = await open(small, { clientId: 's1', protocolVersion: 5 });
        try {
          await assertRefused(small, { clientId: 's2', protocolVersion: 5 }, 0x97);
          const other = await open(big, { clientId: 'b1', protocolVersion: 5 });
          other.end(true);
        } finally {
          first.end(true);
        }
      },
    );
  });

  test('a closed connection frees its place', async () => {
    await withBroker({ listeners: [tcp({ maxConnections: 1 })] }, async ([port = 0], broker) => {
      const first = await open(port, { clientId: 'f1' });
      await first.endAsync();
      for (let i = 0; i < 100 && broker.stats.clientsConnected > 0; i++)
        await new Promise((r) => setTimeout(r, 10));
      const second = await open(port, { clientId: 'f2' });
      second.end(true);
    });
  });

  test('connectionRate: beyond the rate v5 gets CONNACK 0x9F, v3 return code 3; other listeners are not held back', async () => {
    // 0.01 per second: the bucket's one token is back only after 100 s, far beyond this test.
    await withBroker(
      { listeners: [tcp({ name: 'slow', connectionRate: 0.01 }), tcp({ name: 'free' })] },
      async ([slow = 0, free = 0]) => {
        const first = await open(slow, { clientId: 'r1', protocolVersion: 5 });
        try {
          await assertRefused(slow, { clientId: 'r2', protocolVersion: 5 }, 0x9f);
          await assertRefused(slow, { clientId: 'r3', protocolVersion: 4 }, 3);
          const other = await open(free, { clientId: 'r4', protocolVersion: 5 });
          other.end(true);
        } finally {
          first.end(true);
        }
      },
    );
  });

  test('connectionRate: a CONNECT refused for the connection limit does not spend a token', async () => {
    await withBroker(
      { maxConnections: 1, listeners: [tcp({ name: 'rated', connectionRate: 0.01 }), tcp({ name: 'free' })] },
      async ([rated = 0, free = 0], broker) => {
        const squatter = await open(free, { clientId: 'q0', protocolVersion: 5 });
        await assertRefused(rated, { clientId: 'q1', protocolVersion: 5 }, 0x97);
        await squatter.endAsync();
        for (let i = 0; i < 100 && broker.stats.clientsConnected > 0; i++)
          await new Promise((r) => setTimeout(r, 10));
        const admitted = await open(rated, { clientId: 'q2', protocolVersion: 5 });
        admitted.end(true);
      },
    );
  });

  test('connectionRate also applies to MQTT over WebSocket on the HTTP port', async () => {
    await withBroker(
      { listeners: [{ type: 'http', host: '127.0.0.1', port: 0, connectionRate: 0.01, websocket: {} }] },
      async ([port = 0]) => {
        const url = `ws://127.0.0.1:${port}/mqtt`;
        const options: IClientOptions = { reconnectPeriod: 0, connectTimeout: 3000 };
        const first = await mqtt.connectAsync(url, { ...options, clientId: 'w1', protocolVersion: 5 });
        try {
          await assert.rejects(
            mqtt.connectAsync(url, { ...options, clientId: 'w2', protocolVersion: 5 }),
            (err: Error & { code?: number }) => err.code === 0x9f,
          );
        } finally {
          first.end(true);
        }
      },
    );
  });
});

describe('publish rate limit', () => {
  test('disconnect: a v5 client over the rate gets DISCONNECT 0x96', async () => {
    await withBroker({ listeners: [tcp()] }, async ([port = 0], broker) => {
      await broker.addHook(publishRateLimiter({ perSecond: 1, burst: 2, action: 'disconnect' }));
      const client = await open(port, { clientId: 'fast', protocolVersion: 5 });
      const disconnect = new Promise<IDisconnectPacket>((resolve) => client.once('disconnect', resolve));
      for (let i = 0; i < 5; i++) client.publish('rate/t', String(i), { qos: 0 });
      const packet = await disconnect;
      assert.equal(packet.reasonCode, 0x96);
      client.end(true);
    });
  });

  test('throttle: every message still arrives, in order', async () => {
    await withBroker({ listeners: [tcp()] }, async ([port = 0], broker) => {
      await broker.addHook(publishRateLimiter({ perSecond: 50, burst: 1, action: 'throttle' }));
      const sub = await open(port, { clientId: 'sub' });
      const pub = await open(port, { clientId: 'pub', protocolVersion: 5 });
      try {
        await sub.subscribeAsync('rate/#', { qos: 1 });
        const got: string[] = [];
        const all = new Promise<void>((resolve) =>
          sub.on('message', (_t, payload) => {
            got.push(payload.toString());
            if (got.length === 5) resolve();
          }),
        );
        await Promise.all([0, 1, 2, 3, 4].map((i) => pub.publishAsync('rate/t', String(i), { qos: 1 })));
        await all;
        assert.deepEqual(got, ['0', '1', '2', '3', '4']);
        assert.equal(pub.connected, true);
      } finally {
        sub.end(true);
        pub.end(true);
      }
    });
  });
});
