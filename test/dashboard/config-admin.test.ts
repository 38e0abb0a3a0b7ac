/**
 * The config file's `admin` section: users with `starling passwd` hashes and a role, checked as strictly
 * as the rest of the file, and usable as they load by the dashboard.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { hashPassword } from '../../src/hooks/password.js';
import { call, startDashboardBroker } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'starling-admin-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function load(name: string, text: string): ReturnType<typeof loadConfig> {
  const path = join(dir, name);
  writeFileSync(path, text);
  return loadConfig({ argv: ['--config', path], env: {} });
}

describe('config: admin users', () => {
  test('absent: no admin users', () => {
    assert.deepEqual(load('none.yaml', 'logging:\n  level: warn\n').admin, {});
  });

  test('users load with their role, and log in to the dashboard as configured', async () => {
    const hash = await hashPassword('s3cret');
    const config = load(
      'users.yaml',
      `admin:\n  users:\n    - username: ops\n      password: '${hash}'\n      role: admin\n    - username: guest\n      password: '${hash}'\n      role: read-only\n`,
    );
    assert.deepEqual(
      config.admin.users?.map((u) => [u.username, u.role]),
      [
        ['ops', 'admin'],
        ['guest', 'read-only'],
      ],
    );
    const b = await startDashboardBroker({ users: config.admin.users ?? [] });
    try {
      const ok = await call(b.baseUrl, 'POST', '/api/v1/login', {
        body: { username: 'guest', password: 's3cret' },
      });
      assert.deepEqual([ok.status, (ok.body as { role: string }).role], [200, 'read-only']);
    } finally {
      await b.close();
    }
  });

  test('a missing role, a plain-text password, a duplicate name or an unknown key is an error naming it', () => {
    const hash = '$scrypt$N=16384,r=8,p=1$c2FsdA==$aGFzaGhhc2hoYXNoaGFzaA==';
    const cases: [string, RegExp][] = [
      [`admin:\n  users:\n    - username: a\n      password: '${hash}'\n`, /'admin\.users\[0\]\.role'/],
      [
        `admin:\n  users:\n    - username: a\n      password: hunter2\n      role: admin\n`,
        /'admin\.users\[0\]\.password': a hash made by `starling passwd`/,
      ],
      [
        `admin:\n  users:\n    - username: a\n      password: '${hash}'\n      role: root\n`,
        /'admin\.users\[0\]\.role'/,
      ],
      [
        `admin:\n  users:\n    - username: a\n      password: '${hash}'\n      role: admin\n    - username: a\n      password: '${hash}'\n      role: read-only\n`,
        /'admin\.users': a username is listed twice/,
      ],
      [`admin:\n  open: true\n`, /unknown key 'admin\.open'/],
    ];
    cases.forEach(([text, reason], i) => {
      assert.throws(
        () => load(`bad-${i}.yaml`, text),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError);
          assert.match(err.message, reason);
          return true;
        },
      );
    });
  });
});
