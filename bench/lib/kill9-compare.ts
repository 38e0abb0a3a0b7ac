/**
 * The kill -9 comparison of the persistence benchmark: an offline persistent session (Clean Session 0), a
 * retained message and `count` acknowledged QoS 1 messages, then kill -9 and a restart on the same state;
 * how many of the acknowledged messages the session gets back.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encode, type Packet, PacketParser } from '../../src/packets/index.js';

export interface KillResult {
  acknowledged: number;
  delivered: number;
  sessionPresent: boolean;
  retained: boolean;
}

const BIN = fileURLToPath(new URL('../../../bin/starling.js', import.meta.url));

/** A tiny MQTT 3.1.1 client on a socket: send packets, read them one by one. */
class Wire {
  private readonly parser = new PacketParser({ protocolVersion: 4 });
  private readonly queue: Packet[] = [];
  private wake: (() => void) | undefined;
  closed = false;
  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) =>
      this.parser.push(chunk, (packet) => {
        this.queue.push(packet);
        this.wake?.();
      }),
    );
    socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
    socket.on('error', () => undefined);
  }
  static async open(
    port: number,
    clientId: string,
    clean: boolean,
  ): Promise<{ wire: Wire; sessionPresent: boolean }> {
    const socket = net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    const wire = new Wire(socket);
    wire.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean, keepalive: 0, clientId });
    const connack = await wire.next(5000);
    if (connack?.type !== 'connack' || connack.reasonCode !== 0)
      throw new Error(`CONNACK refused for ${clientId}`);
    return { wire, sessionPresent: connack.sessionPresent };
  }
  send(packet: Packet): void {
    this.socket.write(encode(packet, 4));
  }
  async next(timeoutMs: number): Promise<Packet | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length === 0 && !this.closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, Math.max(1, deadline - Date.now()));
      });
    }
    return this.queue.shift();
  }
  close(): void {
    this.socket.destroy();
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

async function startBroker(kind: 'starling' | 'mosquitto', dir: string, port: number): Promise<ChildProcess> {
  let child: ChildProcess;
  if (kind === 'starling') {
    child = spawn(
      process.execPath,
      [BIN, 'broker', '--host', '127.0.0.1', '--port', String(port), '--data', dir],
      {
        stdio: 'ignore',
      },
    );
  } else {
    const config = join(dir, 'mosquitto.conf');
    writeFileSync(
      config,
      [
        `listener ${port} 127.0.0.1`,
        'allow_anonymous true',
        'persistence true',
        `persistence_location ${dir}/`,
        '',
      ].join('\n'),
    );
    child = spawn('mosquitto', ['-c', config], { stdio: 'ignore' });
  }
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (up) return child;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`${kind} did not start`);
}

function kill9(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

export async function killAndCount(
  kind: 'starling' | 'mosquitto',
  dir: string,
  count: number,
): Promise<KillResult> {
  const port = await freePort();
  let broker = await startBroker(kind, dir, port);
  const sub = await Wire.open(port, 'durable', false);
  sub.wire.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'k/#', qos: 1 }] });
  await sub.wire.next(5000);
  sub.wire.send({ type: 'disconnect' });
  sub.wire.close();
  const pub = await Wire.open(port, 'pub', true);
  let acknowledged = 0;
  for (let id = 1; id <= count; id++) {
    pub.wire.send({
      type: 'publish',
      topic: 'k/m',
      payload: Buffer.from(String(id)),
      qos: 1,
      retain: id === 1,
      dup: false,
      packetId: id,
    });
    const ack = await pub.wire.next(5000);
    if (ack?.type === 'puback') acknowledged++;
  }
  pub.wire.close();
  await kill9(broker);
  broker = await startBroker(kind, dir, port);
  try {
    const resumed = await Wire.open(port, 'durable', false);
    let delivered = 0;
    for (;;) {
      const packet = await resumed.wire.next(1500);
      if (packet === undefined) break;
      if (packet.type === 'publish' && packet.topic === 'k/m') {
        delivered++;
        if (packet.packetId !== undefined) resumed.wire.send({ type: 'puback', packetId: packet.packetId });
      }
    }
    resumed.wire.close();
    const check = await Wire.open(port, 'checker', true);
    check.wire.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'k/#', qos: 0 }] });
    let retained = false;
    for (;;) {
      const packet = await check.wire.next(1000);
      if (packet === undefined) break;
      if (packet.type === 'publish' && packet.retain) retained = true;
    }
    check.wire.close();
    return { acknowledged, delivered, sessionPresent: resumed.sessionPresent, retained };
  } finally {
    await kill9(broker);
  }
}
