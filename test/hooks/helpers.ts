/** Small helpers shared by the hook tests: bounded waits and an MQTT.js message collector. */
import { afterEach, beforeEach } from 'node:test';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { Broker } from '../../src/index.js';

/** Resolve once `predicate` holds; reject after `timeoutMs` (polls every 10 ms, so the loop is bounded). */
export async function waitFor(predicate: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export interface Received {
  topic: string;
  payload: string;
  retain: boolean;
  qos: number;
}

/** Collect every message an MQTT.js client receives. */
export function collect(client: MqttClient): Received[] {
  const out: Received[] = [];
  client.on('message', (topic, payload, packet) => {
    out.push({ topic, payload: payload.toString(), retain: packet.retain, qos: packet.qos });
  });
  return out;
}

/**
 * Per test: a broker (no $SYS) on a free loopback port, handed to `use`, and a `connect` for MQTT.js
 * clients that are ended, with the broker, after each test. Call inside a `describe`.
 */
export function brokerPerTest(
  use: (broker: Broker) => void,
  defaults: IClientOptions = {},
): (clientId: string, extra?: IClientOptions) => Promise<MqttClient> {
  let broker: Broker | undefined;
  let url = '';
  const clients: MqttClient[] = [];
  beforeEach(async () => {
    broker = new Broker({ sysInterval: 0 });
    const address = await broker.listen({ host: '127.0.0.1', port: 0 });
    url = `mqtt://127.0.0.1:${address.port}`;
    use(broker);
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) await client.endAsync(true);
    await broker?.close();
  });
  return async (clientId, extra = {}) => {
    const client = await mqtt.connectAsync(url, { clientId, reconnectPeriod: 0, ...defaults, ...extra });
    clients.push(client);
    return client;
  };
}
