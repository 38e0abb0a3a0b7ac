/**
 * Child process for the descriptor-exhaustion test: a broker with an HTTP listener (and $SYS off) that,
 * when told `exhaust` on stdin, opens /dev/null until the process has no descriptor left and answers
 * `exhausted N`. Prints `port N` once listening. Inert unless STARLING_EMFILE_CHILD=1, because the test
 * runner also loads every file under test/.
 */
import { openSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Broker } from '../../src/index.js';

if (process.env.STARLING_EMFILE_CHILD === '1') {
  const broker = new Broker({ sysInterval: 0, listeners: [{ type: 'http', host: '127.0.0.1', port: 0 }] });
  const [address] = await broker.start();
  if (address === undefined || typeof address === 'string') throw new Error('no HTTP address');
  process.stdout.write(`port ${address.port}\n`);
  const held: number[] = [];
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line !== 'exhaust') return;
    // Bounded by the descriptor limit the parent set (ulimit -n).
    for (let i = 0; i < 100_000; i++) {
      try {
        held.push(openSync('/dev/null', 'r'));
      } catch {
        break;
      }
    }
    process.stdout.write(`exhausted ${held.length}\n`);
  });
}
