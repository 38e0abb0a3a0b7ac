/**
 * The storage events a persistence hook needs: session, subscription, inflight and retained changes,
 * observed in order for one client's life (connect, subscribe, receive QoS 1, ack, unsubscribe, leave).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import mqtt from 'mqtt';
import { Broker, type Hook } from '../../src/index.js';
import { waitFor } from './helpers.js';

let broker: Broker;
let url: string;
const events: string[] = [];

const recorder: Hook = {
  id: 'storage-recorder',
  onSessionChanged: (clientId, state) =>
    events.push(`session ${clientId} connected=${state.connected} expiry=${state.expiryInterval}`),
  onSessionRemoved: (clientId) => events.push(`session-removed ${clientId}`),
  onSubscriptionChanged: (clientId, filter, sub) =>
    events.push(`subscription ${clientId} ${filter} ${sub === undefined ? 'removed' : `qos=${sub.qos}`}`),
  onInflightChanged: (clientId, packetId, message) =>
    events.push(`inflight ${clientId} ${packetId} ${message === undefined ? 'done' : message.topic}`),
  onRetainedChanged: (topic, message) =>
    events.push(`retained ${topic} ${message === undefined ? 'deleted' : message.payload.toString()}`),
};

before(async () => {
  broker = new Broker({ sysInterval: 0 });
  await broker.addHook(recorder);
  const address = await broker.listen({ host: '127.0.0.1', port: 0 });
  url = `mqtt://127.0.0.1:${address.port}`;
});

after(async () => {
  await broker.close();
});

test('storage events follow a persistent session through subscribe, QoS 1 delivery, unsubscribe and expiry', async () => {
  const sub = await mqtt.connectAsync(url, {
    protocolVersion: 5,
    clientId: 'store-1',
    clean: true,
    properties: { sessionExpiryInterval: 1 },
    reconnectPeriod: 0,
  });
  await sub.subscribeAsync('s/#', { qos: 1 });
  const pub = await mqtt.connectAsync(url, { protocolVersion: 4, clientId: 'store-pub', reconnectPeriod: 0 });
  await pub.publishAsync('s/kept', 'v1', { qos: 1, retain: true });
  await waitFor(() => events.some((e) => e === 'inflight store-1 1 done'), 'the QoS 1 delivery acknowledged');
  await pub.publishAsync('s/kept', '', { qos: 0, retain: true });
  await sub.unsubscribeAsync('s/#');
  await sub.endAsync();
  await pub.endAsync();
  // Session expiry 1 s: the session is removed after it.
  await waitFor(() => events.includes('session-removed store-1'), 'session expiry', 4000);
  const mine = events.filter((e) => e.includes('store-1') || e.startsWith('retained'));
  assert.deepEqual(mine, [
    'session store-1 connected=true expiry=1',
    'subscription store-1 s/# qos=1',
    'retained s/kept v1',
    'inflight store-1 1 s/kept',
    'inflight store-1 1 done',
    'retained s/kept deleted',
    'subscription store-1 s/# removed',
    'session store-1 connected=false expiry=1',
    'session-removed store-1',
  ]);
});
