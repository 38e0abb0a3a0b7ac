/**
 * Memory per idle connected client, broker side: Starling, Mosquitto and Aedes each in a process of its
 * own, N raw clients connected (CONNECT + one SUBSCRIBE each), the broker's RSS read from /proc before and
 * after. Run: `npm run build && node dist/bench/broker-footprint.js [--clients 5000]`.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { type BrokerName, launchBroker, mosquittoPath } from './lib/brokers.js';

const { values } = parseArgs({ options: { clients: { type: 'string' } } });
const CLIENTS = Math.min(Number(values.clients ?? 5000), 15_000);
const BATCH = 200;
const TIME_LIMIT_MS = 60_000;

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
          Buffer.from([0x82, subscribeBody.length]),
          subscribeBody,
        ]),
      );
    });
    let received = 0;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received >= 9) resolve(); // CONNACK (4 bytes) + SUBACK (5 bytes)
    });
    socket.once('error', reject);
  });
}

async function measure(name: BrokerName): Promise<string> {
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
    const after = rssKiB(broker.pid);
    const perClient = (after - before) / sockets.length;
    return `${name.padEnd(10)} ${String(sockets.length).padStart(6)} clients  RSS ${String(before).padStart(7)} -> ${String(after).padStart(7)} KiB  ${perClient.toFixed(2).padStart(6)} KiB per idle client`;
  } finally {
    for (const socket of sockets) socket.destroy();
    await broker.stop();
  }
}

const names: BrokerName[] = [
  'starling',
  ...(mosquittoPath() === undefined ? [] : ['mosquitto' as const]),
  'aedes',
];
console.log(`broker memory per idle client (CONNECT + one QoS 1 subscription each), ${CLIENTS} clients`);
for (const name of names) console.log(await measure(name));
