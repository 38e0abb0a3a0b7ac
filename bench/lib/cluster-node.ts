/**
 * One Starling cluster node in its own process for the cluster benchmark: `cluster-node <redis-url>
 * <node-id>` (no arguments: a plain single broker, no cluster). Prints `{"port":N}` once listening; closes
 * cleanly on SIGTERM.
 */
import { Broker } from '../../src/index.js';

const [url, nodeId] = process.argv.slice(2);
const broker = new Broker({
  maxQueuedMessages: 1_000_000,
  sysInterval: 0,
  ...(url === undefined || nodeId === undefined ? {} : { cluster: { url, nodeId, keyPrefix: 'bench:' } }),
});
const address = await broker.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);

let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  const forced = setTimeout(() => process.exit(0), 3000);
  broker.close().finally(() => {
    clearTimeout(forced);
    process.exit(0);
  });
});
