/** The cluster settings: `--cluster`, `STARLING_CLUSTER`, the file's `cluster:` section, `--node-id`, `--workers`. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.js';

const dir = mkdtempSync(join(tmpdir(), 'starling-cluster-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('cluster configuration', () => {
  test('no cluster by default', () => {
    const config = loadConfig({ argv: [], env: {} });
    assert.equal(config.cluster, undefined);
    assert.equal(config.workers, undefined);
  });

  test('flag beats environment beats file; the file tunes the heartbeat', () => {
    const file = join(dir, 'cluster.yaml');
    writeFileSync(
      file,
      'cluster:\n  url: redis://file:6379\n  nodeId: from-file\n  keyPrefix: "p:"\n  heartbeatMs: 500\n  nodeTimeoutMs: 2000\n  workers: 3\n',
    );
    const fromFile = loadConfig({ argv: ['--config', file], env: {} });
    assert.deepEqual(fromFile.cluster, {
      url: 'redis://file:6379',
      nodeId: 'from-file',
      keyPrefix: 'p:',
      heartbeatMs: 500,
      nodeTimeoutMs: 2000,
    });
    assert.equal(fromFile.workers, 3);
    const fromEnv = loadConfig({
      argv: ['--config', file],
      env: { STARLING_CLUSTER: 'redis://env:1', STARLING_NODE_ID: 'env-node', STARLING_WORKERS: '2' },
    });
    assert.equal(fromEnv.cluster?.url, 'redis://env:1');
    assert.equal(fromEnv.cluster?.nodeId, 'env-node');
    assert.equal(fromEnv.workers, 2);
    const fromFlags = loadConfig({
      argv: ['--config', file, '--cluster', 'rediss://flag:2', '--node-id', 'flag-node', '--workers', 'auto'],
      env: { STARLING_CLUSTER: 'redis://env:1' },
    });
    assert.equal(fromFlags.cluster?.url, 'rediss://flag:2');
    assert.equal(fromFlags.cluster?.nodeId, 'flag-node');
    assert.equal(fromFlags.workers, availableParallelism());
  });

  test('without a node id, each start picks a random one', () => {
    const one = loadConfig({ argv: ['--cluster', 'redis://h:1'], env: {} }).cluster?.nodeId;
    const two = loadConfig({ argv: ['--cluster', 'redis://h:1'], env: {} }).cluster?.nodeId;
    assert.match(one ?? '', /^node-[0-9a-f]{8}$/);
    assert.notEqual(one, two);
  });

  test('refused: a URL that is not redis://, workers out of range, workers without a cluster, a local store', () => {
    assert.throws(
      () => loadConfig({ argv: ['--cluster', 'http://h:1'], env: {} }),
      /--cluster must be a redis:/,
    );
    assert.throws(
      () => loadConfig({ argv: ['--cluster', 'redis://h:1', '--workers', '0'], env: {} }),
      /--workers must be a number from 1 to 1024 or 'auto', got '0'/,
    );
    assert.throws(
      () => loadConfig({ argv: ['--workers', '2'], env: {} }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /--workers needs a cluster/);
        return true;
      },
    );
    assert.throws(
      () => loadConfig({ argv: ['--cluster', 'redis://h:1', '--data', dir], env: {} }),
      /--data \(persistence\) and --cluster exclude each other/,
    );
    assert.deepEqual(loadConfig({ argv: ['--cluster', 'redis://h:1'], env: {} }).persistence, {
      type: 'memory',
    });
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'cluster:\n  url: tcp://x\n');
    assert.throws(() => loadConfig({ argv: ['--config', bad], env: {} }), /cluster\.url'.*redis:\/\//);
  });

  test('the direct link: an address, off, or refused (bad address; a fixed port for several workers)', () => {
    const cluster = (argv: string[], env: Record<string, string> = {}) =>
      loadConfig({ argv: ['--cluster', 'redis://h:1', ...argv], env }).cluster;
    assert.equal(cluster([])?.link, undefined, 'default: the node picks 127.0.0.1 and a free port');
    assert.equal(cluster(['--cluster-link', 'off'])?.link, false);
    assert.equal(cluster(['--cluster-link', '10.0.0.5:7100'])?.link, '10.0.0.5:7100');
    assert.equal(cluster([], { STARLING_CLUSTER_LINK: '[::1]' })?.link, '[::1]');
    assert.equal(cluster(['--cluster-link', '10.0.0.5', '--workers', '2'])?.link, '10.0.0.5');
    assert.throws(() => cluster(['--cluster-link', 'a:b:c']), /--cluster-link 'a:b:c': not HOST, HOST:PORT/);
    assert.throws(() => cluster(['--cluster-link', 'h:70000']), /--cluster-link/);
    assert.throws(
      () => cluster(['--cluster-link', '10.0.0.5:7100', '--workers', '2']),
      /each of the 2 workers needs its own port/,
    );
    const file = join(dir, 'link.yaml');
    writeFileSync(file, 'cluster:\n  url: redis://h:1\n  link: false\n');
    assert.equal(loadConfig({ argv: ['--config', file], env: {} }).cluster?.link, false);
  });
});
