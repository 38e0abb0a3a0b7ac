import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { main as hooksExample } from '../../examples/hooks.js';
import { main as injectionExample } from '../../examples/injection.js';
import { main as inlineExample } from '../../examples/inline-client.js';

describe('examples', () => {
  it('examples/hooks.ts: the stamp hook changes one publish and refuses the other', async () => {
    assert.deepEqual(await hooksExample(), ['greeting=stamped:hello']);
  });

  it('examples/inline-client.ts: retained first, then live, nothing after unsubscribe', async () => {
    assert.deepEqual(await inlineExample(), ['sensors/kitchen=21.5 (retained)', 'sensors/hall=19.0']);
  });

  it('examples/injection.ts: CONNACK, SUBACK, the echoed PUBLISH and its PUBACK', async () => {
    const types = await injectionExample();
    assert.equal(types[0], 'connack');
    assert.ok(types.includes('suback'));
    assert.ok(types.includes('publish'));
    assert.ok(types.includes('puback'));
  });
});
