/**
 * The cluster settings: `--cluster`, `STARLING_CLUSTER`, the file's `cluster:` section, `--node-id`,
 * `--workers`, `--cluster-link` and TLS on the links.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { makeTestPki, type TestPki } from '../listeners/certs.js';

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

describe('TLS on the cluster links', () => {
  let pki: TestPki;
  before(() => {
    pki = makeTestPki();
  });
  after(() => pki?.remove());
  const cluster = ['--cluster', 'redis://h:1'];
  /** A config file in a directory of its own under the PKI's, with `linkTls` (paths as given). */
  const fileWith = (name: string, linkTls: string): string => {
    const conf = join(pki.dir, 'conf');
    mkdirSync(conf, { recursive: true });
    const path = join(conf, name);
    writeFileSync(path, `cluster:\n  url: redis://h:1\n  linkTls: ${linkTls}\n`);
    return path;
  };

  test('flags and environment (paths from the working directory), the file (from its directory): read', () => {
    const flags = ['--cluster-link-cert', 'server.crt', '--cluster-link-key', 'server.key'];
    const fromFlags = loadConfig({
      argv: [...cluster, ...flags, '--cluster-link-ca', 'ca.crt'],
      env: {},
      cwd: pki.dir,
    });
    assert.deepEqual(fromFlags.cluster?.linkTls, { cert: pki.cert, key: pki.key, ca: pki.ca });
    const fromEnv = loadConfig({
      argv: cluster,
      env: {
        STARLING_CLUSTER_LINK_CERT: 'client.crt',
        STARLING_CLUSTER_LINK_KEY: pki.clientKeyPath,
        STARLING_CLUSTER_LINK_CA: 'ca.crt',
      },
      cwd: pki.dir,
    });
    assert.deepEqual(fromEnv.cluster?.linkTls, { cert: pki.clientCert, key: pki.clientKey, ca: pki.ca });
    // Relative to the file, wherever the command runs.
    const file = fileWith('tls.yaml', '{ cert: ../server.crt, key: ../server.key, ca: ../ca.crt }');
    const fromFile = loadConfig({ argv: ['--config', file], env: {}, cwd: dir });
    assert.deepEqual(fromFile.cluster?.linkTls, { cert: pki.cert, key: pki.key, ca: pki.ca });
    // A flag beats the file, key by key.
    const mixed = loadConfig({
      argv: ['--config', file, '--cluster-link-cert', 'client.crt', '--cluster-link-key', 'client.key'],
      env: { STARLING_CLUSTER_LINK_CA: pki.clientCertPath },
      cwd: pki.dir,
    });
    assert.deepEqual(mixed.cluster?.linkTls, {
      cert: pki.clientCert,
      key: pki.clientKey,
      ca: pki.clientCert,
    });
    assert.equal(loadConfig({ argv: cluster, env: {} }).cluster?.linkTls, undefined, 'none by default');
  });

  test('refused: a file missing, no cluster, a file unreadable, a key not of the certificate, links off', () => {
    const refused = (argv: string[], says: RegExp, env: Record<string, string> = {}): void => {
      assert.throws(
        () => loadConfig({ argv, env, cwd: pki.dir }),
        (err: unknown) => err instanceof ConfigError && says.test(err.message),
        String(says),
      );
    };
    refused(
      [...cluster, '--cluster-link-cert', 'server.crt', '--cluster-link-key', 'server.key'],
      /TLS on the cluster links needs a certificate, its key and the CA: --cluster-link-ca \(cluster\.linkTls\.ca\) missing/,
    );
    refused(
      [...cluster],
      /--cluster-link-cert \(cluster\.linkTls\.cert\) and --cluster-link-key \(cluster\.linkTls\.key\) missing/,
      { STARLING_CLUSTER_LINK_CA: 'ca.crt' },
    );
    refused(
      ['--config', fileWith('partial.yaml', '{ cert: ../server.crt, ca: ../ca.crt }')],
      /--cluster-link-key \(cluster\.linkTls\.key\) missing/,
    );
    refused(['--config', fileWith('empty.yaml', '{}')], /cert\).* and .*key\).* and .*ca\) missing/);
    refused(
      [
        '--cluster-link-cert',
        'server.crt',
        '--cluster-link-key',
        'server.key',
        '--cluster-link-ca',
        'ca.crt',
      ],
      /--cluster-link-cert, --cluster-link-key and --cluster-link-ca secure the links .*: give --cluster/,
    );
    const tls = ['--cluster-link-key', 'server.key', '--cluster-link-ca', 'ca.crt'];
    refused(
      [...cluster, '--cluster-link-cert', 'nowhere/server.crt', ...tls],
      new RegExp(`--cluster-link-cert: cannot read ${join(pki.dir, 'nowhere', 'server.crt')}: ENOENT`),
    );
    refused(
      ['--config', fileWith('gone.yaml', '{ cert: ../server.crt, key: ../gone.key, ca: ../ca.crt }')],
      new RegExp(`cluster\\.linkTls\\.key: cannot read ${join(pki.dir, 'gone.key')}: ENOENT`),
    );
    refused(
      [...cluster, '--cluster-link-cert', 'client.crt', ...tls],
      new RegExp(
        `TLS on the cluster links: certificate ${join(pki.dir, 'client.crt')}, key ${join(pki.dir, 'server.key')}, CA ${join(pki.dir, 'ca.crt')}: .*key values mismatch`,
      ),
    );
    refused(
      [
        ...cluster,
        '--cluster-link-cert',
        'server.crt',
        '--cluster-link-key',
        'server.key',
        '--cluster-link-ca',
        'server.ext',
      ],
      /CA .*server\.ext: the CA is not a PEM certificate/,
    );
    refused(
      [...cluster, '--cluster-link', 'off', '--cluster-link-cert', 'server.crt', ...tls],
      /TLS on the cluster links .* and --cluster-link off exclude each other/,
    );
  });
});
