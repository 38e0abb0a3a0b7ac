/**
 * `starling_connections_refused_total{reason}`: a connection refused before it was established (CONNACK
 * with a failure, closed without one, or no CONNECT in time) is counted once by reason, and an accepted
 * one is not. Raw TCP clients provoke each reason; the counts are read in `/metrics`, `connectRefused` in
 * `/api/v1/stats`, the broker's public `stats`, and the total in `$SYS/broker/clients/refused`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConnectPacket } from '../../src/packets/types.js';
import { brokerPerTest, connectPacket } from '../support/broker-harness.js';
import { assertCountsByReason } from '../support/metrics-scrape.js';
import { waitFor } from '../support/raw-client.js';

const broker = brokerPerTest();

const connect = (clientId: string, extra: Partial<ConnectPacket> = {}): ConnectPacket =>
  connectPacket(clientId, 5, extra);

describe('starling_connections_refused_total', () => {
  it('counts each refused connection once by reason; accepted ones are not counted', async () => {
    const h = await broker({ sysInterval: 0.05, maxConnections: 3, connectTimeoutMs: 200 });
    await h.broker.addHook({
      id: 'passwords',
      onConnectAuthenticate: (_client, packet) =>
        packet.username === 'late' ? Promise.resolve(false) : packet.username !== 'bad',
    });
    let sysTotal: string | undefined;
    await h.broker.subscribe('$SYS/broker/clients/refused', (message) => {
      sysTotal = message.payload.toString();
    });
    const refusedWith = async (version: 4 | 5, packet: ConnectPacket): Promise<number> => {
      const client = await h.open(version);
      client.send(packet);
      const connack = await client.expectPacket('connack');
      await client.expectClosed();
      return connack.reasonCode;
    };
    // not-authorized: sync and async answers, v5 and v3.1.1.
    assert.equal(await refusedWith(5, connect('a', { username: 'bad', password: Buffer.from('x') })), 0x86);
    assert.equal(await refusedWith(5, connect('b', { username: 'late', password: Buffer.from('x') })), 0x86);
    assert.equal(
      await refusedWith(4, connect('c', { protocolVersion: 4, username: 'bad', password: Buffer.from('x') })),
      4,
    );
    // client-id: v3.1.1, empty client id without a clean session.
    assert.equal(await refusedWith(4, connect('', { protocolVersion: 4, clean: false })), 2);
    // will: a will topic with a wildcard.
    const will = { topic: 'w/+', payload: Buffer.from('bye'), qos: 0 as const, retain: false };
    assert.equal(await refusedWith(5, connect('d', { will })), 0x90);
    // protocol-version: level 9 (answered as v5, 0x84: the level is above 5).
    const odd = await h.open(5);
    odd.write(
      Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x09, 0x02, 0x00, 0x00, 0x00, 0x00]),
    );
    assert.equal((await odd.expectPacket('connack')).reasonCode, 0x84);
    await odd.expectClosed();
    // malformed: a PUBLISH before CONNECT, closed without CONNACK.
    const rude = await h.open(4);
    rude.write(Buffer.from([0x30, 0x03, 0x00, 0x01, 0x61]));
    await rude.expectClosed();
    // Accepted: three clients, up to maxConnections; the fourth is over the limit.
    for (const id of ['ok1', 'ok2', 'ok3']) await h.connect(id, { version: 5 });
    assert.equal(await refusedWith(5, connect('over')), 0x97);
    // connect-timeout: a socket that never sends CONNECT (the sweep closes it after 200 ms).
    const silent = await h.open(5);
    await silent.expectClosed(5000);

    const expected = {
      'not-authorized': 3,
      'client-id': 1,
      'protocol-version': 1,
      limits: 1,
      will: 1,
      malformed: 1,
      'connect-timeout': 1,
      other: 0,
    };
    await assertCountsByReason(h.broker, 'starling_connections_refused_total', 'connectRefused', expected);
    assert.equal(h.broker.stats.connectRefusedTotal, 9);
    await waitFor(() => sysTotal === '9', 2000, `$SYS/broker/clients/refused = 9 (${sysTotal})`);
  });
});
