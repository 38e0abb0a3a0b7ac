/**
 * Example: inject packets as an in-process client and read the broker's answers.
 * Run: node --import tsx examples/injection.ts
 */
import { pathToFileURL } from 'node:url';
import { Broker } from '../src/index.js';

/** Subscribes and publishes by injection; returns the packet types the in-process client received. */
export async function main(): Promise<string[]> {
  const broker = new Broker({ sysInterval: 0 });
  const client = await broker.createClient('injector', { protocolVersion: 5 });
  broker.injectPacket('injector', {
    type: 'subscribe',
    packetId: 1,
    subscriptions: [{ topicFilter: 'echo', qos: 1 }],
  });
  broker.injectPacket(client, {
    type: 'publish',
    topic: 'echo',
    payload: Buffer.from('ping'),
    qos: 1,
    retain: false,
    dup: false,
    packetId: 2,
  });
  // The broker writes its answers after the current turn: give it one.
  await new Promise((resolve) => setImmediate(resolve));
  await broker.close();
  return client.received.map((packet) => packet.type);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(await main());
}
