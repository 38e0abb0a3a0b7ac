/**
 * Cluster test fixtures: brokers in this process as nodes of one cluster on a real redis-server, MQTT.js
 * clients that collect what they receive, and bounded waits.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { RedisClusterOptions } from '../../src/cluster/redis-options.js';
import { Broker, clusterOf, engineOf } from '../../src/server/broker.js';
import { startCli } from '../support/cli.js';
import { freePort } from '../support/mosquitto.js';
import { type RedisServer, startRedis } from '../support/redis.js';

/** Heartbeats fast enough for tests: a dead node is found within ~1 s. */
export const FAST: Pick<RedisClusterOptions, 'heartbeatMs' | 'nodeTimeoutMs'> = {
  heartbeatMs: 200,
  nodeTimeoutMs: 800,
};

export interface Node {
  readonly id: string;
  readonly broker: Broker;
  readonly port: number;
  readonly url: string;
}

/** A broker joined to the cluster on `redis`, listening on a free loopback port. */
export async function startNode(
  redis: Pick<RedisServer, 'url'>,
  id: string,
  prefix: string,
  options: Omit<ConstructorParameters<typeof Broker>[0], 'cluster'> = {},
  cluster: Pick<RedisClusterOptions, 'link' | 'linkTls'> = {},
): Promise<Node> {
  const broker = new Broker({
    sysInterval: 0,
    ...options,
    cluster: { url: redis.url, nodeId: id, keyPrefix: prefix, ...FAST, ...cluster },
  });
  const address = (await broker.listen({ host: '127.0.0.1', port: 0 })) as AddressInfo;
  return { id, broker, port: address.port, url: `mqtt://127.0.0.1:${address.port}` };
}

/** A node in a process of its own (`starling broker --config ...`), to be killed or paused. */
export interface ProcessNode {
  readonly id: string;
  readonly url: string;
  readonly child: ChildProcess;
  /** Kill it (if still running) and remove its config. */
  stop(): void;
}

/** Start `starling broker` as node `id` of the cluster on `redis`, with the fast heartbeats; once listening. */
export async function startProcessNode(redis: RedisServer, id: string, prefix: string): Promise<ProcessNode> {
  const dir = mkdtempSync(join(tmpdir(), `starling-${id}-`));
  const port = await freePort();
  const config = join(dir, `${id}.yaml`);
  writeFileSync(
    config,
    [
      'listeners:',
      '  - type: tcp',
      '    host: 127.0.0.1',
      `    port: ${port}`,
      'cluster:',
      `  url: ${redis.url}`,
      `  nodeId: ${id}`,
      `  keyPrefix: '${prefix}'`,
      `  heartbeatMs: ${FAST.heartbeatMs}`,
      `  nodeTimeoutMs: ${FAST.nodeTimeoutMs}`,
      'logging:',
      '  level: fatal',
      '',
    ].join('\n'),
  );
  const child = startCli(['broker', '--config', config], { timeoutMs: 60_000 });
  const stop = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await listening(port, 10_000);
  } catch (err) {
    stop();
    throw err;
  }
  return { id, url: `mqtt://127.0.0.1:${port}`, child, stop };
}

/**
 * Wait until `check` holds (polled every 10 ms; with `poll`, which refreshes what `check` reads, every
 * 50 ms), or fail after `timeoutMs`.
 */
export async function until(
  check: () => boolean,
  what: string,
  timeoutMs = 5000,
  poll?: () => Promise<void>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (poll !== undefined) await poll().catch(() => undefined);
    if (check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, poll === undefined ? 10 : 50));
  }
}

/** Wait until something accepts TCP connections on a loopback port. */
export async function listening(port: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = netConnect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listening on ${port} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** True once `node` knows that `other` has a route for `key`. */
export function knowsRoute(node: Node, other: string, key: string): boolean {
  const cluster = clusterOf(node.broker);
  if (cluster === undefined) return false;
  const found: string[] = [];
  const shared = key.startsWith('$share/') ? key.split('/') : undefined;
  const filter = shared === undefined ? key : shared.slice(2).join('/');
  if (shared === undefined) {
    return cluster.table.index.getSubscription(other, filter) !== undefined || found.length > 0;
  }
  return cluster.table.index.getSubscription(other, filter, shared[1]) !== undefined;
}

/** Wait until every node in `nodes` knows that `owner` routes `key`. */
export async function routeKnown(nodes: readonly Node[], owner: Node, key: string): Promise<void> {
  await until(
    () => nodes.every((n) => n === owner || knowsRoute(n, owner.id, key)),
    `the route ${key} of ${owner.id} on every node`,
  );
}

export { clusterOf, engineOf };

/** An MQTT.js client that keeps what it receives. */
export class Client {
  readonly received: { topic: string; payload: string; qos: number; retain: boolean }[] = [];
  /** The CONNACK's Session Present flag. */
  sessionPresent = false;
  private constructor(readonly mqtt: MqttClient) {
    mqtt.on('message', (topic, payload, packet) => {
      this.received.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain });
    });
  }

  static async connect(node: Pick<Node, 'url'>, options: IClientOptions = {}): Promise<Client> {
    const client = mqtt.connect(node.url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
    // Listening from the start: a resumed session's messages may come in the same read as CONNACK.
    const made = new Client(client);
    await new Promise<void>((resolve, reject) => {
      client.once('connect', (connack) => {
        made.sessionPresent = connack.sessionPresent;
        resolve();
      });
      client.once('error', reject);
    });
    return made;
  }

  async subscribe(filter: string, qos: 0 | 1 | 2 = 1): Promise<void> {
    await this.mqtt.subscribeAsync(filter, { qos });
  }

  async publish(topic: string, payload: string, qos: 0 | 1 | 2 = 1, retain = false): Promise<void> {
    await this.mqtt.publishAsync(topic, payload, { qos, retain });
  }

  payloads(topic?: string): string[] {
    return this.received.filter((m) => topic === undefined || m.topic === topic).map((m) => m.payload);
  }

  async end(): Promise<void> {
    await this.mqtt.endAsync();
  }
}

/** Three nodes a, b, c on one Redis for a test suite; the clients it made are ended after the suite. */
export interface ThreeNodes {
  /** Set by the suite's `before`. */
  nodes: [Node, Node, Node];
  /** An MQTT.js client on `node`, ended with the suite. */
  client(node: Node, options?: Parameters<typeof Client.connect>[1]): Promise<Client>;
  /** The suite's Redis, once `before` ran. */
  redisUrl(): string;
  /** One more node on the suite's Redis, closed with the others (before Redis stops). */
  extraNode(id: string, options?: Parameters<typeof startNode>[3]): Promise<Node>;
}

/**
 * Register the `before`/`after` of a suite running on three in-process nodes with keys under `prefix`;
 * `cluster.link: false`: the nodes have no direct links, everything crosses through Redis.
 */
export function threeNodes(prefix: string, cluster: Pick<RedisClusterOptions, 'link'> = {}): ThreeNodes {
  let redis: RedisServer | undefined;
  const clients: Client[] = [];
  const extras: Node[] = [];
  const fixture: ThreeNodes = {
    nodes: [] as unknown as [Node, Node, Node],
    async client(node, options = {}) {
      const made = await Client.connect(node, options);
      clients.push(made);
      return made;
    },
    redisUrl() {
      if (redis === undefined) throw new Error('the suite has not started its Redis');
      return redis.url;
    },
    async extraNode(id, options) {
      const node = await startNode({ url: fixture.redisUrl() }, id, prefix, options, cluster);
      extras.push(node);
      return node;
    },
  };
  before(async () => {
    const started = await startRedis();
    redis = started;
    fixture.nodes = (await Promise.all(
      ['a', 'b', 'c'].map((id) => startNode(started, id, prefix, {}, cluster)),
    )) as [Node, Node, Node];
  });
  after(async () => {
    for (const client of clients.splice(0)) await client.end().catch(() => undefined);
    // Before Redis stops: a node closing without it waits for it to come back.
    await Promise.all([...fixture.nodes, ...extras.splice(0)].map((n) => n.broker.close()));
    await redis?.stop();
  });
  return fixture;
}

/** Frame of the link protocol: u32 length, u8 type, body. */
export function linkFrame(type: number, body: string | Buffer): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const out = Buffer.alloc(5 + bytes.length);
  out.writeUInt32BE(1 + bytes.length, 0);
  out[4] = type;
  bytes.copy(out, 5);
  return out;
}
