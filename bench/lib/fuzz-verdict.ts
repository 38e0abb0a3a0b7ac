/**
 * What the fuzz makes of a run (`fuzz-run.ts`): the heap verdict, the errors logged per broker lifetime, a
 * crash's signature, and the reproduction dumps of crashes and hangs.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SessionRecord } from './fuzz-session.js';

/** What `heapVerdict` and `errorsPerLifetime` read of a batch. */
interface BatchMemory {
  readonly lifetime: number;
  readonly heapUsed: number | undefined;
  readonly errorsLogged: number | undefined;
}

/** Heap growth within the longest broker lifetime: the minimum of its last third minus its first batch. */
export function heapVerdict(
  batches: readonly BatchMemory[],
  threshold: number,
): { growth: number; suspected: boolean } {
  const byLifetime = new Map<number, number[]>();
  for (const batch of batches) {
    if (batch.heapUsed === undefined) continue;
    const list = byLifetime.get(batch.lifetime) ?? [];
    list.push(batch.heapUsed);
    byLifetime.set(batch.lifetime, list);
  }
  let longest: number[] = [];
  for (const list of byLifetime.values()) if (list.length > longest.length) longest = list;
  const first = longest[0];
  if (first === undefined || longest.length < 2) return { growth: 0, suspected: false };
  const tail = longest.slice(-Math.max(1, Math.ceil(longest.length / 3)));
  const growth = Math.min(...tail) - first;
  return { growth, suspected: growth > threshold };
}

/** Errors logged, summed over broker lifetimes (each probe reports its process's running count). */
export function errorsPerLifetime(batches: readonly BatchMemory[]): number {
  const most = new Map<number, number>();
  for (const b of batches) most.set(b.lifetime, Math.max(most.get(b.lifetime) ?? 0, b.errorsLogged ?? 0));
  let total = 0;
  for (const count of most.values()) total += count;
  return total;
}

/** `MqttError: reason code 0x84 is not allowed in disconnect @ Connection.disconnect` from a crash's stderr. */
export function crashSignature(stderr: string): string {
  const lines = stderr.split('\n');
  const errorLine = lines.find((l) => /^[A-Za-z]*Error\b|^Error:|^RangeError|^TypeError/.test(l.trim()));
  const frame = lines.find((l) => l.trim().startsWith('at '));
  const where =
    frame
      ?.trim()
      .replace(/^at /, '')
      .replace(/ \(.*\)$/, '') ?? '?';
  return `${errorLine?.trim() ?? (lines[0] ?? 'exited').trim()} @ ${where}`;
}

/** Write each session's bytes to `<dir>/<kind>-<time>/session-<id>.bin` with an index; returns the directory. */
export function dump(
  baseDir: string | undefined,
  kind: string,
  records: readonly SessionRecord[],
  why: string,
): string | undefined {
  if (baseDir === undefined) return undefined;
  const dir = join(baseDir, `${kind}-${new Date().toISOString().replaceAll(':', '-')}`);
  mkdirSync(dir, { recursive: true });
  const seen = new Set<number>();
  const index = [];
  for (const r of records) {
    if (seen.has(r.id)) continue;
    seen.add(r.id);
    const file = `session-${r.id}.bin`;
    writeFileSync(join(dir, file), r.bytes());
    index.push({
      file,
      id: r.id,
      seed: r.seed,
      version: r.version,
      temper: r.temper,
      truncated: r.truncated,
    });
  }
  writeFileSync(join(dir, 'index.json'), `${JSON.stringify({ why, sessions: index }, null, 2)}\n`);
  return dir;
}
