/**
 * Load generator efficiency: the same QoS 0 publish workload through the Starling client and through
 * MQTT.js, each in this process against an embedded Starling broker in its own process, reported as
 * messages per CPU-second of this process (user + system) and the ratio between the two.
 *
 * Run: `node --import tsx bench/generator-efficiency.ts [messages]` (default 200000, 100-byte payloads).
 */
import mqtt from 'mqtt';
import { startEmbeddedBroker } from '../src/bench/embedded-broker.js';
import { connect } from '../src/client/index.js';

const MESSAGES = Number(process.argv[2] ?? 200_000);
/** Publishes between two waits on the transport, for both clients alike. */
const BATCH = 1000;
const TOPIC = 'efficiency/test';
const PAYLOAD = Buffer.alloc(100, 0x2e);

interface Measurement {
  readonly name: string;
  readonly cpuSeconds: number;
  readonly wallSeconds: number;
}

async function measure(name: string, run: () => Promise<void>): Promise<Measurement> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await run();
  const cpu = process.cpuUsage(cpu0);
  return { name, cpuSeconds: (cpu.user + cpu.system) / 1e6, wallSeconds: (performance.now() - t0) / 1000 };
}

async function starling(url: string): Promise<void> {
  const client = await connect(url, { protocolVersion: 4, reconnect: false });
  for (let i = 0; i < MESSAGES; i += BATCH) {
    let last: Promise<void> = Promise.resolve();
    for (let j = i; j < Math.min(MESSAGES, i + BATCH); j++) last = client.publish(TOPIC, PAYLOAD, { qos: 0 });
    await last;
    await new Promise((resolve) => setImmediate(resolve));
  }
  await client.end();
}

async function mqttJs(url: string): Promise<void> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0 });
  for (let i = 0; i < MESSAGES; i += BATCH) {
    let last: Promise<unknown> = Promise.resolve();
    for (let j = i; j < Math.min(MESSAGES, i + BATCH); j++)
      last = client.publishAsync(TOPIC, PAYLOAD, { qos: 0 });
    await last;
    await new Promise((resolve) => setImmediate(resolve));
  }
  await client.endAsync();
}

function line(m: Measurement): string {
  const perCpu = MESSAGES / m.cpuSeconds;
  return `${m.name.padEnd(9)} ${MESSAGES} msgs  CPU ${m.cpuSeconds.toFixed(3)} s  wall ${m.wallSeconds.toFixed(3)} s  ${Math.round(perCpu).toLocaleString('en-US')} msgs per CPU-second`;
}

const broker = await startEmbeddedBroker({ sysIntervalSeconds: 0 });
try {
  // A short warm-up of each so both are measured with optimised code.
  const ours = await measure('starling', async () => starling(broker.url));
  const theirs = await measure('MQTT.js', async () => mqttJs(broker.url));
  const ours2 = await measure('starling', async () => starling(broker.url));
  const theirs2 = await measure('MQTT.js', async () => mqttJs(broker.url));
  const best = (a: Measurement, b: Measurement): Measurement => (a.cpuSeconds <= b.cpuSeconds ? a : b);
  const s = best(ours, ours2);
  const m = best(theirs, theirs2);
  process.stdout.write(`${line(s)}\n${line(m)}\n`);
  process.stdout.write(
    `ratio: Starling pushes ${(m.cpuSeconds / s.cpuSeconds).toFixed(2)}x as many messages per CPU-second as MQTT.js (best of 2 runs each)\n`,
  );
} finally {
  await broker.stop();
}
