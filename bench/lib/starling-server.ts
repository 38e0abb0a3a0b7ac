/**
 * Starling in its own process for the benchmarks, so its CPU is measured apart from the load generator's:
 * `starling-server [<redis-url> <node-id>]` (with both, a cluster node for the cluster benchmark). Prints
 * `{"port":N}` on stdout once listening; closes cleanly on SIGTERM (which also lets `node --cpu-prof` write
 * its profile).
 */
import { Broker, sqliteStorage } from '../../src/index.js';

// Same queue ceiling as the Mosquitto config of the benchmark: nobody drops messages in fan-out. With
// STARLING_BENCH_DATA set, state goes to the SQLite store in that directory.
const dataDir = process.env.STARLING_BENCH_DATA;
const [url, nodeId] = process.argv.slice(2);
const clustered = url !== undefined && nodeId !== undefined;
// STARLING_BENCH_LINK=off: a cluster node without direct links (everything through Redis).
const link = process.env.STARLING_BENCH_LINK === 'off' ? { link: false as const } : {};
const broker = new Broker({
  maxQueuedMessages: 1_000_000,
  // As `starling broker` runs: memory is given back once the broker goes quiet (the footprint benchmark).
  trimHeapWhenIdle: true,
  ...(dataDir === undefined ? {} : { storage: sqliteStorage(dataDir) }),
  ...(clustered ? { sysInterval: 0, cluster: { url, nodeId, keyPrefix: 'bench:', ...link } } : {}),
});
const address = await broker.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);

let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  // Bounded: a broker that cannot close in time (a cluster node waits for Redis) is left to the exit.
  const forced = setTimeout(() => process.exit(0), clustered ? 3000 : 2000);
  broker.close().finally(() => {
    clearTimeout(forced);
    process.exit(0);
  });
});
