/**
 * `broker.listen()` is one more TCP listener on the path `start()` uses: it is in the broker's listener
 * list, `/healthz` answers for it, and `onStarted` fires once however the broker was started.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Broker } from '../../src/index.js';
import { listenersOf } from '../../src/server/broker.js';

test('listen() adds TCP listeners on the start() path; /healthz sees them; onStarted fires once', async () => {
  let started = 0;
  const broker = new Broker({ sysInterval: 0 });
  await broker.addHook({ onStarted: () => started++ });
  try {
    await broker.listen({ host: '127.0.0.1', port: 0 });
    await broker.listen({ host: '127.0.0.1', port: 0 });
    const http = await broker.addListener({ type: 'http', host: '127.0.0.1', port: 0 });
    assert.ok(typeof http !== 'string');
    assert.deepEqual(
      listenersOf(broker).map((l) => [l.name, l.kind, l.listening]),
      [
        ['tcp', 'tcp', true],
        ['tcp-2', 'tcp', true],
        ['http', 'http', true],
      ],
    );
    assert.equal(started, 1);
    const healthy = await fetch(`http://127.0.0.1:${http.port}/healthz`);
    assert.equal(healthy.status, 200);
    await listenersOf(broker)[1]?.close();
    const degraded = await fetch(`http://127.0.0.1:${http.port}/healthz`);
    assert.equal(degraded.status, 503, 'a listener opened by listen() that stops is seen by /healthz');
  } finally {
    await broker.close();
  }
});
