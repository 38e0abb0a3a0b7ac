import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { Broker } from '../../src/index.js';
import { waitFor } from './helpers.js';

describe('$SYS topics', () => {
  let broker: Broker;
  let url: string;
  const clients: MqttClient[] = [];
  const ticks: Readonly<Record<string, number | string>>[] = [];

  before(async () => {
    broker = new Broker({ sysInterval: 0.05 });
    await broker.addHook({ onSysInfoTick: (info) => void ticks.push(info) });
    const address = await broker.listen({ host: '127.0.0.1', port: 0 });
    url = `mqtt://127.0.0.1:${address.port}`;
  });

  after(async () => {
    for (const client of clients.splice(0)) await client.endAsync(true);
    await broker.close();
  });

  it('a $SYS/# subscriber gets Mosquitto-named retained counters that move with the traffic', async () => {
    const latest = new Map<string, string>();
    const sub = await mqtt.connectAsync(url, { clientId: 'sys-watch', reconnectPeriod: 0 });
    clients.push(sub);
    sub.on('message', (topic, payload) => latest.set(topic, payload.toString()));
    await sub.subscribeAsync('$SYS/#');
    await waitFor(() => latest.has('$SYS/broker/clients/connected'), 'the first $SYS values');
    for (const name of [
      'version',
      'uptime',
      'clients/total',
      'clients/maximum',
      'clients/disconnected',
      'messages/stored',
      'publish/messages/dropped',
      'subscriptions/count',
      'retained messages/count',
      'bytes/received',
      'bytes/sent',
      'load/messages/received/1min',
      'load/messages/sent/15min',
      'heap/current',
    ]) {
      assert.ok(latest.has(`$SYS/broker/${name}`), `missing $SYS/broker/${name}`);
    }
    assert.match(latest.get('$SYS/broker/version') ?? '', /^starling version /);
    const received = (): number => Number(latest.get('$SYS/broker/publish/messages/received'));
    const before = received();
    const pub = await mqtt.connectAsync(url, { clientId: 'sys-pub', reconnectPeriod: 0 });
    clients.push(pub);
    for (let i = 0; i < 5; i++) await pub.publishAsync('load/x', `m${i}`, { qos: 1, retain: i === 4 });
    await waitFor(() => received() >= before + 5, 'publish/messages/received to grow by 5');
    await waitFor(() => Number(latest.get('$SYS/broker/clients/connected')) === 2, 'clients/connected = 2');
    await waitFor(
      () => Number(latest.get('$SYS/broker/load/messages/received/1min')) > 0,
      'the 1 min load to rise',
    );
    assert.ok(Number(latest.get('$SYS/broker/retained messages/count')) >= 1);
    assert.ok(ticks.length >= 2, 'onSysInfoTick is called every interval');
    assert.equal(typeof ticks.at(-1)?.['clients/connected'], 'number');
  });
});
