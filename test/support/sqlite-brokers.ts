/**
 * Brokers on SQLite data directories for a test file: fresh directories removed after the file, brokers
 * stopped after each test, and a restart on the same directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach } from 'node:test';
import { sqliteStorage } from '../../src/storage/sqlite.js';
import { type BrokerHarness, startBroker } from './broker-harness.js';

export interface SqliteBrokers {
  /** A new empty data directory. */
  freshDir(): string;
  /** A broker on `dir` (a database cap in bytes, if given). */
  brokerOn(dir: string, maxBytes?: number): Promise<BrokerHarness>;
  /** Stop `h` and start a broker on the same directory. */
  restart(h: BrokerHarness, dir: string): Promise<BrokerHarness>;
}

/** Call at the top level of a test file (it registers the file's cleanup). */
export function sqliteBrokers(prefix: string): SqliteBrokers {
  const dirs: string[] = [];
  const running: BrokerHarness[] = [];
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    for (const h of running.splice(0)) await h.stop();
  });
  const brokerOn = async (dir: string, maxBytes?: number): Promise<BrokerHarness> => {
    const h = await startBroker({ storage: sqliteStorage(dir, maxBytes === undefined ? {} : { maxBytes }) });
    running.push(h);
    return h;
  };
  return {
    freshDir() {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(dir);
      return dir;
    },
    brokerOn,
    async restart(h, dir) {
      running.splice(running.indexOf(h), 1);
      await h.stop();
      return brokerOn(dir);
    },
  };
}
