import { runBenchCommand } from './bench-command.js';
import { runBrokerCommand } from './broker-command.js';
import { runPasswdCommand } from './passwd-command.js';
import { runPubCommand } from './pub-command.js';
import { runSubCommand } from './sub-command.js';
import { UsageError } from './usage-error.js';
import { VERSION } from './version.js';
import { runWatchCommand } from './watch-command.js';

const HELP = `starling ${VERSION}: MQTT broker, client and load-testing toolkit

Usage: starling <command> [options]

Commands:
  broker        run the MQTT broker (3.1, 3.1.1, 5.0) on TCP        starling broker --help
  passwd        hash a password for the auth ledger                 starling passwd --help
  bench         load toolkit: publish, subscribe, keepalive, stress, compare  starling bench --help
  pub           publish messages, flags of mosquitto_pub            starling pub --help
  sub           subscribe and print messages, flags of mosquitto_sub  starling sub --help
  watch         live view of a broker's $SYS rates, clients, drops   starling watch --help

Options:
  -h, --help     show this help
  -v, --version  print the version
`;

/** The CLI entry: returns the process exit code. */
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
        return await runBrokerCommand(rest);
      case 'passwd':
        return await runPasswdCommand(rest);
      case 'bench':
        return await runBenchCommand(rest);
      case 'pub':
        return await runPubCommand(rest);
      case 'sub':
        return await runSubCommand(rest);
      case 'watch':
        return await runWatchCommand(rest);
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
