import type { ClientOptions } from '../client/index.js';
import { type ClientFlags, clientOptions } from './mqtt-client-flags.js';
import { UsageError } from './usage-error.js';

/** Standard streams, replaceable for tests. */
export interface CommandIo {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/** Prints a usage error as mosquitto does; exit code 1. */
export function usageFailure(io: CommandIo, tool: string, error: UsageError): number {
  io.stderr.write(`Error: ${error.message}\n\nUse 'starling ${tool} --help' to see usage.\n`);
  return 1;
}

/** A parsed `pub`/`sub` command line, ready to connect. */
export interface PreparedClientCommand<P> {
  readonly plan: P;
  readonly flags: ClientFlags;
  readonly options: ClientOptions;
  /** Write an error line to stderr unless `--quiet`. */
  complain(text: string): void;
}

/**
 * What `pub` and `sub` do first: `--help`, parsing, client options, and mosquitto's usage error. Returns the
 * exit code when the command ends here (help shown or a usage error), else the prepared command.
 */
export function prepareClientCommand<P>(
  argv: readonly string[],
  io: CommandIo,
  tool: 'pub' | 'sub',
  help: string,
  parse: (argv: readonly string[]) => { plan: P; flags: ClientFlags },
): PreparedClientCommand<P> | number {
  if (argv.includes('--help')) {
    io.stdout.write(help);
    return 0;
  }
  try {
    const { plan, flags } = parse(argv);
    const options = clientOptions(flags, `starling_${tool}`);
    const complain = (text: string): void => {
      if (!flags.quiet) io.stderr.write(`${text}\n`);
    };
    return { plan, flags, options, complain };
  } catch (error) {
    if (error instanceof UsageError) return usageFailure(io, tool, error);
    throw error;
  }
}
