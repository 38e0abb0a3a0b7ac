import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import type { IAuthPacket } from 'mqtt-packet';
import { Broker, type Hook, ReasonCode } from '../../src/index.js';

const METHOD = 'REVERSE-NONCE';

/**
 * The test's own challenge/response method: the client names itself in the CONNECT's auth data; the broker
 * answers with a random nonce; the client proves itself by sending the nonce back reversed, prefixed with a
 * secret only it and the broker know.
 */
function reverseNonceHook(secret: string): Hook & { steps: string[] } {
  const nonces = new Map<string, Buffer>();
  const steps: string[] = [];
  return {
    steps,
    onAuthPacket(client, method, data, reauth) {
      if (method !== METHOD) return undefined;
      const pending = nonces.get(client.clientId);
      if (pending === undefined) {
        steps.push(`${reauth ? 'reauth' : 'connect'}:start:${data?.toString() ?? ''}`);
        const nonce = randomBytes(8);
        nonces.set(client.clientId, nonce);
        return { action: 'continue', data: nonce };
      }
      nonces.delete(client.clientId);
      const expected = Buffer.concat([Buffer.from(secret), Buffer.from(pending).reverse()]);
      const ok = data?.equals(expected) === true;
      steps.push(`${reauth ? 'reauth' : 'connect'}:${ok ? 'success' : 'fail'}`);
      return ok
        ? { action: 'success', data: Buffer.from('welcome') }
        : { action: 'fail', reasonCode: ReasonCode.NotAuthorized };
    },
  };
}

function answer(secret: string, packet: IAuthPacket): IAuthPacket {
  const nonce = Buffer.from(packet.properties?.authenticationData ?? Buffer.alloc(0));
  return {
    cmd: 'auth',
    reasonCode: ReasonCode.ContinueAuthentication,
    properties: {
      authenticationMethod: METHOD,
      authenticationData: Buffer.concat([Buffer.from(secret), nonce.reverse()]),
    },
  };
}

describe('MQTT 5 enhanced authentication driven by a hook', () => {
  let broker: Broker;
  let url: string;
  let hook: ReturnType<typeof reverseNonceHook>;
  const clients: MqttClient[] = [];

  before(async () => {
    broker = new Broker({ sysInterval: 0 });
    hook = reverseNonceHook('s3cret:');
    await broker.addHook(hook);
    const address = await broker.listen({ host: '127.0.0.1', port: 0 });
    url = `mqtt://127.0.0.1:${address.port}`;
  });

  after(async () => {
    for (const client of clients.splice(0)) client.end(true);
    await broker.close();
  });

  /** Connect with the method; resolves to the CONNACK's properties or rejects with the client's error. */
  function connectWith(
    clientId: string,
    secret: string,
  ): Promise<{ client: MqttClient; connackData: string | undefined }> {
    const client = mqtt.connect(url, {
      clientId,
      protocolVersion: 5,
      reconnectPeriod: 0,
      connectTimeout: 3000,
      properties: { authenticationMethod: METHOD, authenticationData: Buffer.from(clientId) },
    });
    clients.push(client);
    client.handleAuth = (packet, callback) => callback(undefined, answer(secret, packet));
    return new Promise((resolve, reject) => {
      client.once('connect', (connack) =>
        resolve({ client, connackData: connack.properties?.authenticationData?.toString() }),
      );
      client.once('error', reject);
      client.once('close', () => reject(new Error('closed before CONNACK')));
    });
  }

  it('completes a challenge/response exchange at connect', async () => {
    const { client, connackData } = await connectWith('alice', 's3cret:');
    assert.equal(connackData, 'welcome');
    assert.equal(client.connected, true);
    assert.deepEqual(hook.steps.splice(0), ['connect:start:alice', 'connect:success']);
  });

  it('refuses a client that answers the challenge wrongly', async () => {
    await assert.rejects(connectWith('mallory', 'guess:'), /Not authorized|135/i);
    assert.deepEqual(hook.steps.splice(0), ['connect:start:mallory', 'connect:fail']);
  });
});
