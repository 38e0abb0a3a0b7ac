/**
 * A small promise-based MQTT client over a raw socket, decoding with the project's PacketParser: what the
 * reliability scripts use to ask a broker "are you still answering?" (CONNECT, SUBSCRIBE, PUBLISH round
 * trip) with a deadline on every step, so a hung broker shows up as a timeout and never as a hung script.
 */
import net from 'node:net';
import {
  encode,
  type Packet,
  type PacketOf,
  PacketParser,
  type PacketTypeName,
  type ProtocolVersionNumber,
  type QoS,
} from '../../src/packets/index.js';

export class ProbeClient {
  private readonly socket: net.Socket;
  private readonly parser: PacketParser;
  private readonly inbox: Packet[] = [];
  private waiter: (() => void) | undefined;
  private closedWith: string | undefined;

  private constructor(
    socket: net.Socket,
    readonly version: ProtocolVersionNumber,
  ) {
    this.socket = socket;
    this.parser = new PacketParser({ protocolVersion: version });
    socket.on('data', (chunk: Buffer) => {
      try {
        this.parser.push(chunk, (packet) => this.inbox.push(packet));
      } catch (err) {
        this.closedWith = `undecodable reply: ${(err as Error).message}`;
        socket.destroy();
      }
      this.waiter?.();
    });
    socket.on('error', (err) => {
      this.closedWith ??= err.message;
      this.waiter?.();
    });
    socket.on('close', () => {
      this.closedWith ??= 'closed by broker';
      this.waiter?.();
    });
  }

  /** Open a TCP connection (no CONNECT sent yet). */
  static open(
    port: number,
    version: ProtocolVersionNumber,
    timeoutMs: number,
    host = '127.0.0.1',
  ): Promise<ProbeClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port, noDelay: true });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`TCP connect to ${host}:${port} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(new ProbeClient(socket, version));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  /** Open, CONNECT and check the CONNACK is a success. */
  static async connect(
    port: number,
    clientId: string,
    version: ProtocolVersionNumber,
    timeoutMs: number,
    options: { clean?: boolean; keepalive?: number } = {},
  ): Promise<ProbeClient> {
    const client = await ProbeClient.open(port, version, timeoutMs);
    try {
      client.send({
        type: 'connect',
        protocolName: version === 3 ? 'MQIsdp' : 'MQTT',
        protocolVersion: version,
        clean: options.clean ?? true,
        keepalive: options.keepalive ?? 0,
        clientId,
      });
      const connack = await client.expect('connack', timeoutMs);
      if (connack.reasonCode !== 0) throw new Error(`CONNACK refused: 0x${connack.reasonCode.toString(16)}`);
      return client;
    } catch (err) {
      client.destroy();
      throw err;
    }
  }

  send(packet: Packet): void {
    this.socket.write(encode(packet, this.version));
  }

  /** The next packet of `type` (others received before it are skipped), within `timeoutMs`. */
  async expect<T extends PacketTypeName>(type: T, timeoutMs: number): Promise<PacketOf<T>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.inbox.findIndex((p) => p.type === type);
      if (index >= 0) return this.inbox.splice(index, 1)[0] as PacketOf<T>;
      if (this.closedWith !== undefined) throw new Error(`waiting for ${type}: ${this.closedWith}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${type} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
  }

  /** SUBSCRIBE one filter and check it was granted `qos`. */
  async subscribe(filter: string, qos: QoS, timeoutMs: number, packetId = 1): Promise<void> {
    this.send({ type: 'subscribe', packetId, subscriptions: [{ topicFilter: filter, qos }] });
    const suback = await this.expect('suback', timeoutMs);
    if (suback.reasonCodes[0] !== qos) throw new Error(`SUBACK ${suback.reasonCodes} for ${filter}`);
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/**
 * The liveness check after a batch: a fresh client CONNECTs, SUBSCRIBEs to a topic of its own, PUBLISHes to
 * it at QoS 1 and gets both its message and its PUBACK back. Throws with the step that failed.
 */
export async function roundTrip(
  port: number,
  clientId: string,
  version: ProtocolVersionNumber,
  timeoutMs: number,
): Promise<number> {
  const started = performance.now();
  const client = await ProbeClient.connect(port, clientId, version, timeoutMs);
  try {
    const topic = `probe/${clientId}`;
    await client.subscribe(topic, 1, timeoutMs);
    const payload = Buffer.from(`alive ${Date.now()}`);
    client.send({ type: 'publish', topic, payload, qos: 1, packetId: 2, retain: false, dup: false });
    await client.expect('puback', timeoutMs);
    const echoed = await client.expect('publish', timeoutMs);
    if (!echoed.payload.equals(payload)) throw new Error('round trip returned a different payload');
    if (echoed.qos === 1 && echoed.packetId !== undefined) {
      client.send({ type: 'puback', packetId: echoed.packetId });
    }
    client.send({ type: 'disconnect' });
    return performance.now() - started;
  } finally {
    client.end();
    setTimeout(() => client.destroy(), 100).unref();
  }
}

/**
 * The liveness check across two nodes of a cluster: a subscriber on `subPort`, a publisher on `pubPort`;
 * QoS 1 messages are published (every 100 ms, while the route reaches the publisher's node) until one
 * arrives. Throws with the step that failed.
 */
export async function crossRoundTrip(
  subPort: number,
  pubPort: number,
  clientId: string,
  timeoutMs: number,
): Promise<number> {
  const started = performance.now();
  const sub = await ProbeClient.connect(subPort, `${clientId}-sub`, 5, timeoutMs);
  const clients = [sub];
  try {
    const topic = `probe/${clientId}`;
    await sub.subscribe(topic, 1, timeoutMs);
    const pub = await ProbeClient.connect(pubPort, `${clientId}-pub`, 5, timeoutMs);
    clients.push(pub);
    const deadline = Date.now() + timeoutMs;
    for (let packetId = 1; ; packetId++) {
      if (Date.now() > deadline) throw new Error(`nothing crossed to the other node within ${timeoutMs} ms`);
      const payload = Buffer.from(`across ${packetId}`);
      pub.send({ type: 'publish', topic, payload, qos: 1, packetId, retain: false, dup: false });
      await pub.expect('puback', timeoutMs);
      const arrived = await sub.expect('publish', 100).catch(() => undefined);
      if (arrived === undefined) continue;
      if (!arrived.payload.toString().startsWith('across ')) throw new Error('a different payload crossed');
      for (const client of clients) client.send({ type: 'disconnect' });
      return performance.now() - started;
    }
  } finally {
    for (const client of clients) {
      client.end();
      setTimeout(() => client.destroy(), 100).unref();
    }
  }
}
