/**
 * Flag helpers shared by the `starling bench` commands. They live apart from the commands so that
 * `bench-command.ts` (which dispatches to `bench compare`) and `bench-compare-command.ts` need not import
 * each other.
 */
import { UsageError } from './usage-error.js';

/** mqtt-stresser writes `-num-clients=10`; parseArgs wants `--num-clients`. Single letters stay as they are. */
export function normaliseSingleDashFlags(argv: readonly string[]): string[] {
  return argv.map((arg) => (/^-[a-z][a-z-]+(=.*)?$/i.test(arg) && !/^-\d/.test(arg) ? `-${arg}` : arg));
}

/** A duration: `500ms`, `5s`, `2m`, `1h`, or plain seconds; undefined when the flag was not given. */
export function parseDuration(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (match === null)
    throw new UsageError(`--${name} must be a duration like 500ms, 5s or 2m, got '${text}'`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Number(match[1]) * unit;
}
