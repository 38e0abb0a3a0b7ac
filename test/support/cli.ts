import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the nearest directory above this file holding Starling's package.json. */
export const REPO_ROOT: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  // Bounded walk: this file sits at most a few levels deep (test/support or dist/test/support).
  for (let i = 0; i < 6; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'starling') {
      return dir;
    }
    dir = dirname(dir);
  }
  throw new Error('cannot find the starling repository root');
})();

/** What a finished CLI run produced. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * The command that runs the CLI: `node bin/starling.js` when the build output exists (as under `npm test`),
 * otherwise the TypeScript sources through tsx, started the same way bin/starling.js starts the built CLI.
 */
export function cliCommand(args: readonly string[]): { command: string; args: string[] } {
  if (existsSync(join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js'))) {
    return { command: process.execPath, args: [join(REPO_ROOT, 'bin', 'starling.js'), ...args] };
  }
  const main = JSON.stringify(join(REPO_ROOT, 'src', 'cli', 'main.ts'));
  const launcher = `import(${main}).then((m) => m.main(process.argv.slice(1))).then(
    (code) => { if (typeof code === 'number') process.exitCode = code; },
    (err) => { process.stderr.write('starling: ' + (err instanceof Error ? err.message : String(err)) + '\\n'); process.exitCode = 1; });`;
  return {
    command: process.execPath,
    args: ['--import', 'tsx', '--input-type=module', '-e', launcher, '--', ...args],
  };
}

/** Start the CLI with piped stdio; the caller must make sure it ends (`stopCli`, or `timeoutMs`). */
export function startCli(
  args: readonly string[],
  options: { timeoutMs?: number; cwd?: string } = {},
): ChildProcess {
  const { command, args: argv } = cliCommand(args);
  return spawn(command, argv, {
    cwd: options.cwd ?? REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: options.timeoutMs ?? 30_000,
    killSignal: 'SIGKILL',
  });
}

/** Collect a started CLI's output until it exits. */
export function collect(child: ChildProcess): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolve) => {
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Run `starling <args>` to completion; it is killed after `timeoutMs` (default 30 s). */
export function runCli(
  args: readonly string[],
  options: { timeoutMs?: number; cwd?: string } = {},
): Promise<CliResult> {
  return collect(startCli(args, options));
}
