/**
 * Example: the inline client publishes and subscribes from inside the broker process, retained messages
 * included. Run: node --import tsx examples/inline-client.ts
 */
import { pathToFileURL } from 'node:url';
import { Broker } from '../src/index.js';

/** Stores a retained reading, subscribes in-process, publishes one more; returns what the handler saw. */
export async function main(): Promise<string[]> {
  const broker = new Broker({ sysInterval: 0 });
  broker.publish('sensors/kitchen', '21.5', { retain: true });
  const seen: string[] = [];
  const unsubscribe = await broker.subscribe('sensors/+', (message, delivery) => {
    seen.push(`${message.topic}=${message.payload.toString()}${delivery.retain ? ' (retained)' : ''}`);
  });
  broker.publish('sensors/hall', '19.0');
  unsubscribe();
  broker.publish('sensors/hall', 'not seen: unsubscribed');
  await broker.close();
  return seen;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(await main());
}
