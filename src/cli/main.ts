import { VERSION } from '../server/version.js';
import { UsageError } from './usage-error.js';

const HELP = `starling ${VERSION}: MQTT broker, client and load-testing toolkit

Usage: starling <command> [options]

Commands (each has --help):
  broker    run the MQTT broker (3.1, 3.1.1, 5.0): TCP, TLS, WebSocket, Unix socket, HTTP metrics
  pub       publish messages, with the flags of mosquitto_pub
  sub       subscribe and print messages, with the flags of mosquitto_sub
  bench     load toolkit: publish, subscribe, keepalive, stress, compare, agent
  watch     live view of a broker's $SYS rates, clients and drops
  passwd    hash a password for the auth ledger

Options:
  -h, --help     show this help
  -v, --version  print the version
`;

/** The CLI entry: returns the process exit code. Each command's module is loaded only when it runs. */
export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(HELP);
        return 0;
      case '-v':
      case '--version':
        process.stdout.write(`${VERSION}\n`);
        return 0;
      case 'broker':
        return await (await import('./broker-command.js')).runBrokerCommand(rest);
      case 'passwd':
        return await (await import('./passwd-command.js')).runPasswdCommand(rest);
      case 'bench':
        return await (await import('./bench-command.js')).runBenchCommand(rest);
      case 'pub':
        return await (await import('./pub-command.js')).runPubCommand(rest);
      case 'sub':
        return await (await import('./sub-command.js')).runSubCommand(rest);
      case 'watch':
        return await (await import('./watch-command.js')).runWatchCommand(rest);
      default:
        throw new UsageError(`unknown command '${command}'`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`starling: ${err.message}\nRun 'starling --help' for usage.\n`);
      return 2;
    }
    throw err;
  }
}
