import { parseArgs } from 'node:util';
import { Broker, type BrokerLogger } from '../broker/broker.js';
import { intFlag, UsageError } from './usage-error.js';

const HELP = `Usage: starling broker [options]

Options:
  --host ADDR                 address to listen on                 (default 0.0.0.0)
  -p, --port N                TCP port                             (default 1883)
  --max-packet-size N         largest packet accepted, bytes       (default 268435460)
  --max-queued-messages N     per-session queue limit              (default 1000)
  --log-level LEVEL           error | warn | info | debug          (default info)
  -h, --help                  show this help
`;

const LEVELS = ['error', 'warn', 'info', 'debug'] as const;
type Level = (typeof LEVELS)[number];

/** `starling broker`: run the broker until SIGINT/SIGTERM, then shut down cleanly. */
export async function runBrokerCommand(argv: readonly string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        host: { type: 'string' },
        port: { type: 'string', short: 'p' },
        'max-packet-size': { type: 'string' },
        'max-queued-messages': { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help === true) {
    process.stdout.write(HELP);
    return 0;
  }
  const level = (values['log-level'] as string | undefined) ?? 'info';
  if (!LEVELS.includes(level as Level)) {
    throw new UsageError(`--log-level must be one of ${LEVELS.join(', ')}, got '${level}'`);
  }
  const port = intFlag('port', values.port as string | undefined, 0, 65_535) ?? 1883;
  const host = (values.host as string | undefined) ?? '0.0.0.0';
  const maximumPacketSize = intFlag('max-packet-size', values['max-packet-size'] as string | undefined, 16, 268_435_460);
  const maxQueuedMessages = intFlag('max-queued-messages', values['max-queued-messages'] as string | undefined, 0, 1e9);
  const logger = consoleLogger(level as Level);
  const broker = new Broker({
    logger,
    ...(maximumPacketSize === undefined ? {} : { maximumPacketSize }),
    ...(maxQueuedMessages === undefined ? {} : { maxQueuedMessages }),
  });
  let address: { address: string; port: number };
  try {
    address = await broker.listen({ host, port });
  } catch (err) {
    process.stderr.write(`starling broker: cannot listen on ${host}:${port}: ${(err as Error).message}\n`);
    return 1;
  }
  logger.info({ listener: 'tcp', address: address.address, port: address.port }, `listening on mqtt://${address.address}:${address.port}`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      logger.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  await broker.close();
  logger.info({}, 'stopped');
  return 0;
}

/** A small line logger for the CLI: `time level message {fields}` on stderr. */
function consoleLogger(level: Level): BrokerLogger {
  const rank = LEVELS.indexOf(level);
  const line = (at: Level) => (obj: object, msg?: string) => {
    if (LEVELS.indexOf(at) > rank) return;
    const fields = Object.keys(obj).length > 0 ? ` ${JSON.stringify(obj, errorReplacer)}` : '';
    process.stderr.write(`${new Date().toISOString()} ${at.toUpperCase()} ${msg ?? ''}${fields}\n`);
  };
  return { error: line('error'), warn: line('warn'), info: line('info'), debug: line('debug') };
}

function errorReplacer(_key: string, value: unknown): unknown {
  return value instanceof Error ? { message: value.message, name: value.name } : value;
}
