/**
 * Memory per idle connected client, broker side: Starling, Mosquitto and Aedes each in a process of its
 * own, N raw clients connected (CONNECT, and one SUBSCRIBE each unless --no-subscribe), the broker's RSS
 * read from /proc before and after. With several counts (`--clients 5000,19000`) it also prints the
 * marginal cost between them, which leaves out what a process grows once (the V8 young generation).
 * RSS is read 1 s after the last client connected and again after `--idle-seconds` (default 10): a garbage
 * collected broker still holds the connection burst's garbage at the first reading, and V8 returns it
 * only once it sees the process idle; the second reading is the idle footprint.
 * Run: `npm run build && node dist/bench/broker-footprint.js [--clients 5000,19000] [--no-subscribe]`.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { type BrokerName, launchBroker, mosquittoPath } from './lib/brokers.js';
import { parseArgs } from './lib/cli-args.js';

const { values } = parseArgs({
  options: {
    clients: { type: 'string' },
    'no-subscribe': { type: 'boolean', default: false },
    brokers: { type: 'string', default: 'starling,mosquitto,aedes' },
    'idle-seconds': { type: 'string', default: '10' },
  },
});
// The generator holds every socket too: one process stays below its 20 000 open files.
const COUNTS = (values.clients ?? '5000').split(',').map((n) => Math.min(Number(n), 19_000));
const SUBSCRIBE = values['no-subscribe'] !== true;
const BATCH = 200;
const TIME_LIMIT_MS = 60_000;
const IDLE_MS = Math.min(Math.max(Number(values['idle-seconds']) || 10, 1), 120) * 1000;

function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match === null ? Number.NaN : Number(match[1]);
}

/** One client: CONNECT (v3.1.1, clean, keep alive 600) then SUBSCRIBE `idle/<i>` at QoS 1; resolves on SUBACK. */
function connectIdle(port: number, i: number, sockets: net.Socket[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    sockets.push(socket);
    const id = Buffer.from(`idle-${i}`);
    const topic = Buffer.from(`idle/${i}`);
    const connectBody = Buffer.concat([Buffer.from([0, 4, 77, 81, 84, 84, 4, 2, 2, 88, 0, id.length]), id]);
    const subscribeBody = Buffer.concat([Buffer.from([0, 1, 0, topic.length]), topic, Buffer.from([1])]);
    socket.once('connect', () => {
      socket.write(
        Buffer.concat([
          Buffer.from([0x10, connectBody.length]),
          connectBody,
          ...(SUBSCRIBE ? [Buffer.from([0x82, subscribeBody.length]), subscribeBody] : []),
        ]),
      );
    });
    let received = 0;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received >= (SUBSCRIBE ? 9 : 4)) resolve(); // CONNACK (4 bytes) + SUBACK (5 bytes)
    });
    socket.once('error', reject);
  });
}

async function measure(
  name: BrokerName,
  CLIENTS: number,
): Promise<{ clients: number; kib: number; line: string }> {
  const broker = await launchBroker(name);
  const sockets: net.Socket[] = [];
  try {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const before = rssKiB(broker.pid);
    const deadline = Date.now() + TIME_LIMIT_MS;
    for (let i = 0; i < CLIENTS && Date.now() < deadline; i += BATCH) {
      const batch: Promise<void>[] = [];
      for (let k = i; k < Math.min(i + BATCH, CLIENTS); k++) batch.push(connectIdle(broker.port, k, sockets));
      await Promise.all(batch);
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const soon = rssKiB(broker.pid);
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS - 1000));
    const after = rssKiB(broker.pid);
    const perClient = (after - before) / sockets.length;
    const perClientSoon = (soon - before) / sockets.length;
    return {
      clients: sockets.length,
      kib: after - before,
      line: `${name.padEnd(10)} ${String(sockets.length).padStart(6)} clients  RSS ${String(before).padStart(7)} -> ${String(soon).padStart(7)} (1 s) -> ${String(after).padStart(7)} KiB (${IDLE_MS / 1000} s)  ${perClientSoon.toFixed(2).padStart(6)} (1 s) ${perClient.toFixed(2).padStart(6)} KiB per idle client`,
    };
  } finally {
    for (const socket of sockets) socket.destroy();
    await broker.stop();
  }
}

const names = (values.brokers ?? '')
  .split(',')
  .filter(
    (n): n is BrokerName =>
      n === 'starling' || n === 'aedes' || (n === 'mosquitto' && mosquittoPath() !== undefined),
  );
console.log(
  `broker memory per idle client (CONNECT${SUBSCRIBE ? ' + one QoS 1 subscription' : ''} each), ${COUNTS.join(' and ')} clients`,
);
for (const name of names) {
  const results = [];
  for (const count of COUNTS) {
    const result = await measure(name, count);
    console.log(result.line);
    results.push(result);
  }
  const first = results[0];
  const last = results.at(-1);
  if (first !== undefined && last !== undefined && last.clients > first.clients) {
    const marginal = (last.kib - first.kib) / (last.clients - first.clients);
    console.log(
      `${name.padEnd(10)} marginal ${first.clients} -> ${last.clients}: ${marginal.toFixed(2)} KiB per idle client`,
    );
  }
}
