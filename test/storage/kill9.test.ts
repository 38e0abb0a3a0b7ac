/**
 * The durability promise against kill -9, with real processes: `starling broker --data DIR` is killed at
 * random moments while an MQTT.js QoS 1 publisher and a `mosquitto_pub` QoS 2 publisher stream to an offline
 * persistent subscriber. After each restart on the same directory the subscriber resumes its session
 * (Session Present 1) and gets every message its publisher saw acknowledged, the QoS 2 ones exactly once;
 * the retained message and the subscription are back.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import mqtt from 'mqtt';
import type { Packet } from '../../src/packets/types.js';
import { startCli } from '../support/cli.js';
import { RawClient } from '../support/raw-client.js';

const ROUNDS = 3;
const dir = mkdtempSync(join(tmpdir(), 'starling-kill9-'));
const children = new Set<ChildProcess>();
after(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** Start the broker on the data directory and read its port from the start-up line. */
async function startBroker(): Promise<{ child: ChildProcess; url: string; port: number }> {
  // The queue limit drops beyond it by design (as Mosquitto's max_queued_messages): set it above the stream.
  const args = [
    'broker',
    '--port',
    '0',
    '--host',
    '127.0.0.1',
    '--data',
    dir,
    '--max-queued-messages',
    '100000',
  ];
  const child = startCli(args, { timeoutMs: 60_000 });
  children.add(child);
  child.once('close', () => children.delete(child));
  const port = await new Promise<number>((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`broker did not start:\n${seen}`)), 20_000);
    child.stderr?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      const match = /"listener":"tcp".*"port":(\d+)/.exec(seen);
      if (match !== null) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once('close', (code) => reject(new Error(`broker exited (${code}):\n${seen}`)));
  });
  return { child, url: `mqtt://127.0.0.1:${port}`, port };
}

function kill9(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('close', () => resolve());
    child.kill('SIGKILL');
  });
}

const subscriberOptions = {
  clientId: 'durable-sub',
  protocolVersion: 5 as const,
  clean: false,
  properties: { sessionExpiryInterval: 3600 },
  reconnectPeriod: 0,
  connectTimeout: 5000,
};

/** MQTT.js QoS 1 publisher, 10 in flight: resolves with the payloads whose PUBACK arrived. */
function streamQos1(url: string, round: number, stop: Promise<void>): Promise<string[]> {
  const acked: string[] = [];
  return new Promise((resolve) => {
    const client = mqtt.connect(url, { clientId: `q1-pub-${round}`, reconnectPeriod: 0, protocolVersion: 4 });
    let stopped = false;
    let next = 0;
    const pump = (): void => {
      if (stopped) return;
      const payload = `r${round}-q1-${next++}`;
      client.publish('k9/q1', payload, { qos: 1 }, (err) => {
        if (err === undefined || err === null) acked.push(payload);
        if (!stopped && next < 5000) setTimeout(pump, 1);
      });
    };
    client.once('connect', () => {
      for (let i = 0; i < 10; i++) pump();
    });
    client.on('error', () => undefined);
    void stop.then(() => {
      stopped = true;
      client.end(true);
      resolve(acked);
    });
  });
}

/** `mosquitto_pub -q 2 -l`: a line every 2 ms; resolves with the lines whose PUBCOMP arrived. */
function streamQos2(url: string, round: number, stop: Promise<void>): Promise<string[]> {
  const port = new URL(url).port;
  const child = spawn(
    'mosquitto_pub',
    ['-h', '127.0.0.1', '-p', port, '-q', '2', '-l', '-d', '-i', `q2-pub-${round}`, '-t', 'k9/q2'],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  children.add(child);
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stdin.on('error', () => undefined);
  let line = 0;
  const timer = setInterval(() => {
    if (line < 3000 && child.stdin.writable) child.stdin.write(`r${round}-q2-${line++}\n`);
  }, 2);
  return stop.then(() => {
    clearInterval(timer);
    child.kill('SIGKILL');
    children.delete(child);
    // Message ids count the lines from 1, in order.
    return [...out.matchAll(/received PUBCOMP \(Mid: (\d+)/g)].map((m) => `r${round}-q2-${Number(m[1]) - 1}`);
  });
}

/**
 * Everything the resumed subscriber gets until it has been quiet for a while. It is a raw socket client that
 * acknowledges each message itself (PUBACK; PUBREC, then PUBCOMP on PUBREL), counting a QoS 2 message once
 * per packet id however often it is sent with DUP.
 */
async function drain(port: number): Promise<{ sessionPresent: boolean; q1: string[]; q2: string[] }> {
  const client = await RawClient.open(port, 5);
  client.send({
    type: 'connect',
    protocolName: 'MQTT',
    protocolVersion: 5,
    clean: false,
    keepalive: 0,
    clientId: 'durable-sub',
    properties: { sessionExpiryInterval: 3600 },
  });
  const connack = await client.expectPacket('connack');
  const q1: string[] = [];
  const q2: string[] = [];
  const awaitingRelease = new Set<number>();
  const deadline = Date.now() + 30_000;
  try {
    while (Date.now() < deadline) {
      let packet: Packet;
      try {
        packet = await client.readPacket(1500);
      } catch {
        break; // quiet for 1.5 s: everything stored has arrived
      }
      if (packet.type === 'publish') {
        const id = packet.packetId ?? 0;
        if (packet.qos === 1) {
          q1.push(packet.payload.toString());
          client.send({ type: 'puback', packetId: id });
        } else if (packet.qos === 2) {
          if (!awaitingRelease.has(id)) q2.push(packet.payload.toString());
          awaitingRelease.add(id);
          client.send({ type: 'pubrec', packetId: id });
        }
      } else if (packet.type === 'pubrel') {
        awaitingRelease.delete(packet.packetId);
        client.send({ type: 'pubcomp', packetId: packet.packetId });
      }
    }
    client.send({ type: 'disconnect', reasonCode: 0 });
  } finally {
    client.destroy();
  }
  return { sessionPresent: connack.sessionPresent, q1, q2 };
}

test('kill -9 at random moments loses no acknowledged QoS 1 or QoS 2 message; QoS 2 arrives once', async () => {
  let broker = await startBroker();
  const first = await mqtt.connectAsync(broker.url, subscriberOptions);
  await first.subscribeAsync('k9/#', { qos: 2 });
  await first.endAsync();
  const retainer = await mqtt.connectAsync(broker.url, { clientId: 'retainer', reconnectPeriod: 0 });
  await retainer.publishAsync('k9r/state', 'on', { qos: 1, retain: true });
  await retainer.endAsync();
  for (let round = 1; round <= ROUNDS; round++) {
    let killed!: () => void;
    const stop = new Promise<void>((resolve) => {
      killed = resolve;
    });
    const q1 = streamQos1(broker.url, round, stop);
    const q2 = streamQos2(broker.url, round, stop);
    await new Promise((r) => setTimeout(r, 300 + Math.floor(Math.random() * 700)));
    await kill9(broker.child);
    killed();
    const ackedQ1 = await q1;
    const ackedQ2 = await q2;
    assert.ok(
      ackedQ1.length > 0 && ackedQ2.length > 0,
      `round ${round}: both publishers had acknowledgements`,
    );
    broker = await startBroker();
    const got = await drain(broker.port);
    assert.equal(got.sessionPresent, true, `round ${round}: the session survived`);
    const q1Set = new Set(got.q1);
    const lostQ1 = ackedQ1.filter((p) => !q1Set.has(p));
    assert.deepEqual(lostQ1, [], `round ${round}: acknowledged QoS 1 messages lost`);
    const q2Counts = new Map<string, number>();
    for (const p of got.q2) q2Counts.set(p, (q2Counts.get(p) ?? 0) + 1);
    assert.deepEqual(
      ackedQ2.filter((p) => !q2Counts.has(p)),
      [],
      `round ${round}: acknowledged QoS 2 messages lost`,
    );
    assert.deepEqual(
      [...q2Counts].filter(([, n]) => n > 1),
      [],
      `round ${round}: QoS 2 delivered twice`,
    );
  }
  const check = await mqtt.connectAsync(broker.url, { clientId: 'checker', reconnectPeriod: 0 });
  const retained = new Promise<string>((resolve) =>
    check.once('message', (_t, payload) => resolve(payload.toString())),
  );
  await check.subscribeAsync('k9r/#', { qos: 1 });
  assert.equal(await retained, 'on', 'the retained message is back');
  await check.endAsync();
  await kill9(broker.child);
});
