/**
 * Child of the persistence benchmark: start a broker on the SQLite store in argv[2] and print, as one JSON
 * line, how long loading took and how much memory the loaded state takes (RSS and heap, after a GC).
 */
import { Broker, sqliteStorage } from '../../src/index.js';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: startup-probe DIR');
const gc = (globalThis as { gc?: () => void }).gc;
gc?.();
const before = process.memoryUsage();
const started = performance.now();
const broker = new Broker({ storage: sqliteStorage(dir), sysInterval: 0 });
await broker.start();
const seconds = (performance.now() - started) / 1000;
gc?.();
const after = process.memoryUsage();
process.stdout.write(
  `${JSON.stringify({
    seconds,
    rssMiB: (after.rss - before.rss) / 1048576,
    heapMiB: (after.heapUsed - before.heapUsed) / 1048576,
  })}\n`,
);
await broker.close();
