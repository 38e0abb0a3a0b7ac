/**
 * `starling bench agent`: a long-running load-generation agent that controllers drive with `--agents`.
 * A thin layer over {@link BenchAgent}: flags, the token from the environment, the listening line on
 * stdout (tests and scripts read the port from it), log lines on stderr, and a clean stop on SIGINT/SIGTERM.
 */
import { isIP } from 'node:net';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { BenchAgent } from '../bench/agent/agent-server.js';
import { STARLING_VERSION } from '../bench/agent/version.js';
import { setClockSkew } from '../bench/payload.js';
import { UsageError } from './usage-error.js';

/** Where an agent listens when --listen is not given: loopback only. */
export const DEFAULT_AGENT_LISTEN = '127.0.0.1:7883';

/** Environment variable holding the shared token (keeps it out of `ps`). */
export const AGENT_TOKEN_ENV = 'STARLING_AGENT_TOKEN';

const HELP = `Usage: starling bench agent [--listen HOST:PORT] [--token T] [options]

Runs a load-generation agent: bench commands given --agents HOST:PORT,... hand it its part of a run
(its own -P worker processes included), start every agent at one agreed instant and merge the results.
It serves one controller at a time and runs until interrupted.

Options:
  --listen HOST:PORT     address to listen on (default ${DEFAULT_AGENT_LISTEN}); port 0 picks a free one.
                         Without a token the agent listens on loopback only and serves loopback peers only.
  --token T              shared token controllers must present (or ${AGENT_TOKEN_ENV}); needed to listen on
                         any other address; at least 8 characters
  --source A[,A..]       local addresses the agent's keepalive connections bind, round-robin (more source
                         addresses, more local ports)
  --clock-offset-ms N    FOR TESTING ONLY: shifts this agent's bench clock by N ms, to check that the
                         controller finds the offset and removes it from cross-agent latency
  --quiet                no log lines on stderr
  -h, --help             show this help

Prints "bench agent listening on ws://HOST:PORT" on stdout once it listens.
`;

const OPTIONS = {
  listen: { type: 'string' },
  token: { type: 'string' },
  source: { type: 'string' },
  'clock-offset-ms': { type: 'string' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

/** `HOST:PORT` (IPv6 in brackets) as its parts. */
export function parseListen(text: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text.trim());
  const port = Number(match?.[3]);
  if (match === null || !(port >= 0 && port <= 65_535)) {
    throw new UsageError(`--listen must be HOST:PORT, got '${text}'`);
  }
  return { host: match[1] ?? match[2]!, port };
}

/** Where the command writes; the process streams by default, replaceable in tests. */
export interface BenchAgentIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  /** Aborting stops the agent as SIGINT does. */
  readonly signal?: AbortSignal;
}

/** `starling bench agent`: returns the exit code once the agent has stopped. */
export async function runBenchAgentCommand(
  argv: readonly string[],
  io: BenchAgentIo = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  let values: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; args: string[] }>>['values'];
  try {
    values = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: false, strict: true }).values;
  } catch (error) {
    throw new UsageError(`bench agent: ${(error as Error).message}`);
  }
  if (values.help === true) {
    io.stdout.write(HELP);
    return 0;
  }
  const { host, port } = parseListen(values.listen ?? DEFAULT_AGENT_LISTEN);
  const token = values.token ?? process.env[AGENT_TOKEN_ENV];
  const sourceAddresses = values.source?.split(',').map((address) => address.trim());
  for (const address of sourceAddresses ?? []) {
    if (isIP(address) === 0) throw new UsageError(`--source: '${address}' is not an IP address`);
  }
  if (values['clock-offset-ms'] !== undefined) {
    const skew = Number(values['clock-offset-ms']);
    if (!Number.isFinite(skew))
      throw new UsageError(`--clock-offset-ms must be a number, got '${values['clock-offset-ms']}'`);
    setClockSkew(skew);
  }
  const quiet = values.quiet === true;
  let agent: BenchAgent;
  try {
    agent = new BenchAgent({
      host,
      port,
      version: STARLING_VERSION,
      ...(token === undefined ? {} : { token }),
      ...(sourceAddresses === undefined ? {} : { sourceAddresses }),
      log: (line) => {
        if (!quiet) io.stderr.write(`${new Date().toISOString()} ${line}\n`);
      },
    });
  } catch (error) {
    io.stderr.write(`starling bench agent: ${(error as Error).message}\n`);
    return 2;
  }
  let address: { host: string; port: number };
  try {
    address = await agent.listen();
  } catch (error) {
    io.stderr.write(`starling bench agent: cannot listen on ${host}:${port}: ${(error as Error).message}\n`);
    return 1;
  }
  const shown = address.host.includes(':') ? `[${address.host}]` : address.host;
  io.stdout.write(`bench agent listening on ws://${shown}:${address.port}\n`);
  if (values['clock-offset-ms'] !== undefined && !quiet) {
    io.stderr.write(`testing: this agent's clock is shifted by ${values['clock-offset-ms']} ms\n`);
  }
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    io.signal?.addEventListener('abort', stop, { once: true });
  });
  await agent.close();
  return 0;
}
