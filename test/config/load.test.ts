import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import type { Hook } from '../../src/broker/hooks.js';
import { authFromConfig } from '../../src/config/auth.js';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import type { ConnectPacket } from '../../src/packets/types.js';

const dir = mkdtempSync(join(tmpdir(), 'starling-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function writeConfig(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const portOf = (config: ReturnType<typeof loadConfig>, i = 0): number | undefined => {
  const listener = config.listeners[i];
  return listener !== undefined && 'port' in listener ? listener.port : undefined;
};

describe('loadConfig', () => {
  test('defaults: one TCP listener on 1883, log level info', () => {
    const config = loadConfig({ argv: [], env: {} });
    assert.deepEqual(config.listeners, [{ type: 'tcp', host: '0.0.0.0', port: 1883 }]);
    assert.equal(config.logLevel, 'info');
    assert.deepEqual(config.broker, {});
    assert.equal(config.help, false);
  });

  test('the annotated example file loads', () => {
    const config = loadConfig({ argv: ['--config', resolve('starling.example.yaml')], env: {} });
    assert.deepEqual(
      config.listeners.map((l) => l.type),
      ['tcp', 'ws', 'http', 'unix'],
    );
    assert.equal(config.broker.maxConnections, 50000);
    assert.equal(config.broker.maximumPacketSize, 1048576);
    assert.equal(config.auth.users?.[0]?.username, 'sensor');
    assert.equal(config.shutdownTimeoutMs, 10000);
  });

  test('the free-space floor: 64 MiB by default, from the file, a variable or a flag, 0 turns it off', () => {
    const floor = (config: ReturnType<typeof loadConfig>): number | undefined =>
      config.persistence.type === 'sqlite' ? config.persistence.minFreeDisk : undefined;
    assert.equal(floor(loadConfig({ argv: [], env: {} })), 64 * 1024 * 1024);
    const file = writeConfig('floor.yaml', 'persistence:\n  minFreeDisk: 2GiB\n');
    assert.equal(floor(loadConfig({ argv: ['--config', file], env: {} })), 2 * 1024 ** 3);
    const env = { STARLING_CONFIG: file, STARLING_MIN_FREE_DISK: '100MiB' };
    assert.equal(floor(loadConfig({ argv: [], env })), 100 * 1024 * 1024);
    assert.equal(floor(loadConfig({ argv: ['--min-free-disk', '0'], env })), 0);
    assert.throws(
      () => loadConfig({ argv: ['--min-free-disk', 'lots'], env: {} }),
      /--min-free-disk must be a size like 268435456 or 256MiB, got 'lots'/,
    );
    const zeroFile = writeConfig('floor0.yaml', 'persistence:\n  minFreeDisk: 0\n');
    assert.equal(floor(loadConfig({ argv: ['--config', zeroFile], env: {} })), 0);
  });

  test('precedence: flag > env > file > default', () => {
    const file = writeConfig(
      'prec.yaml',
      'listeners:\n  - type: tcp\n    port: 1000\nlimits:\n  maxQueuedMessages: 5\n  maxPacketSize: 5000\nlogging:\n  level: warn\n  format: text\n',
    );
    const env = {
      STARLING_CONFIG: file,
      STARLING_PORT: '2000',
      STARLING_MAX_QUEUED_MESSAGES: '6',
      STARLING_LOG_LEVEL: 'debug',
      STARLING_LOG_FORMAT: 'json',
    };
    assert.equal(loadConfig({ argv: [], env: {} }).logFormat, undefined, 'no format: chosen by the terminal');
    const fileOnly = loadConfig({ argv: ['--config', file], env: {} });
    assert.equal(portOf(fileOnly), 1000);
    assert.equal(fileOnly.logLevel, 'warn');
    assert.equal(fileOnly.logFormat, 'text');
    const withEnv = loadConfig({ argv: [], env });
    assert.equal(portOf(withEnv), 2000);
    assert.equal(withEnv.broker.maxQueuedMessages, 6);
    assert.equal(withEnv.broker.maximumPacketSize, 5000);
    assert.equal(withEnv.logLevel, 'debug');
    assert.equal(withEnv.logFormat, 'json');
    const withFlags = loadConfig({
      argv: ['-p', '3000', '--max-queued-messages', '7', '--log-level', 'error', '--log-format', 'text'],
      env,
    });
    assert.equal(withFlags.logFormat, 'text');
    assert.equal(withFlags.listeners.length, 1);
    assert.equal(portOf(withFlags), 3000);
    assert.equal(withFlags.broker.maxQueuedMessages, 7);
    assert.equal(withFlags.logLevel, 'error');
  });

  test('the queue, flow-control, session, shutdown and auth settings have flags and variables too', () => {
    const config = loadConfig({
      argv: [
        '--receive-maximum',
        '20',
        '--max-queued-bytes',
        '4096',
        '--publish-rate',
        '5',
        '--auth-file',
        'ledger.yaml',
      ],
      env: {
        STARLING_RECEIVE_MAXIMUM: '99',
        STARLING_MAX_SESSION_EXPIRY: '3600',
        STARLING_SHUTDOWN_TIMEOUT_MS: '2500',
        STARLING_PUBLISH_RATE_ACTION: 'throttle',
      },
      cwd: '/srv/starling',
    });
    assert.equal(config.broker.receiveMaximum, 20, 'the flag beats the variable');
    assert.equal(config.broker.maxQueuedBytes, 4096);
    assert.equal(config.broker.maximumSessionExpiryInterval, 3600);
    assert.equal(config.shutdownTimeoutMs, 2500);
    assert.deepEqual(config.publishRate, { perSecond: 5, action: 'throttle' });
    assert.equal(config.auth.file, '/srv/starling/ledger.yaml');
    assert.throws(
      () => loadConfig({ argv: ['--publish-rate-action', 'drop'], env: {} }),
      /disconnect or throttle/,
    );
    assert.throws(() => loadConfig({ argv: ['--receive-maximum', '0'], env: {} }), /receive maximum/);
  });

  test('listener flags add listeners of each kind', () => {
    const argv = [
      '--host',
      '127.0.0.1',
      '--ws-port',
      '0',
      '--ws-path',
      '/x',
      '--http-port',
      '0',
      '--unix',
      'a.sock',
    ];
    const config = loadConfig({ argv, env: {}, cwd: dir });
    assert.deepEqual(config.listeners, [
      { type: 'ws', host: '127.0.0.1', port: 0, path: '/x' },
      { type: 'http', host: '127.0.0.1', port: 0 },
      { type: 'unix', path: join(dir, 'a.sock') },
    ]);
  });

  test('--tls-port and --wss-port read --cert, --key and --ca; a CA asks for (optional) client certificates', () => {
    writeFileSync(join(dir, 'flag-cert.pem'), 'C');
    writeFileSync(join(dir, 'flag-key.pem'), 'K');
    writeFileSync(join(dir, 'flag-ca.pem'), 'A');
    const argv = [
      '--tls-port',
      '8883',
      '--wss-port',
      '8443',
      '--cert',
      'flag-cert.pem',
      '--key',
      'flag-key.pem',
      '--ca',
      'flag-ca.pem',
    ];
    const config = loadConfig({ argv, env: {}, cwd: dir });
    const [tls, wss] = config.listeners;
    assert.ok(tls?.type === 'tls' && wss?.type === 'wss');
    assert.equal(tls.port, 8883);
    assert.equal(tls.cert.toString(), 'C');
    assert.equal(tls.ca?.toString(), 'A');
    assert.equal(tls.clientCertificates, 'optional');
    assert.equal(wss.port, 8443);
    assert.equal(wss.key.toString(), 'K');
  });

  test('--tls-port needs --cert and --key', () => {
    assert.throws(
      () => loadConfig({ argv: ['--tls-port', '8883'], env: {} }),
      (err: Error) => err instanceof ConfigError && /--tls-port needs --cert and --key/.test(err.message),
    );
  });

  test('bad flags and variables are refused naming them', () => {
    assert.throws(
      () => loadConfig({ argv: ['--port', 'abc'], env: {} }),
      /--port must be an integer, got 'abc'/,
    );
    assert.throws(() => loadConfig({ argv: ['--bogus'], env: {} }), ConfigError);
    assert.throws(
      () => loadConfig({ argv: [], env: { STARLING_PORT: '70000' } }),
      /STARLING_PORT must be from 0 to 65535, got 70000/,
    );
    assert.throws(
      () => loadConfig({ argv: [], env: { STARLING_LOG_LEVEL: 'loud' } }),
      /STARLING_LOG_LEVEL must be one of/,
    );
    assert.throws(
      () => loadConfig({ argv: [], env: { STARLING_LOG_FORMAT: 'yaml' } }),
      /STARLING_LOG_FORMAT must be text or json, got 'yaml'/,
    );
    const badFormat = writeConfig('format.yaml', 'logging:\n  format: pretty\n');
    assert.throws(() => loadConfig({ argv: ['--config', badFormat], env: {} }), /'logging\.format'/);
  });

  test('unknown keys and wrong types in the file name the key, the file and what was expected', () => {
    const file = writeConfig(
      'bad.yaml',
      'listeners:\n  - type: tcp\n    port: "1883"\n    colour: blue\nlimits:\n  maxConections: 5\n',
    );
    assert.throws(
      () => loadConfig({ argv: ['--config', file], env: {} }),
      (err: Error) => {
        assert.ok(err instanceof ConfigError);
        assert.ok(err.message.startsWith(`${file}: invalid configuration`), err.message);
        assert.match(err.message, /'listeners\[0\]\.port': expected number, received string/);
        assert.match(err.message, /unknown key 'listeners\[0\]\.colour'/);
        assert.match(err.message, /unknown key 'limits\.maxConections'/);
        return true;
      },
    );
  });

  test('connectionRate takes fractions of a connection per second and refuses negatives', () => {
    const slow = writeConfig(
      'rate.yaml',
      'listeners:\n  - type: tcp\n    port: 0\n    connectionRate: 0.5\n',
    );
    const [tcp] = loadConfig({ argv: ['--config', slow], env: {} }).listeners;
    assert.equal(tcp?.connectionRate, 0.5);
    const negative = writeConfig(
      'rate2.yaml',
      'listeners:\n  - type: tcp\n    port: 0\n    connectionRate: -1\n',
    );
    assert.throws(
      () => loadConfig({ argv: ['--config', negative], env: {} }),
      /'listeners\[0\]\.connectionRate'/,
    );
  });

  test('an unknown listener type, bad YAML and a missing file are refused', () => {
    const badType = writeConfig('type.yaml', 'listeners:\n  - type: quic\n    port: 1\n');
    assert.throws(() => loadConfig({ argv: ['--config', badType], env: {} }), /'listeners\[0\]\.type'/);
    const badYaml = writeConfig('yaml.yaml', 'listeners: [\n');
    assert.throws(() => loadConfig({ argv: ['--config', badYaml], env: {} }), /not valid YAML/);
    assert.throws(
      () => loadConfig({ argv: ['--config', join(dir, 'missing.yaml')], env: {} }),
      /cannot read config file/,
    );
  });

  test('TLS file paths are read relative to the config file', () => {
    writeFileSync(join(dir, 'c.pem'), 'CERT');
    writeFileSync(join(dir, 'k.pem'), 'KEY');
    const file = writeConfig(
      'tls.yaml',
      'listeners:\n  - type: tls\n    port: 0\n    certFile: c.pem\n    keyFile: k.pem\n',
    );
    const [tls] = loadConfig({ argv: ['--config', file], env: {} }).listeners;
    assert.ok(tls?.type === 'tls');
    assert.equal(tls.cert.toString(), 'CERT');
    assert.equal(tls.key.toString(), 'KEY');
    const missing = writeConfig(
      'tls2.yaml',
      'listeners:\n  - type: tls\n    port: 0\n    certFile: nope.pem\n    keyFile: k.pem\n',
    );
    assert.throws(
      () => loadConfig({ argv: ['--config', missing], env: {} }),
      /listeners\[0\]\.certFile: cannot read/,
    );
  });
});

describe('authFromConfig', () => {
  const connect = (username?: string, password?: string): ConnectPacket => ({
    type: 'connect',
    protocolName: 'MQTT',
    protocolVersion: 4,
    clean: true,
    keepalive: 0,
    clientId: 'c',
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password: Buffer.from(password) }),
  });
  const client = (listener: string, remoteAddress = '10.0.0.9') =>
    ({ listener, remoteAddress, inline: false }) as never;
  const allows = async (
    hooks: readonly Hook[],
    listener: string,
    packet: ConnectPacket,
    address?: string,
  ) => {
    for (const hook of hooks)
      if (await hook.onConnectAuthenticate?.(client(listener, address), packet)) return true;
    return false;
  };
  const HASH =
    '$scrypt$N=16384,r=8,p=1$361IJog1APeDiizyclKvZw==$XQLdApQh04OOO+Yz10sBUn4S9Vq9+rCLqNvFYYwysfY='; // 'change-me'

  test('nothing configured: loopback and Unix socket clients only, with a warning', async () => {
    const setup = await authFromConfig({}, [{ type: 'tcp', port: 1883 }]);
    assert.match(setup.warning ?? '', /loopback/);
    assert.equal(await allows(setup.hooks, 'tcp', connect(), '127.0.0.1'), true);
    assert.equal(await allows(setup.hooks, 'tcp', connect(), '10.0.0.9'), false);
    assert.equal(
      await allows(setup.hooks, 'unix', connect(), '/tmp/starling.sock'),
      true,
      'a Unix socket peer',
    );
  });

  test('users are checked against scrypt hashes; anonymous follows the listener, then auth.anonymous', async () => {
    const users = [{ username: 'u', password: HASH }];
    const listeners = [
      { type: 'tcp', port: 1883, allowAnonymous: true },
      { type: 'ws', port: 8080 },
    ] as const;
    const setup = await authFromConfig({ users }, [...listeners]);
    assert.equal(await allows(setup.hooks, 'tcp', connect('u', 'change-me')), true);
    assert.equal(await allows(setup.hooks, 'tcp', connect('u', 'wrong')), false);
    assert.equal(await allows(setup.hooks, 'tcp', connect()), true, 'anonymous allowed on tcp');
    assert.equal(await allows(setup.hooks, 'ws', connect()), false, 'anonymous refused on ws');
    const open = await authFromConfig({ users, anonymous: true }, [
      { type: 'ws', port: 8080, allowAnonymous: false },
    ]);
    assert.equal(await allows(open.hooks, 'ws', connect()), false, 'the listener says no');
    assert.equal(await allows(open.hooks, 'other', connect()), true, 'auth.anonymous for the rest');
  });
});
