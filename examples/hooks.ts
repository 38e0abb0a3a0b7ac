/**
 * Example: a hook that stamps every PUBLISH with a prefix and refuses one topic, next to `allowAll`.
 * Run: node --import tsx examples/hooks.ts
 */
import { pathToFileURL } from 'node:url';
import { allowAll, Broker, ReasonCode } from '../src/index.js';

/** Starts a broker with the hooks, publishes from an in-process client, returns what a subscriber got. */
export async function main(): Promise<string[]> {
  const broker = new Broker({ sysInterval: 0 });
  await broker.addHook(allowAll);
  await broker.addHook({
    id: 'stamp',
    onPublish(_client, packet) {
      if (packet.topic === 'forbidden') return { action: 'reject', reasonCode: ReasonCode.TopicNameInvalid };
      return {
        action: 'continue',
        packet: { ...packet, payload: Buffer.from(`stamped:${packet.payload.toString()}`) },
      };
    },
  });
  const seen: string[] = [];
  await broker.subscribe('#', (message) => seen.push(`${message.topic}=${message.payload.toString()}`));
  const client = await broker.createClient('example');
  client.inject({
    type: 'publish',
    topic: 'forbidden',
    payload: Buffer.from('x'),
    qos: 0,
    retain: false,
    dup: false,
  });
  client.inject({
    type: 'publish',
    topic: 'greeting',
    payload: Buffer.from('hello'),
    qos: 0,
    retain: false,
    dup: false,
  });
  await broker.close();
  return seen;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(await main());
}
