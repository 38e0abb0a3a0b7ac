/**
 * `parseArgs` for the benchmark scripts: node:util's, except that an unknown or malformed flag prints what
 * is wrong, one line, and exits with status 2 instead of throwing a stack trace at the user.
 */
import { basename } from 'node:path';
import { type ParseArgsConfig, parseArgs as parseNodeArgs } from 'node:util';

export function parseArgs<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseNodeArgs<T>> {
  try {
    return parseNodeArgs(config);
  } catch (error) {
    const script = basename(process.argv[1] ?? 'bench');
    process.stderr.write(`${script}: ${error instanceof Error ? error.message : String(error)}\n`);
    process.stderr.write('the flags each benchmark takes are listed at the top of its file under bench/\n');
    process.exit(2);
  }
}
