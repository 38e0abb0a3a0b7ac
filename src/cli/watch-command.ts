import { type ParseArgsConfig, parseArgs } from 'node:util';
import { type BrokerWatch, renderWatchLine, renderWatchScreen, watchBroker } from '../bench/watch.js';
import type { ClientOptions } from '../client/types.js';
import { UsageError } from './usage-error.js';

const HELP = `Usage: starling watch [options]

Subscribes to $SYS/# and shows the broker's clients, message rates and drops (Mosquitto, EMQX and
Starling topic names). On a terminal the view is redrawn in place; otherwise one line per interval.

Options:
  -h, --host HOST       broker host (default localhost)
  -p, --port PORT       broker port (default 1883)
      --url URL         broker URL instead of host and port (mqtt, mqtts, ws, wss)
  -u, --username USER   user name
  -P, --password PASS   password
  -V, --protocol V      MQTT version: 31, 311 or 5 (default 311)
      --interval S      seconds between screens (default 1)
      --duration S      stop after S seconds (default: until Ctrl-C)
      --once            print one screen, once rates are known (at most 15 s), and exit
      --help            show this help
`;

const OPTIONS = {
  host: { type: 'string', short: 'h' },
  port: { type: 'string', short: 'p' },
  url: { type: 'string' },
  username: { type: 'string', short: 'u' },
  password: { type: 'string', short: 'P' },
  protocol: { type: 'string', short: 'V' },
  interval: { type: 'string' },
  duration: { type: 'string' },
  once: { type: 'boolean' },
  help: { type: 'boolean' },
} as const satisfies ParseArgsConfig['options'];

/** How long `--once` waits for two live `$SYS` updates before printing what it has. */
const ONCE_LIMIT_MS = 15_000;

/** Where the command writes; the process streams by default, replaceable in tests. */
export interface WatchCommandIo {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream;
  /** Aborting ends the watch as Ctrl-C does (exit 0). */
  readonly signal?: AbortSignal;
}

function seconds(name: string, text: string | undefined, fallback: number | undefined): number | undefined {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!(Number.isFinite(value) && value > 0 && value <= 7 * 24 * 3600)) {
    throw new UsageError(`--${name} must be a number of seconds > 0, got '${text}'`);
  }
  return value;
}

/** `-V` as the bench commands take it: 31/3, 311/4, 5. */
export function parseProtocolFlag(text: string | undefined): 3 | 4 | 5 {
  switch (text) {
    case undefined:
    case '311':
    case '4':
      return 4;
    case '31':
    case '3':
      return 3;
    case '5':
      return 5;
    default:
      throw new UsageError(`-V must be 31, 311 or 5, got '${text}'`);
  }
}

function brokerUrl(values: { host?: string; port?: string; url?: string }): string {
  if (values.url !== undefined) {
    if (values.host !== undefined || values.port !== undefined) {
      throw new UsageError('give either --url or -h/-p, not both');
    }
    return values.url;
  }
  const port = values.port ?? '1883';
  if (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65_535) {
    throw new UsageError(`-p must be a port number, got '${port}'`);
  }
  const host = values.host ?? 'localhost';
  return `mqtt://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Sleeps `ms`, or less when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** `starling watch`: returns the exit code (0 on Ctrl-C, --once or --duration; 1 when the broker is unreachable). */
export async function runWatchCommand(
  argv: readonly string[],
  io: WatchCommandIo = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  let values: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; args: string[] }>>['values'];
  try {
    values = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: false, strict: true }).values;
  } catch (err) {
    throw new UsageError(`watch: ${(err as Error).message}`);
  }
  if (values.help === true) {
    io.stdout.write(HELP);
    return 0;
  }
  const url = brokerUrl(values);
  const intervalMs = (seconds('interval', values.interval, 1) ?? 1) * 1000;
  const durationS = seconds('duration', values.duration, undefined);
  const clientOptions: ClientOptions = {
    protocolVersion: parseProtocolFlag(values.protocol),
    ...(values.username === undefined ? {} : { username: values.username }),
    ...(values.password === undefined ? {} : { password: values.password }),
  };

  const stop = new AbortController();
  const onSigint = (): void => stop.abort();
  process.once('SIGINT', onSigint);
  io.signal?.addEventListener('abort', onSigint, { once: true });
  const timer = durationS === undefined ? undefined : setTimeout(onSigint, durationS * 1000);
  let watch: BrokerWatch | undefined;
  try {
    try {
      watch = await watchBroker(url, clientOptions);
    } catch (err) {
      io.stderr.write(`starling watch: cannot watch ${url}: ${(err as Error).message}\n`);
      return 1;
    }
    if (values.once === true) {
      await waitForRates(watch, stop.signal);
      io.stdout.write(renderWatchScreen(watch.model(), { url }));
      return 0;
    }
    const tty = io.stdout.isTTY === true;
    // Bounded by --duration when given; otherwise it runs until Ctrl-C, as a monitor should.
    while (!stop.signal.aborted) {
      const model = watch.model();
      if (tty) io.stdout.write(`\x1b[H\x1b[2J${renderWatchScreen(model, { url })}`);
      else io.stdout.write(renderWatchLine(model));
      await sleep(intervalMs, stop.signal);
    }
    return 0;
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    process.removeListener('SIGINT', onSigint);
    io.signal?.removeEventListener('abort', onSigint);
    await watch?.close().catch(() => undefined);
  }
}

/** Waits until the message rates are known (two live `$SYS` values), at most {@link ONCE_LIMIT_MS}. */
async function waitForRates(watch: BrokerWatch, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + ONCE_LIMIT_MS;
  while (Date.now() < deadline && !signal.aborted) {
    const { rates } = watch.model();
    if (rates.messagesReceived !== undefined || rates.packetsReceived !== undefined) return;
    await sleep(100, signal);
  }
}
