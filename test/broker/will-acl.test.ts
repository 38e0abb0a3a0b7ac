/**
 * A will its client may not publish (the ACL denies write on its topic) is refused with the CONNECT: CONNACK
 * 0x87 Not authorized (v3.1.1: return code 5), as Mosquitto's and VerneMQ's own tests expect, instead of
 * being accepted and dropped when it falls due. Sync and async ACL answers, raw clients and MQTT.js; an
 * allowed will still connects and is published when its connection drops.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import mqtt from 'mqtt';
import type { ConnectPacket, WillMessage } from '../../src/packets/types.js';
import { brokerPerTest, connectPacket } from '../support/broker-harness.js';

const broker = brokerPerTest();

const will = (topic: string): WillMessage => ({ topic, payload: Buffer.from('bye'), qos: 1, retain: false });

const connect = (clientId: string, version: 4 | 5, willTopic: string): ConnectPacket =>
  connectPacket(clientId, version, { will: will(willTopic) });

/** Writes under `locked/` are denied; `async` answers through a promise. */
async function lockedBroker(async: boolean) {
  const h = await broker();
  await h.broker.addHook({
    id: 'acl',
    onAclCheck: (_client, topic, access) => {
      const ok = access !== 'write' || !topic.startsWith('locked/');
      return async ? new Promise<boolean>((resolve) => setTimeout(() => resolve(ok), 5)) : ok;
    },
  });
  return h;
}

describe('a will the ACL denies', () => {
  for (const async of [false, true]) {
    it(`is refused at CONNECT, v5 0x87 and v3.1.1 5 (${async ? 'async' : 'sync'} ACL)`, async () => {
      const h = await lockedBroker(async);
      for (const [version, code] of [
        [5, 0x87],
        [4, 5],
      ] as const) {
        const client = await h.open(version);
        client.send(connect(`denied-${version}`, version, 'locked/status'));
        const connack = await client.expectPacket('connack');
        assert.equal(connack.reasonCode, code);
        await client.expectClosed();
      }
      assert.equal(h.broker.stats.connectRefused['not-authorized'], 2);
      // Nothing of the refused clients stays: no session.
      assert.equal(h.engine.sessions.get('denied-5'), undefined);

      // A will the ACL allows connects, and is published when the connection drops.
      const got: string[] = [];
      await h.broker.subscribe('open/#', (message) => {
        got.push(`${message.topic}:${message.payload.toString()}`);
      });
      const { client, connack } = await h.connect('allowed', { version: 5, will: will('open/status') });
      assert.equal(connack.reasonCode, 0);
      client.destroy();
      const deadline = Date.now() + 5000;
      while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(got, ['open/status:bye']);
      assert.equal(h.broker.stats.connectRefused['not-authorized'], 2);
    });
  }

  it('MQTT.js sees the refusal as Not authorized', async () => {
    const h = await lockedBroker(false);
    const url = `mqtt://127.0.0.1:${h.port}`;
    const refused = mqtt.connectAsync(url, {
      protocolVersion: 5,
      reconnectPeriod: 0,
      will: { topic: 'locked/status', payload: Buffer.from('bye'), qos: 1, retain: false },
    });
    await assert.rejects(refused, (err: Error & { code?: number }) => err.code === 0x87);
    const accepted = await mqtt.connectAsync(url, {
      protocolVersion: 5,
      reconnectPeriod: 0,
      will: { topic: 'open/status', payload: Buffer.from('bye'), qos: 1, retain: false },
    });
    assert.equal(accepted.connected, true);
    await accepted.endAsync();
  });
});
