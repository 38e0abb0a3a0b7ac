/**
 * Client footprint: memory per idle connected client and CPU per QoS 0 publish, Starling vs MQTT.js,
 * against a local mosquitto. Each measurement runs in its own child process so the libraries do not
 * share a heap.
 *
 *   node dist/bench/client-footprint.js [--clients 2000] [--messages 200000]   (after a build)
 *   node --import tsx bench/client-footprint.ts
 *
 * Quote numbers from the built JavaScript: under tsx every transpiled function carries an extra
 * property array (esbuild's name helper), which roughly doubles the measured heap per client.
 */
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { connect } from '../src/client/index.js';
import { startMosquitto } from '../test/support/mosquitto.js';

type Library = 'starling' | 'mqttjs';
type Mode = 'idle' | 'publish';

interface IdleResult {
  clients: number;
  rssPerClient: number;
  heapPerClient: number;
  connectMs: number;
}

interface PublishResult {
  messages: number;
  cpuMicrosPerMessage: number;
  messagesPerSecond: number;
}

/** The smallest common client surface the measurements need. */
interface BenchClient {
  publish(topic: string, payload: Buffer): Promise<void>;
  end(): Promise<void>;
}

function argument(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  const value = index >= 0 ? Number(process.argv[index + 1]) : Number.NaN;
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

async function open(library: Library, url: string): Promise<BenchClient> {
  if (library === 'starling') {
    const client = await connect(url, { protocolVersion: 4, reconnect: false });
    return { publish: (topic, payload) => client.publish(topic, payload), end: () => client.end() };
  }
  const client = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0 });
  return {
    publish: (topic, payload) =>
      new Promise((resolve, reject) =>
        client.publish(topic, payload, { qos: 0 }, (e) => (e ? reject(e) : resolve())),
      ),
    end: () => client.endAsync(),
  };
}

function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run the child with --expose-gc');
  gc();
  gc();
}

async function measureIdle(library: Library, url: string, count: number): Promise<IdleResult> {
  // Load and warm the library's connect path before the baseline.
  await (await open(library, url)).end();
  await new Promise((resolve) => setTimeout(resolve, 200));
  collectGarbage();
  const before = process.memoryUsage();
  const started = performance.now();
  const clients: BenchClient[] = [];
  const batch = 100;
  for (let i = 0; i < count; i += batch) {
    const size = Math.min(batch, count - i);
    clients.push(...(await Promise.all(Array.from({ length: size }, () => open(library, url)))));
  }
  const connectMs = performance.now() - started;
  await new Promise((resolve) => setTimeout(resolve, 1000));
  collectGarbage();
  const after = process.memoryUsage();
  const result = {
    clients: count,
    rssPerClient: (after.rss - before.rss) / count,
    heapPerClient: (after.heapUsed - before.heapUsed) / count,
    connectMs,
  };
  for (let i = 0; i < clients.length; i += batch)
    await Promise.all(clients.slice(i, i + batch).map((c) => c.end()));
  return result;
}

async function measurePublish(library: Library, url: string, messages: number): Promise<PublishResult> {
  const client = await open(library, url);
  const payload = Buffer.from('0123456789abcdef');
  const topic = 'bench/footprint';
  // Every library gets the same loop: fire a batch, then wait for the last one of it to be written.
  const run = async (n: number): Promise<void> => {
    for (let sent = 0; sent < n; sent += 1000) {
      let last: Promise<void> = Promise.resolve();
      for (let i = 0; i < 1000; i++) last = client.publish(topic, payload);
      await last;
    }
  };
  await run(20_000);
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await run(messages);
  const elapsedMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  await client.end();
  return {
    messages,
    cpuMicrosPerMessage: (cpu.user + cpu.system) / messages,
    messagesPerSecond: (messages / elapsedMs) * 1000,
  };
}

/** Runs one measurement in a fresh node process (same loader flags, plus --expose-gc). */
function child<T>(library: Library, mode: Mode, url: string, amount: number): Promise<T> {
  const script = fileURLToPath(import.meta.url);
  const args = [...process.execArgv, '--expose-gc', script, '--child', library, mode, url, String(amount)];
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    proc.once('error', reject);
    proc.once('exit', (code) => {
      if (code !== 0) reject(new Error(`${library} ${mode} exited with ${code}`));
      else resolve(JSON.parse(out.trim().split('\n').pop() ?? '{}') as T);
    });
  });
}

async function runChild(): Promise<void> {
  const [library, mode, url, amount] = process.argv.slice(process.argv.indexOf('--child') + 1);
  const lib = library as Library;
  const result =
    mode === 'idle'
      ? await measureIdle(lib, url ?? '', Number(amount))
      : await measurePublish(lib, url ?? '', Number(amount));
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function kb(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

async function main(): Promise<void> {
  const clients = argument('clients', 2000);
  const messages = argument('messages', 200_000);
  const broker = await startMosquitto({ config: ['max_connections -1'] });
  try {
    // `mosquitto -h` prints its version first and exits non-zero.
    const mosquittoVersion = spawnSync('mosquitto', ['-h'], { encoding: 'utf8' }).stdout.split('\n')[0];
    const rows: string[][] = [];
    for (const library of ['starling', 'mqttjs'] as const) {
      const idle = await child<IdleResult>(library, 'idle', broker.url, clients);
      const publish = await child<PublishResult>(library, 'publish', broker.url, messages);
      rows.push([
        library === 'starling' ? 'Starling' : 'MQTT.js',
        kb(idle.rssPerClient),
        kb(idle.heapPerClient),
        `${Math.round(idle.connectMs)} ms`,
        `${publish.cpuMicrosPerMessage.toFixed(2)} µs`,
        `${Math.round(publish.messagesPerSecond).toLocaleString('en-US')}/s`,
      ]);
    }
    const header = [
      'client',
      'RSS/idle client',
      'heap/idle client',
      `connect ${clients}`,
      'CPU/QoS0 msg',
      'publish rate',
    ];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
    const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
    console.log(
      `${clients} idle clients, ${messages} QoS 0 publishes of 16 bytes, ${mosquittoVersion}, node ${process.version}`,
    );
    console.log(line(header));
    for (const row of rows) console.log(line(row));
  } finally {
    await broker.stop();
  }
}

if (process.argv.includes('--child')) await runChild();
else await main();
