/**
 * Bench agents for tests: real `starling bench agent` processes listening on loopback addresses, each read
 * back from the line it prints once it listens, stopped (SIGTERM, then SIGKILL) in teardown.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { cliCommand, REPO_ROOT } from '../support/cli.js';

/**
 * How far two processes' clock anchors may disagree on a loaded machine: each process's clock is its
 * monotonic timer anchored at `performance.timeOrigin`, which can land a few ms off the wall clock at start.
 * The agents' offsets are real to that extent, on top of the estimate's own bound.
 */
export const ANCHOR_SLACK_MS = 10;

/** A running agent process. */
export interface AgentProcess {
  /** `host:port`, as `--agents` takes it. */
  readonly endpoint: string;
  readonly child: ChildProcess;
  /** Everything it wrote to stderr so far (its log). */
  stderr(): string;
  /** Stops it (SIGTERM, SIGKILL after 3 s) and waits for its exit. */
  stop(): Promise<void>;
}

/** Options of {@link startAgent}. */
export interface AgentStartOptions {
  readonly host: string;
  readonly token?: string;
  readonly clockOffsetMs?: number;
  /** A lower `ulimit -n` for the agent (its part must fit it). */
  readonly openFiles?: number;
  readonly extraArgs?: readonly string[];
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Starts `starling bench agent --listen HOST:0` and resolves once it listens. */
export async function startAgent(options: AgentStartOptions): Promise<AgentProcess> {
  const args = [
    'bench',
    'agent',
    '--listen',
    `${options.host}:0`,
    ...(options.token === undefined ? [] : ['--token', options.token]),
    ...(options.clockOffsetMs === undefined ? [] : ['--clock-offset-ms', String(options.clockOffsetMs)]),
    ...(options.extraArgs ?? []),
  ];
  const { command, args: argv } = cliCommand(args);
  const child =
    options.openFiles === undefined
      ? spawn(command, argv, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
      : // A real, lower file limit: the shell sets it, then becomes the agent.
        spawn('sh', ['-c', `ulimit -n ${options.openFiles} && exec "$0" "$@"`, command, ...argv], {
          cwd: REPO_ROOT,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited(child);
      clearTimeout(killer);
    }
  };
  const endpoint = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the agent on ${options.host} did not start: ${stderr}`));
    }, 20_000);
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const match = /bench agent listening on ws:\/\/(\S+)/.exec(stdout);
      if (match !== null) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the agent on ${options.host} exited (${code}): ${stderr}`));
    });
  });
  return { endpoint, child, stderr: () => stderr, stop };
}

/** Three agents on 127.0.0.1, 127.0.0.2 and 127.0.0.3 (the second one's clock shifted when asked). */
export async function startThreeAgents(token: string, secondClockOffsetMs?: number): Promise<AgentProcess[]> {
  return Promise.all(
    ['127.0.0.1', '127.0.0.2', '127.0.0.3'].map((host, i) =>
      startAgent({
        host,
        token,
        ...(i === 1 && secondClockOffsetMs !== undefined ? { clockOffsetMs: secondClockOffsetMs } : {}),
      }),
    ),
  );
}
