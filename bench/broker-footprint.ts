/**
 * Memory per idle connected client, broker side: Starling, Mosquitto and Aedes each in a process of its
 * own, N raw clients connected (CONNECT, and one SUBSCRIBE each unless --no-subscribe), the broker's RSS
 * read from /proc before and after. With several counts (`--clients 5000,19000`) it also prints the
 * marginal cost between them, which leaves out what a process grows once (the V8 young generation).
 * The baseline is read after `--idle-seconds` (default 30) of idling from start, once a garbage-collected
 * broker has given back its start-up garbage. Two figures against it: "after 1 s", RSS 1 s after the last
 * client connected, which still holds the connection burst's garbage; "idle", RSS after the clients have
 * idled as long, which is the footprint of idle clients.
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
    'idle-seconds': { type: 'string', default: '30' },
  },
});
// The generator holds every socket too: one process stays below its 20 000 open files.
const COUNTS = (values.clients ?? '5000').split(',').map((n) => Math.min(Number(n), 19_000));
const SUBSCRIBE = values['no-subscribe'] !== true;
const BATCH = 200;
const TIME_LIMIT_MS = 60_000;
const IDLE_MS = Math.min(Math.max(Number(values['idle-seconds']) || 30, 2), 120) * 1000;

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

interface Footprint {
  clients: number;
  /** RSS growth 1 s after the last client connected: the burst's aftermath. */
  burstKiB: number;
  /** RSS growth once the clients idled for --idle-seconds: the idle footprint. */
  idleKiB: number;
  line: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function measure(name: BrokerName, CLIENTS: number): Promise<Footprint> {
  const broker = await launchBroker(name);
  const sockets: net.Socket[] = [];
  try {
    // A collected heap returns its start-up garbage only once the process idles: the baseline waits for it.
    await sleep(IDLE_MS);
    const settled = rssKiB(broker.pid);
    const deadline = Date.now() + TIME_LIMIT_MS;
    for (let i = 0; i < CLIENTS && Date.now() < deadline; i += BATCH) {
      const batch: Promise<void>[] = [];
      for (let k = i; k < Math.min(i + BATCH, CLIENTS); k++) batch.push(connectIdle(broker.port, k, sockets));
      await Promise.all(batch);
    }
    await sleep(1000);
    const soon = rssKiB(broker.pid);
    await sleep(IDLE_MS - 1000);
    const after = rssKiB(broker.pid);
    const n = sockets.length;
    const burstKiB = soon - settled;
    const idleKiB = after - settled;
    const kib = (v: number) => String(v).padStart(7);
    return {
      clients: n,
      burstKiB,
      idleKiB,
      line: `${name.padEnd(10)} ${String(n).padStart(6)} clients  RSS ${kib(settled)} -> ${kib(soon)} KiB after 1 s, ${(burstKiB / n).toFixed(2).padStart(5)} KiB per client;  -> ${kib(after)} KiB idle ${IDLE_MS / 1000} s, ${(idleKiB / n).toFixed(2).padStart(5)} KiB per idle client`,
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
    const marginal = (key: 'burstKiB' | 'idleKiB') =>
      ((last[key] - first[key]) / (last.clients - first.clients)).toFixed(2);
    console.log(
      `${name.padEnd(10)} marginal ${first.clients} -> ${last.clients}: after 1 s ${marginal('burstKiB')}, idle ${marginal('idleKiB')} KiB per client`,
    );
  }
}
