/**
 * The cluster from the command line and the operations side: Redis unreachable at start is a clear error;
 * `--workers` needs `--cluster`; `--workers 2` runs two nodes on one port and starts a killed worker again;
 * `/metrics` labels the node and `$SYS/broker/cluster/...` carries the totals.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { Broker } from '../../src/server/broker.js';
import { collect, runCli, startCli } from '../support/cli.js';
import { freePort } from '../support/mosquitto.js';
import { startRedis } from '../support/redis.js';
import { Client, clusterOf, FAST, listening, until } from './cluster-harness.js';

describe('cluster command line', () => {
  test('Redis unreachable at start: exit 1 with a message naming the URL', async () => {
    const port = await freePort();
    const result = await runCli(['broker', '--cluster', `redis://127.0.0.1:${port}`, '--port', '0'], {
      timeoutMs: 15_000,
    });
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      new RegExp(`cannot reach the cluster backend at redis://127\\.0\\.0\\.1:${port}`),
    );
  });

  test('a link address this machine does not have: exit 1 with a message naming the link', async () => {
    const redis = await startRedis();
    try {
      // 192.0.2.1 (TEST-NET-1) is never a local address: listening on it fails at once, nothing is sent.
      const result = await runCli(
        ['broker', '--cluster', redis.url, '--cluster-link', '192.0.2.1', '--port', '0'],
        { timeoutMs: 15_000 },
      );
      assert.equal(result.code, 1);
      assert.match(result.stderr, /cluster link: cannot listen on 192\.0\.2\.1:0: .*EADDRNOTAVAIL/);
    } finally {
      await redis.stop();
    }
  });

  test('--workers without --cluster is a usage error', async () => {
    const result = await runCli(['broker', '--workers', '2', '--port', '0']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--workers needs a cluster.*--cluster redis:\/\/HOST:PORT/);
  });

  test('TLS on the links with its CA missing, or a file unreadable: a usage error naming it (exit 2)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'starling-link-tls-'));
    try {
      const base = ['broker', '--cluster', 'redis://127.0.0.1:1', '--port', '0'];
      const tls = ['--cluster-link-cert', 'node.crt', '--cluster-link-key', 'node.key'];
      const missing = await runCli([...base, ...tls]);
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /--cluster-link-ca \(cluster\.linkTls\.ca\) missing/);
      const unreadable = await runCli([...base, ...tls, '--cluster-link-ca', join(dir, 'ca.crt')]);
      assert.equal(unreadable.code, 2);
      assert.match(unreadable.stderr, /--cluster-link-cert: cannot read \S*node\.crt: ENOENT/);
      const config = join(dir, 'node.yaml');
      writeFileSync(
        config,
        `cluster:\n  url: redis://127.0.0.1:1\n  linkTls: { cert: a.crt, key: a.key, ca: ca.crt }\n`,
      );
      const fromFile = await runCli(['broker', '--config', config, '--port', '0']);
      assert.equal(fromFile.code, 2);
      assert.ok(
        fromFile.stderr.includes(`cluster.linkTls.cert: cannot read ${join(dir, 'a.crt')}: ENOENT`),
        fromFile.stderr,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('--workers 2: two nodes on one port; a killed worker is started again; SIGTERM stops all', async () => {
    const redis = await startRedis();
    const dir = mkdtempSync(join(tmpdir(), 'starling-workers-'));
    const port = await freePort();
    const config = join(dir, 'workers.yaml');
    // A node timeout longer than the restart may take: the new worker must not wait for the dead one's
    // heartbeat to lapse (the primary saw it exit).
    const nodeTimeoutMs = 15_000;
    const cluster = `cluster:\n  url: ${redis.url}\n  keyPrefix: 'w:'\n  heartbeatMs: ${FAST.heartbeatMs}\n  nodeTimeoutMs: ${nodeTimeoutMs}\n`;
    const listener = `listeners:\n  - type: tcp\n    host: 127.0.0.1\n    port: ${port}\n`;
    writeFileSync(config, `${listener}${cluster}logging:\n  level: error\n`);
    const primary = startCli(['broker', '--config', config, '--workers', '2', '--node-id', 'wk'], {
      timeoutMs: 30_000,
    });
    const done = collect(primary);
    const redisClient = new Redis(redis.url);
    const pids = async (): Promise<Record<string, number>> => {
      const nodes = await redisClient.hgetall('w:nodes');
      const beats = await redisClient.mget(Object.keys(nodes).map((id) => `w:hb:${id}`));
      const out: Record<string, number> = {};
      Object.entries(nodes).forEach(([id, info], i) => {
        if (beats[i] !== null) out[id] = (JSON.parse(info) as { pid: number }).pid;
      });
      return out;
    };
    try {
      let seen: Record<string, number> = {};
      await until(
        () => Object.keys(seen).length === 2,
        'two workers in the registry',
        15_000,
        async () => {
          seen = await pids();
        },
      );
      assert.deepEqual(Object.keys(seen).sort(), ['wk-0', 'wk-1']);
      // Each worker has a direct link of its own (one port each, though they share the MQTT port).
      const links = Object.values(await redisClient.hgetall('w:nodes')).map(
        (info) => (JSON.parse(info) as { link?: string }).link,
      );
      assert.equal(links.length, 2);
      assert.ok(
        links.every((l) => l !== undefined && /^127\.0\.0\.1:\d+$/.test(l)),
        String(links),
      );
      assert.notEqual(links[0], links[1], 'two link ports');
      await listening(port);
      const node = { url: `mqtt://127.0.0.1:${port}` };
      const sub = await Client.connect(node, { clientId: 'w-sub' });
      await sub.subscribe('w/#', 1);
      const pub = await Client.connect(node, { clientId: 'w-pub' });
      await until(
        () => sub.received.length > 0,
        'a message through the workers',
        5000,
        async () => {
          await pub.publish('w/x', 'hello', 1);
        },
      );
      await sub.end();
      await pub.end();
      const killed = seen['wk-1'] as number;
      process.kill(killed, 'SIGKILL');
      const killedAt = Date.now();
      await until(
        () => seen['wk-1'] !== undefined && seen['wk-1'] !== killed,
        'worker 1 started again',
        nodeTimeoutMs - 3000,
        async () => {
          seen = await pids();
        },
      );
      assert.ok(Date.now() - killedAt < nodeTimeoutMs, 'back before the dead heartbeat lapsed');
      primary.kill('SIGTERM');
      const result = await done;
      assert.equal(result.code, 0, result.stderr);
    } finally {
      primary.kill('SIGKILL');
      redisClient.disconnect();
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a node killed (-9) and started again under its id on this machine takes the id at once; a live one keeps it', async () => {
    const redis = await startRedis();
    const dir = mkdtempSync(join(tmpdir(), 'starling-restart-'));
    const port = await freePort();
    const config = join(dir, 'solo.yaml');
    // A heartbeat that outlives the restart by far: the restarted node must not wait for it to lapse.
    const nodeTimeoutMs = 20_000;
    writeFileSync(
      config,
      `listeners:\n  - type: tcp\n    host: 127.0.0.1\n    port: ${port}\n` +
        `cluster:\n  url: ${redis.url}\n  keyPrefix: 'r:'\n  heartbeatMs: ${FAST.heartbeatMs}\n  nodeTimeoutMs: ${nodeTimeoutMs}\n` +
        'logging:\n  level: info\n',
    );
    const start = (): ReturnType<typeof startCli> =>
      startCli(['broker', '--config', config, '--node-id', 'solo'], { timeoutMs: 40_000 });
    const redisClient = new Redis(redis.url);
    const registered = async (): Promise<number | undefined> => {
      const [info, beat] = await Promise.all([
        redisClient.hget('r:nodes', 'solo'),
        redisClient.get('r:hb:solo'),
      ]);
      return info === null || beat === null ? undefined : (JSON.parse(info) as { pid: number }).pid;
    };
    const children: ReturnType<typeof startCli>[] = [];
    try {
      const first = start();
      children.push(first);
      let pid: number | undefined;
      const poll = async (): Promise<void> => {
        pid = await registered();
      };
      await until(() => pid === first.pid, 'the first process registered', 15_000, poll);
      await listening(port);
      first.kill('SIGKILL');
      const killedAt = Date.now();
      const second = start();
      children.push(second);
      const output = collect(second);
      await until(() => pid === second.pid, 'the restarted process registered', nodeTimeoutMs - 5000, poll);
      assert.ok(Date.now() - killedAt < nodeTimeoutMs - 5000, 'joined long before the old heartbeat lapsed');
      await listening(port);
      // A third process for the same id while the second lives: it must wait, never take the id.
      const third = start();
      children.push(third);
      const holders = new Set<number | undefined>();
      for (const until3s = Date.now() + 3000; Date.now() < until3s; ) {
        await poll();
        holders.add(pid);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.deepEqual([...holders], [second.pid], 'the live process keeps its id all along');
      second.kill('SIGTERM');
      assert.match((await output).stderr, /previous process of this node id is gone; taking the id/);
    } finally {
      for (const child of children) child.kill('SIGKILL');
      redisClient.disconnect();
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('/metrics labels the node; $SYS/broker/cluster/ carries the totals', async () => {
    const redis = await startRedis();
    const brokers = ['m1', 'm2'].map(
      (nodeId) =>
        new Broker({
          sysInterval: 0.2,
          listeners: [{ type: 'http', host: '127.0.0.1', port: 0 }],
          dashboard: false,
          cluster: { url: redis.url, nodeId, keyPrefix: 'm:', ...FAST },
        }),
    );
    try {
      const [address] = await (brokers[0] as Broker).start();
      await (brokers[1] as Broker).start();
      const seen = new Map<string, string>();
      await (brokers[0] as Broker).subscribe('$SYS/broker/cluster/#', (message) => {
        seen.set(message.topic, message.payload.toString());
      });
      await until(() => seen.get('$SYS/broker/cluster/nodes') === '2', 'the cluster totals', 5000);
      assert.equal(seen.get('$SYS/broker/cluster/node'), 'm1');
      const { port } = address as { port: number };
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(text, /^starling_clients_connected\{node="m1"\} 0$/m);
      assert.match(text, /^starling_cluster_nodes\{node="m1"\} 2$/m);
      assert.match(text, /^starling_cluster_backend_up\{node="m1"\} 1$/m);
      // A message from m2 to a subscriber on m1 crosses the nodes' direct link, and the metrics count it.
      const got: string[] = [];
      await (brokers[0] as Broker).subscribe('hello/#', (message) => {
        got.push(message.payload.toString());
      });
      // (The first ones may cross through Redis: the nodes link once they read each other's address.)
      await until(
        () => got.length > 0 && (clusterOf(brokers[0] as Broker)?.links?.framesReceived ?? 0) > 0,
        'a message from m2 over the link',
        5000,
        async () => {
          (brokers[1] as Broker).publish('hello/m1', 'hi');
        },
      );
      const after = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const received = /^starling_cluster_link_frames_total\{node="m1",direction="received"\} (\d+)$/m.exec(
        after,
      );
      assert.ok(Number(received?.[1]) > 0, 'frames received over the link');
      assert.match(after, /^starling_cluster_early_delivered_total\{node="m1"\} \d+$/m);
    } finally {
      await Promise.all(brokers.map((b) => b.close()));
      await redis.stop();
    }
  });
});
