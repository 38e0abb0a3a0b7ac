import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { runPasswdCommand } from '../../src/cli/passwd-command.js';
import { filterCovers } from '../../src/hooks/auth-ledger.js';
import { AuthLedger, Broker, hashPassword, LedgerConfigError, verifyPassword } from '../../src/index.js';
import { engineOf } from '../../src/server/broker.js';
import { waitFor } from './helpers.js';

const haveClients = spawnSync('mosquitto_pub', ['--help']).error === undefined;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a mosquitto client to completion (killed after `timeoutMs`). */
function run(command: string, args: string[], timeoutMs = 5000): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('password hashes', () => {
  it('hash and verify round trip; wrong passwords and malformed hashes fail', async () => {
    const hash = await hashPassword('correct horse');
    assert.match(hash, /^\$scrypt\$N=16384,r=8,p=1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    assert.notEqual(await hashPassword('correct horse'), hash, 'a fresh salt each time');
    assert.equal(await verifyPassword('correct horse', hash), true);
    assert.equal(await verifyPassword('wrong', hash), false);
    assert.equal(await verifyPassword('correct horse', '$scrypt$N=3,r=8,p=1$AAAA$AAAA'), false);
    assert.equal(await verifyPassword('x', 'plain-text'), false);
  });

  it('starling passwd prints a hash for a password read from stdin', async () => {
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    let out = '';
    stdout.on('data', (d: Buffer) => (out += d.toString()));
    stdin.end('from-stdin\n');
    assert.equal(await runPasswdCommand(['-u', 'bob'], { stdin, stdout }), 0);
    const hash = /password: '(.*)'/.exec(out)?.[1] ?? '';
    assert.match(out, /^- username: "bob"\n/);
    assert.equal(await verifyPassword('from-stdin', hash), true);
  });
});

describe('ACL filter coverage', () => {
  it('covers topics and narrower filters only', () => {
    assert.equal(filterCovers('a/#', 'a'), true);
    assert.equal(filterCovers('a/#', 'a/b/c'), true);
    assert.equal(filterCovers('a/+', 'a/b'), true);
    assert.equal(filterCovers('a/+', 'a/+'), true);
    assert.equal(filterCovers('a/+', 'a/#'), false);
    assert.equal(filterCovers('a/b', 'a/+'), false);
    assert.equal(filterCovers('#', '$SYS/broker/uptime'), false);
    assert.equal(filterCovers('$SYS/#', '$SYS/broker/uptime'), true);
  });
});

describe('auth ledger', () => {
  let dir: string;
  let file: string;
  let ledger: AuthLedger;
  let broker: Broker;
  let port: number;
  let aliceHash: string;
  let bobHash: string;

  const rules = [
    { filter: 'secret/#', access: 'deny' },
    { filter: 'users/%u/#', access: 'readwrite' },
    { filter: 'devices/%c/out', access: 'write' },
    { filter: 'public/#', access: 'read' },
    { username: 'alice', filter: 'public/#', access: 'readwrite' },
  ];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'starling-ledger-'));
    file = join(dir, 'auth.json');
    [aliceHash, bobHash] = await Promise.all([hashPassword('alice-pw'), hashPassword('bob-pw')]);
    writeFileSync(
      file,
      JSON.stringify({
        users: [
          { username: 'alice', password: aliceHash },
          { username: 'bob', password: bobHash, clientId: 'bob-*', remoteAddress: '127.0.0.1' },
        ],
        acl: rules,
      }),
    );
    ledger = await AuthLedger.fromFile(file);
    broker = new Broker({ sysInterval: 0 });
    await broker.addHook(ledger);
    port = (await broker.listen({ host: '127.0.0.1', port: 0 })).port;
  });

  after(async () => {
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const base = (): string[] => ['-h', '127.0.0.1', '-p', String(port)];

  it('rejects plain-text passwords and malformed entries', () => {
    assert.throws(
      () => AuthLedger.fromObject({ users: [{ username: 'x', password: 'plain' }] }),
      LedgerConfigError,
    );
    assert.throws(
      () => AuthLedger.fromObject({ acl: [{ filter: 'a', access: 'maybe' }] }),
      LedgerConfigError,
    );
  });

  it('authenticates on username, password, client id and address (mosquitto_pub)', {
    skip: !haveClients && 'mosquitto-clients not installed',
  }, async () => {
    const pub = (user: string, pw: string, id: string, version = 'mqttv311'): Promise<Run> =>
      run('mosquitto_pub', [
        ...base(),
        '-V',
        version,
        '-i',
        id,
        '-u',
        user,
        '-P',
        pw,
        '-t',
        `users/${user}/x`,
        '-m',
        'hi',
      ]);
    assert.equal((await pub('alice', 'alice-pw', 'any-id')).code, 0);
    assert.equal((await pub('bob', 'bob-pw', 'bob-1', 'mqttv5')).code, 0);
    const wrongPw = await pub('alice', 'nope', 'a1');
    assert.notEqual(wrongPw.code, 0);
    assert.match(wrongPw.stderr, /not authori[sz]ed|bad user ?name or password/i);
    assert.notEqual((await pub('bob', 'bob-pw', 'not-bob')).code, 0, 'client id pattern enforced');
    const anonymous = await run('mosquitto_pub', [...base(), '-i', 'anon', '-t', 'public/x', '-m', 'x']);
    assert.notEqual(anonymous.code, 0, 'anonymous refused unless the ledger allows it');
  });

  it('enforces ACL rules, first match wins, with %u and %c (mosquitto_sub + mosquitto_pub)', {
    skip: !haveClients && 'mosquitto-clients not installed',
  }, async () => {
    const sub = spawn(
      'mosquitto_sub',
      [
        ...base(),
        '-V',
        'mqttv5',
        '-i',
        'bob-sub',
        '-u',
        'bob',
        '-P',
        'bob-pw',
        '-v',
        '-t',
        'users/bob/#',
        '-t',
        'public/#',
        '-t',
        'users/alice/#',
        '-t',
        'secret/x',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    // An inline subscriber bypasses the ACL: it shows which publishes the broker accepted.
    const routed: string[] = [];
    const unsubscribe = await broker.subscribe('#', (message) => routed.push(message.topic));
    sub.stdout.on('data', (d: Buffer) => (out += d.toString()));
    sub.stderr.on('data', (d: Buffer) => (err += d.toString()));
    try {
      await waitFor(
        () => engineOf(broker).sessions.get('bob-sub')?.subscriptions.size === 2,
        'bob-sub to hold its 2 allowed subscriptions',
      );
      assert.deepEqual([...(engineOf(broker).sessions.get('bob-sub')?.subscriptions.keys() ?? [])].sort(), [
        'public/#',
        'users/bob/#',
      ]);
      const alice = (topic: string, id = 'alice-1'): Promise<Run> =>
        run('mosquitto_pub', [
          ...base(),
          '-V',
          'mqttv5',
          '-q',
          '1',
          '-i',
          id,
          '-u',
          'alice',
          '-P',
          'alice-pw',
          '-t',
          topic,
          '-m',
          topic,
        ]);
      // The read-only public/# rule comes before alice's readwrite one, so it decides: first match wins.
      for (const topic of [
        'public/news',
        'users/alice/x',
        'devices/alice-1/out',
        'devices/other/out',
        'secret/x',
      ]) {
        assert.equal((await alice(topic)).code, 0);
      }
      const bob = await run('mosquitto_pub', [
        ...base(),
        '-V',
        'mqttv5',
        '-q',
        '1',
        '-i',
        'bob-2',
        '-u',
        'bob',
        '-P',
        'bob-pw',
        '-t',
        'users/bob/note',
        '-m',
        'mine',
      ]);
      assert.equal(bob.code, 0, bob.stderr);
      await waitFor(() => out.includes('users/bob/note mine'), 'bob-sub to get its own topic');
      assert.doesNotMatch(out, /users\/alice/);
      assert.deepEqual(routed, ['users/alice/x', 'devices/alice-1/out', 'users/bob/note']);
    } finally {
      unsubscribe();
      sub.kill('SIGTERM');
    }
    assert.equal(err.includes('Error'), false, err);
  });

  it('reloads the file without dropping connections; a broken file keeps the old rules', async () => {
    const live = await broker.createClient('alice-live', { username: 'alice', password: 'alice-pw' });
    writeFileSync(file, JSON.stringify({ users: [{ username: 'carol', password: aliceHash }], acl: rules }));
    await ledger.reload();
    assert.equal(ledger.userCount, 1);
    assert.equal(live.connection.state, 'connected', 'a reload drops no connection');
    writeFileSync(file, '{ not json');
    await assert.rejects(ledger.reload(), LedgerConfigError);
    assert.equal(ledger.userCount, 1);
    if (haveClients) {
      const carol = await run('mosquitto_pub', [
        ...base(),
        '-i',
        'c1',
        '-u',
        'carol',
        '-P',
        'alice-pw',
        '-t',
        'users/carol/x',
        '-m',
        'x',
      ]);
      assert.equal(carol.code, 0, carol.stderr);
      const alice = await run('mosquitto_pub', [
        ...base(),
        '-i',
        'a1',
        '-u',
        'alice',
        '-P',
        'alice-pw',
        '-t',
        'users/alice/x',
        '-m',
        'x',
      ]);
      assert.notEqual(alice.code, 0, 'alice was removed by the reload');
    }
    live.close();
  });
});
