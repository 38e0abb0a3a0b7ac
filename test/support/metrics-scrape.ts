import assert from 'node:assert/strict';
import type { Broker } from '../../src/index.js';
import type { ListenerAddress } from '../../src/listeners/listener.js';

/** The `/metrics` text of the HTTP listener at `base`. */
export async function metricsText(base: string): Promise<string> {
  const res = await fetch(`${base}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

/**
 * The samples of counter `name` by its `reason` label in the `/metrics` `text`; its TYPE line is checked,
 * and a reason that appears twice fails.
 */
export function countsByReason(text: string, name: string): Record<string, number> {
  assert.match(text, new RegExp(`^# TYPE ${name} counter$`, 'm'));
  const samples: Record<string, number> = {};
  const sample = new RegExp(`^${name}\\{reason="([^"]*)"\\} (\\S+)$`, 'gm');
  for (const [, reason = '', value = ''] of text.matchAll(sample)) {
    assert.equal(samples[reason], undefined, `reason ${reason} twice`);
    samples[reason] = Number(value);
  }
  return samples;
}

/**
 * Refusal counts as users read them: counter `metric` by reason in `/metrics` (zeros included), `key` in
 * `/api/v1/stats` (from an HTTP listener added to `broker`), and the broker's public `stats[key]` and total.
 */
export async function assertCountsByReason(
  broker: Broker,
  metric: string,
  key: 'connectRefused' | 'subscribeRefused',
  expected: Record<string, number>,
): Promise<void> {
  const address: ListenerAddress = await broker.addListener({ type: 'http', host: '127.0.0.1', port: 0 });
  assert.ok(typeof address !== 'string');
  const base = `http://127.0.0.1:${address.port}`;
  assert.deepEqual(countsByReason(await metricsText(base), metric), expected, '/metrics, zeros included');
  const stats = (await (await fetch(`${base}/api/v1/stats`)).json()) as Record<string, unknown>;
  assert.deepEqual(stats[key], expected, '/api/v1/stats');
  assert.deepEqual({ ...broker.stats[key] }, expected, `broker.stats.${key}`);
  const total = Object.values(expected).reduce((sum, n) => sum + n, 0);
  assert.equal(broker.stats[`${key}Total`], total, `broker.stats.${key}Total`);
}
