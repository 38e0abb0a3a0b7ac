/**
 * What persistence costs and what it keeps, three parts (the throughput rows are `npm run bench -- --only
 * durable`):
 *
 * 1. start-up: load 100 000 retained messages and 10 000 sessions with subscriptions and queued messages;
 *    seconds and MiB, in a child process;
 * 2. growth: 100 persistent pairs push QoS 1 messages through the SQLite store; database bytes and rows
 *    after each slice (rows go when acknowledged, so it stays flat);
 * 3. kill -9: 300 acknowledged QoS 1 messages for an offline persistent session and a retained message,
 *    then kill -9 and restart, against Starling (SQLite) and Mosquitto (`persistence true`).
 *
 *   npm run bench:persistence [-- --retained 100000 --sessions 10000 --messages 300000]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMessage } from '../src/broker/message.js';
import { Broker } from '../src/index.js';
import { engineOf } from '../src/server/broker.js';
import { SqliteStore } from '../src/storage/sqlite.js';
import { parseArgs } from './lib/cli-args.js';
import { killAndCount } from './lib/kill9-compare.js';
import { runWorkload } from './lib/load.js';

const { values } = parseArgs({
  options: {
    retained: { type: 'string', default: '100000' },
    sessions: { type: 'string', default: '10000' },
    messages: { type: 'string', default: '300000' },
    only: { type: 'string' },
  },
});
const parts = values.only?.split(',') ?? ['startup', 'growth', 'kill9'];
const dirs: string[] = [];
const freshDir = (name: string): string => {
  const dir = mkdtempSync(join(tmpdir(), `starling-persist-${name}-`));
  dirs.push(dir);
  return dir;
};
process.on('exit', () => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

if (parts.includes('startup')) await startup(Number(values.retained), Number(values.sessions));
if (parts.includes('growth')) await growth(Number(values.messages));
if (parts.includes('kill9')) await kill9();

async function startup(retained: number, sessions: number): Promise<void> {
  const dir = freshDir('startup');
  const store = new SqliteStore(dir);
  await store.open();
  const now = Date.now();
  for (let i = 0; i < retained; i++) {
    store.setRetained(
      `site/${i % 100}/device/${i}/state`,
      createMessage(
        `site/${i % 100}/device/${i}/state`,
        Buffer.alloc(64, 0x61),
        1,
        true,
        undefined,
        undefined,
        now,
      ),
    );
    if (i % 10_000 === 9_999) store.commit();
  }
  let seq = 1;
  for (let i = 0; i < sessions; i++) {
    const clientId = `device-${i}`;
    store.saveSession({
      clientId,
      expiryInterval: 86_400,
      protocolVersion: 5,
      username: undefined,
      connected: false,
      disconnectedAt: now,
      will: undefined,
      willDueAt: undefined,
    });
    for (const key of [`cmd/${i}/#`, `broadcast/+`]) {
      store.saveSubscription(clientId, {
        key,
        qos: 1,
        noLocal: false,
        retainAsPublished: false,
        retainHandling: 0,
        subscriptionId: undefined,
      });
    }
    const message = createMessage(`cmd/${i}/reboot`, Buffer.from('now'), 1, false, undefined, 'ops', now);
    store.saveDelivery(clientId, {
      seq: seq++,
      message,
      qos: 1,
      retain: false,
      subscriptionIds: undefined,
      packetId: 0,
      state: 'queued',
    });
    if (i % 2_000 === 1_999) store.commit();
  }
  await store.close();
  const bytes = store.sizeBytes();
  const probe = fileURLToPath(
    new URL(`./lib/startup-probe${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url),
  );
  const result = await childJson([
    '--expose-gc',
    ...(import.meta.url.endsWith('.ts') ? ['--import', 'tsx'] : []),
    probe,
    dir,
  ]);
  console.log('\nstart-up from the SQLite store');
  console.log(
    `| retained | sessions (2 subscriptions, 1 queued each) | database MiB | load s | RSS MiB | heap MiB |`,
  );
  console.log(`|---|---|---|---|---|---|`);
  console.log(
    `| ${retained.toLocaleString('en-US')} | ${sessions.toLocaleString('en-US')} | ${(bytes / 1048576).toFixed(1)} | ${result.seconds.toFixed(2)} | ${result.rssMiB.toFixed(0)} | ${result.heapMiB.toFixed(0)} |`,
  );
}

async function growth(messages: number): Promise<void> {
  const dir = freshDir('growth');
  const slices = 3;
  console.log('\ndatabase size while 100 persistent pairs push QoS 1 messages (rows go when acknowledged)');
  console.log('| messages so far | database KiB | deliveries rows | messages rows |');
  console.log('|---|---|---|---|');
  for (let slice = 1; slice <= slices; slice++) {
    const store = new SqliteStore(dir);
    const broker = new Broker({ storage: store, sysInterval: 0, maxQueuedMessages: 1_000_000 });
    const address = await broker.listen({ host: '127.0.0.1', port: 0 });
    const perPublisher = Math.round(messages / slices / 100);
    await runWorkload(
      {
        name: 'growth',
        title: 'growth',
        topology: 'pairs',
        qos: 1,
        publishers: 100,
        subscribers: 100,
        messagesPerPublisher: perPublisher,
        window: 20,
        persistent: true,
      },
      'starling-sqlite',
      address.port,
      process.pid,
      { timeLimitMs: 300_000, stallMs: 10_000 },
      () => undefined,
    );
    // The generator stops at the last delivery; its last acknowledgements are still on their way.
    const engine = engineOf(broker);
    for (let i = 0; i < 100 && [...engine.sessions.values()].some((x) => x.inflight.size > 0); i++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    await broker.close();
    const check = new SqliteStore(dir);
    const state = await check.open();
    let deliveries = 0;
    const seen = new Set<unknown>();
    for (const session of state.sessions)
      for (const d of session.deliveries) {
        deliveries++;
        seen.add(d.message);
      }
    await check.close();
    console.log(
      `| ${(perPublisher * 100 * slice).toLocaleString('en-US')} | ${(check.sizeBytes() / 1024).toFixed(0)} | ${deliveries} | ${seen.size} |`,
    );
  }
}

async function kill9(): Promise<void> {
  console.log('\nkill -9 after 300 acknowledged QoS 1 messages for an offline persistent session');
  console.log('| broker | acknowledged | delivered after restart | lost | session present | retained back |');
  console.log('|---|---|---|---|---|---|');
  for (const broker of ['starling', 'mosquitto'] as const) {
    const r = await killAndCount(broker, freshDir(broker), 300);
    console.log(
      `| ${broker === 'starling' ? 'Starling (SQLite)' : 'Mosquitto (persistence true)'} | ${r.acknowledged} | ${r.delivered} | ${r.acknowledged - r.delivered} | ${r.sessionPresent} | ${r.retained} |`,
    );
  }
}

function childJson(args: string[]): Promise<{ seconds: number; rssMiB: number; heapMiB: number }> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.once('close', (code) => {
      if (code !== 0) reject(new Error(`start-up probe exited ${code}`));
      else resolve(JSON.parse(out.trim().split('\n')[0] ?? '{}'));
    });
  });
}
