/**
 * Starling in its own process for the broker benchmark, so its CPU is measured apart from the load
 * generator's. Prints `{"port":N}` on stdout once listening; closes cleanly on SIGTERM (which also lets
 * `node --cpu-prof` write its profile).
 */
import { Broker, sqliteStorage } from '../../src/index.js';

// Same queue ceiling as the Mosquitto config of the benchmark: nobody drops messages in fan-out. With
// STARLING_BENCH_DATA set, state goes to the SQLite store in that directory.
const dataDir = process.env.STARLING_BENCH_DATA;
const broker = new Broker({
  maxQueuedMessages: 1_000_000,
  ...(dataDir === undefined ? {} : { storage: sqliteStorage(dataDir) }),
});
const address = await broker.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);

let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  // Bounded: a broker that cannot close in 2 s is left to the exit.
  const forced = setTimeout(() => process.exit(0), 2000);
  broker.close().finally(() => {
    clearTimeout(forced);
    process.exit(0);
  });
});
