/**
 * Slow readers against the broker's memory: N subscribers that never read, one that keeps up, and one
 * publisher pushing 1 KiB QoS 0 messages as fast as the healthy subscriber takes them, for a fixed time.
 * Reports the broker's RSS growth and the healthy subscriber's delivery rate, with and without the stalled
 * readers, for Starling and Mosquitto (same run, each broker in its own process).
 *
 *   npm run build && node dist/bench/stalled-readers.js [--stalled 1000] [--seconds 20]
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { encode } from '../src/packets/index.js';
import { type BrokerName, launchBroker, mosquittoPath } from './lib/brokers.js';
import { parseArgs } from './lib/cli-args.js';

const { values } = parseArgs({
  options: {
    stalled: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '20' },
    brokers: { type: 'string', default: 'starling,mosquitto' },
  },
});
const STALLED = Math.min(15_000, Number(values.stalled));
const SECONDS = Math.min(300, Number(values.seconds));
const PAYLOAD = Buffer.alloc(1024, 0x61);

function rssMiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match === null ? Number.NaN : Number(match[1]) / 1024;
}

/** Connect and subscribe to `flood/#` at QoS 0; resolves once SUBACK arrived. */
function subscriber(port: number, id: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', reject);
    socket.once('connect', () => {
      socket.write(
        encode(
          {
            type: 'connect',
            protocolName: 'MQTT',
            protocolVersion: 4,
            clean: true,
            keepalive: 0,
            clientId: id,
          },
          4,
        ),
      );
      socket.write(
        encode({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'flood/#', qos: 0 }] }, 4),
      );
    });
    let got = 0;
    const onData = (chunk: Buffer): void => {
      got += chunk.length;
      if (got >= 4 + 5) {
        socket.off('data', onData);
        resolve(socket);
      }
    };
    socket.on('data', onData);
  });
}

interface RunResult {
  growth: number;
  rate: number;
  /** The healthy subscriber's msgs/s in each second of the run: shows a start-up dip apart from the rest. */
  perSecond: number[];
}

async function run(name: BrokerName, stalled: number): Promise<RunResult> {
  const broker = await launchBroker(name);
  const sockets: net.Socket[] = [];
  try {
    for (let i = 0; i < stalled; i += 100) {
      const wave = await Promise.all(
        Array.from({ length: Math.min(100, stalled - i) }, (_, j) =>
          subscriber(broker.port, `stalled-${i + j}`),
        ),
      );
      for (const socket of wave) socket.pause();
      sockets.push(...wave);
    }
    const healthy = await subscriber(broker.port, 'healthy');
    sockets.push(healthy);
    let received = 0;
    healthy.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    const publisher = await subscriber(broker.port, 'publisher');
    sockets.push(publisher);
    const packet = encode(
      { type: 'publish', topic: 'flood/x', payload: PAYLOAD, qos: 0, retain: false, dup: false },
      4,
    );
    const batch = Buffer.concat(Array.from({ length: 64 }, () => packet));
    await new Promise((r) => setTimeout(r, 500));
    const before = rssMiB(broker.pid);
    let peak = before;
    let sent = 0;
    const start = Date.now();
    const end = start + SECONDS * 1000;
    const perSecond: number[] = [];
    let counted = 0;
    while (Date.now() < end) {
      if (Date.now() - start >= (perSecond.length + 1) * 1000) {
        perSecond.push(Math.round((received - counted) / packet.length));
        counted = received;
      }
      // At most 256 KiB ahead of what the healthy reader has taken: it paces the publisher.
      if ((sent - received / packet.length) * packet.length < 256 * 1024) {
        publisher.write(batch);
        sent += 64;
      }
      await new Promise((r) => setImmediate(r));
      if (sent % 6400 === 0) peak = Math.max(peak, rssMiB(broker.pid));
    }
    peak = Math.max(peak, rssMiB(broker.pid));
    return { growth: peak - before, rate: received / packet.length / SECONDS, perSecond };
  } finally {
    for (const socket of sockets) socket.destroy();
    await broker.stop();
  }
}

const brokers = (values.brokers ?? '')
  .split(',')
  .filter((b): b is BrokerName => b === 'starling' || (b === 'mosquitto' && mosquittoPath() !== undefined));
console.log(
  `stalled readers: ${STALLED} that never read, 1 healthy, 1 publisher of 1 KiB QoS 0, ${SECONDS} s each`,
);
console.log(
  '| broker | stalled readers | RSS growth MiB | healthy msgs/s | healthy rate vs no stalled readers |',
);
console.log('|---|---|---|---|---|');
const perSecondLines: string[] = [];
for (const name of brokers) {
  const alone = await run(name, 0);
  const crowded = await run(name, STALLED);
  console.log(
    `| ${name} | 0 | ${alone.growth.toFixed(0)} | ${Math.round(alone.rate).toLocaleString('en-US')} | |`,
  );
  console.log(
    `| ${name} | ${STALLED} | ${crowded.growth.toFixed(0)} | ${Math.round(crowded.rate).toLocaleString('en-US')} | ${((crowded.rate / alone.rate) * 100).toFixed(0)} % |`,
  );
  perSecondLines.push(`${name}, 0 stalled: ${alone.perSecond.join(' ')}`);
  perSecondLines.push(`${name}, ${STALLED} stalled: ${crowded.perSecond.join(' ')}`);
}
console.log('\nhealthy msgs/s, second by second:');
for (const line of perSecondLines) console.log(line);
