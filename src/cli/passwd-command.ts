import { parseArgs } from 'node:util';
import { hashPassword } from '../hooks/password.js';
import { UsageError } from './usage-error.js';

const HELP = `Usage: starling passwd [options] [PASSWORD]

Prints a scrypt hash of PASSWORD for the auth ledger's users list. Without PASSWORD the password is
read from standard input (one line), which keeps it out of the shell history and the process list.

Options:
  -u, --username NAME   print a ready-made users entry (YAML) for NAME instead of the bare hash
  -h, --help            show this help
`;

/** `starling passwd`: hash a password for the auth ledger. */
export async function runPasswdCommand(
  argv: readonly string[],
  io: { stdin: NodeJS.ReadableStream; stdout: NodeJS.WritableStream } = process,
): Promise<number> {
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: true,
      options: { username: { type: 'string', short: 'u' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (parsed.values.help === true) {
    io.stdout.write(HELP);
    return 0;
  }
  if (parsed.positionals.length > 1) throw new UsageError('passwd takes at most one password');
  const password = parsed.positionals[0] ?? (await readLine(io.stdin));
  if (password.length === 0) throw new UsageError('empty password');
  const hash = await hashPassword(password);
  const username = parsed.values.username as string | undefined;
  io.stdout.write(
    username === undefined ? `${hash}\n` : `- username: ${JSON.stringify(username)}\n  password: '${hash}'\n`,
  );
  return 0;
}

/** The first line of a stream (without its line ending); bounded so a runaway pipe cannot fill memory. */
async function readLine(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) {
    text += typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8');
    const end = text.search(/\r?\n/);
    if (end >= 0) return text.slice(0, end);
    if (text.length > 4096) throw new UsageError('password line longer than 4096 characters');
  }
  return text;
}
