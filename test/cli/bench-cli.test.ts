import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Broker } from '../../src/index.js';
import { runCli } from '../support/cli.js';

/** A usage error: exit status 2, the reason on stderr, nothing run and so no report on stdout. */
async function assertUsageError(args: readonly string[], message: RegExp): Promise<string> {
  const r = await runCli(['bench', ...args, '--quiet'], { timeoutMs: 15_000 });
  assert.equal(r.code, 2, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.match(r.stderr, message);
  assert.equal(r.stdout, '');
  return r.stderr;
}

describe('starling bench: topics and failures (CLI)', { concurrency: true, timeout: 30_000 }, () => {
  it('subscribe --publish with a wildcard --topic is a usage error explaining what --topic is there', async () => {
    const stderr = await assertUsageError(
      ['subscribe', '--publish', '--publishers', '2', '-n', '100', '--topic', 'mqtt-malaria/#'],
      /--topic 'mqtt-malaria\/#' contains '#'/,
    );
    assert.match(stderr, /with --publish, --topic is the publishers' topic template/);
    assert.match(stderr, /subscription filter is derived from it/);
  });

  it('publish with a wildcard or empty --topic is a usage error naming the flag', async () => {
    await Promise.all([
      assertUsageError(['publish', '--topic', 'a/#', '-n', '5'], /--topic 'a\/#' contains '#'.*topic name/),
      assertUsageError(['publish', '--topic', 'a/+/b', '-n', '5'], /--topic 'a\/\+\/b' contains '\+'/),
      assertUsageError(['publish', '--topic=', '-n', '5'], /--topic is empty/),
      // The client id prefix is part of the topic through {client}.
      assertUsageError(['publish', '-c', 'x#', '-n', '5'], /-c\/--clientid 'x#' makes the topic/),
    ]);
  });

  it('subscribe with an invalid --topic filter is a usage error', async () => {
    await assertUsageError(
      ['subscribe', '--topic', 'a/#/b'],
      /--topic 'a\/#\/b' is not a valid topic filter/,
    );
  });

  it('subscribe --publish whose every publisher fails says why and exits 1', async (t) => {
    // Publishes are refused (PUBACK 0x87 at QoS 1 in MQTT 5); connecting and subscribing are allowed.
    const broker = new Broker({ sysInterval: 0 });
    t.after(() => broker.close());
    await broker.addHook({
      id: 'refuse-publish',
      onConnectAuthenticate: () => true,
      onAclCheck: (_client, _topic, access) => access === 'read',
    });
    const { port } = await broker.listen({ host: '127.0.0.1', port: 0 });
    const r = await runCli(
      [
        'bench',
        'subscribe',
        '--url',
        `mqtt://127.0.0.1:${port}`,
        '--publish',
        '--publishers',
        '2',
        '-n',
        '5',
        '-q',
        '1',
        '--quiet',
      ],
      { timeoutMs: 20_000 },
    );
    assert.equal(r.code, 1, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    assert.match(r.stdout, /^Client failed: /m);
    assert.match(r.stderr, /^starling bench: every client failed \(2\); first error: \S/m);
  });

  it('subscribe --publish with 12 publishers prints no MaxListenersExceededWarning and gets all 240', async () => {
    const r = await runCli(['bench', 'subscribe', '--publish', '--publishers', '12', '-n', '20', '--quiet'], {
      timeoutMs: 20_000,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /MaxListenersExceededWarning/);
    assert.equal(r.stderr, '');
    assert.match(
      r.stdout,
      /^Delivery totals \(12 publisher streams\): received 240 \(240 distinct\), missing 0, duplicated 0/m,
    );
  });
});
