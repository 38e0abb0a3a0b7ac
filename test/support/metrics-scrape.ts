import assert from 'node:assert/strict';

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
