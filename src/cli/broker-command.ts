import type { SessionStore } from '../broker/storage.js';
import { redactUrl } from '../cluster/redis-channels.js';
import { authFromConfig } from '../config/auth.js';
import {
  ConfigError,
  loadConfig,
  optionsHelp,
  type PersistenceSetting,
  type StarlingConfig,
} from '../config/load.js';
import { publishRateLimiter } from '../config/publish-rate.js';
import { Broker, type BrokerLogger, dashboardOf } from '../server/broker.js';
import { sqliteStorage } from '../storage/sqlite.js';
import {
  isWorker,
  leavePrimary,
  reportReady,
  runWorkers,
  WORKER_NODE_ID_ENV,
  WORKER_REPLACES_ENV,
  WORKER_TOKEN_ENV,
} from './broker-workers.js';
import { stderrLogger } from './log-output.js';
import { UsageError } from './usage-error.js';

const HELP = `Usage: starling broker [options]

Every option can also come from the environment variable in brackets or from the config file;
a flag beats the environment, which beats the file.

Options:
${optionsHelp()}`;

/** `starling broker`: run the broker until SIGINT/SIGTERM, then shut down cleanly (exit 0). */
export async function runBrokerCommand(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  let config: StarlingConfig;
  try {
    config = loadConfig({ argv, env });
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
  if (config.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const logger: BrokerLogger = stderrLogger(
    config.logLevel,
    config.logFormat ?? (process.stderr.isTTY ? 'text' : 'json'),
  );
  const workerNodeId = env[WORKER_NODE_ID_ENV];
  if (config.workers !== undefined && config.cluster !== undefined && !isWorker())
    return runWorkers(config.workers, config.cluster.nodeId, logger, config.shutdownTimeoutMs);
  const replaces = env[WORKER_REPLACES_ENV];
  const cluster =
    config.cluster === undefined || workerNodeId === undefined || !isWorker()
      ? config.cluster
      : {
          ...config.cluster,
          nodeId: workerNodeId,
          ...(env[WORKER_TOKEN_ENV] === undefined ? {} : { instanceToken: env[WORKER_TOKEN_ENV] }),
          ...(replaces === undefined ? {} : { replaces }),
        };
  let broker: Broker;
  try {
    broker = new Broker({
      ...config.broker,
      logger,
      listeners: config.listeners,
      dashboard: { users: config.admin.users ?? [] },
      trimHeapWhenIdle: true,
      ...storageFrom(config.persistence),
      ...(cluster === undefined ? {} : { cluster }),
    });
  } catch (err) {
    if (err instanceof RangeError) throw new UsageError(err.message);
    throw err;
  }
  // Signal handlers go in before anything is announced, so a signal right after the startup line is clean.
  const signalled = new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  let auth: Awaited<ReturnType<typeof authFromConfig>>;
  try {
    auth = await authFromConfig(config.auth, config.listeners);
  } catch (err) {
    throw new UsageError(`auth: ${(err as Error).message}`);
  }
  for (const hook of auth.hooks) await broker.addHook(hook);
  if (auth.warning !== undefined) logger.warn({}, auth.warning);
  const ledger = auth.ledger;
  if (ledger !== undefined) {
    // SIGHUP re-reads the users and ACL; connections stay, a broken file keeps the previous rules.
    process.on('SIGHUP', () => {
      ledger.reload(config.auth.file === undefined ? reloadAuthSection(config.configFile) : undefined).then(
        () => logger.info({ users: ledger.userCount }, 'auth reloaded'),
        (err: unknown) => logger.error({ err }, 'auth reload failed; previous rules kept'),
      );
    });
  }
  const configFile = config.configFile;
  if (configFile !== undefined) {
    // SIGHUP also re-reads the dashboard's admin users; a broken file keeps the previous ones.
    process.on('SIGHUP', () => {
      try {
        const users = loadConfig({ argv: ['--config', configFile], env: {} }).admin.users ?? [];
        dashboardOf(broker)?.setUsers(users);
        logger.info({ users: users.length }, 'admin users reloaded');
      } catch (err) {
        logger.error({ err }, 'admin users reload failed; previous users kept');
      }
    });
  }
  if (config.publishRate !== undefined) await broker.addHook(publishRateLimiter(config.publishRate));
  if (config.configFile !== undefined) logger.info({ file: config.configFile }, 'configuration loaded');
  const persistence = config.persistence;
  if (cluster !== undefined)
    logger.info(
      { cluster: redactUrl(cluster.url), node: cluster.nodeId },
      'state kept in the cluster (Redis): sessions and retained messages are cluster-wide',
    );
  else if (persistence.type === 'sqlite')
    logger.info(
      { dir: persistence.dir, durability: persistence.durability, minFreeDisk: persistence.minFreeDisk },
      `state kept in ${persistence.dir} (SQLite, durability ${persistence.durability})`,
    );
  else
    logger.warn(
      {},
      'state kept in memory only (--memory): sessions and retained messages do not survive a restart',
    );
  try {
    await broker.start();
  } catch (err) {
    logger.error({ err }, 'cannot start');
    process.stderr.write(`starling broker: cannot start: ${(err as Error).message}\n`);
    await broker.close().catch(() => undefined);
    leavePrimary();
    return 1;
  }
  reportReady();
  const signal = await signalled;
  logger.info({ signal, timeoutMs: config.shutdownTimeoutMs }, 'shutting down');
  await broker.close({ timeoutMs: config.shutdownTimeoutMs });
  logger.info({}, 'stopped');
  // A worker's channel to its primary would keep the process alive.
  leavePrimary();
  return 0;
}

/** The store of the `persistence` setting (none: memory only). */
function storageFrom(persistence: PersistenceSetting): { storage?: SessionStore } {
  if (persistence.type === 'memory') return {};
  return {
    storage: sqliteStorage(persistence.dir, {
      durability: persistence.durability,
      minFreeBytes: persistence.minFreeDisk,
      ...(persistence.maxBytes === undefined ? {} : { maxBytes: persistence.maxBytes }),
    }),
  };
}

/** The `auth` section of the config file, re-read for SIGHUP (the ledger validates it). */
function reloadAuthSection(configFile: string | undefined): unknown {
  if (configFile === undefined) return { users: [], acl: [], anonymous: false };
  const section = loadConfig({ argv: ['--config', configFile], env: {} }).auth;
  return { users: section.users ?? [], acl: section.acl ?? [], anonymous: false };
}
