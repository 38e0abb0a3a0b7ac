import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { BrokerOptions } from '../broker/options.js';
import type { RedisClusterOptions } from '../cluster/redis-options.js';
import type { ListenerConfig } from '../listeners/listener.js';
import { DEFAULT_MIN_FREE_BYTES } from '../storage/disk-watch.js';
import { clusterFrom } from './cluster.js';
import type { PublishRateLimit } from './publish-rate.js';
import {
  type AdminConfig,
  type AuthConfig,
  type CompatibilityConfig,
  type ConfigFile,
  configFileSchema,
  describeIssues,
  type LimitsConfig,
  type ListenerFileConfig,
  type LogFormat,
  type LogLevel,
  type PersistenceConfig,
} from './schema.js';
import { ConfigError, type Overrides, parseBytes, readEnv, readFlags, readPem } from './settings.js';

export type { LogFormat } from './schema.js';
export { ConfigError, envName, optionsHelp, parseBytes } from './settings.js';

/** Everything `starling broker` needs to run, merged from flags, environment, file and defaults. */
export interface StarlingConfig {
  readonly listeners: ListenerConfig[];
  readonly broker: BrokerOptions;
  readonly logLevel: LogLevel;
  /** How the log is written; undefined: text when stderr is a terminal, json otherwise. */
  readonly logFormat: LogFormat | undefined;
  readonly auth: AuthConfig;
  /** Where state is kept: a SQLite data directory, or memory only. */
  readonly persistence: PersistenceSetting;
  /** Dashboard and admin API users (the file's `admin` section). */
  readonly admin: AdminConfig;
  /** Per-client publish rate limit, when configured. */
  readonly publishRate: PublishRateLimit | undefined;
  /** Milliseconds graceful shutdown may take before remaining sockets are destroyed. */
  readonly shutdownTimeoutMs: number;
  /** The cluster this broker is a node of (`--cluster`, `cluster:`), if any. */
  readonly cluster: RedisClusterOptions | undefined;
  /** `--workers N`: broker processes to run as nodes of the cluster (needs `cluster`). */
  readonly workers: number | undefined;
  /** The config file read, if any. */
  readonly configFile: string | undefined;
  /** `--help` was given: print usage and do nothing else. */
  readonly help: boolean;
}

/** The store `starling broker` runs with. */
export type PersistenceSetting =
  | { readonly type: 'memory' }
  | {
      readonly type: 'sqlite';
      readonly dir: string;
      readonly durability: 'process' | 'power';
      readonly maxBytes: number | undefined;
      /** Free disk space below which QoS 1/2 publishes are refused (0: never). */
      readonly minFreeDisk: number;
    };

/** The data directory when nothing says otherwise. */
export const DEFAULT_DATA_DIR = 'data';

export interface LoadConfigInput {
  readonly argv: readonly string[];
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Directory relative flag paths are resolved against. Default `process.cwd()`. */
  readonly cwd?: string;
}

export const DEFAULT_MQTT_PORT = 1883;
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;

/**
 * Merge the configuration: flag > `STARLING_*` environment variable > config file > default.
 * Throws ConfigError with a message naming the flag, variable or file key at fault.
 */
export function loadConfig(input: LoadConfigInput): StarlingConfig {
  const env = input.env ?? {};
  const cwd = input.cwd ?? process.cwd();
  const { flags, help } = readFlags(input.argv);
  const overrides: Overrides = { ...readEnv(env), ...flags };
  const configFile = overrides.config === undefined ? undefined : resolve(cwd, overrides.config);
  const file: ConfigFile = configFile === undefined ? {} : readConfigFile(configFile);
  const fileDir = configFile === undefined ? cwd : dirname(configFile);
  const listeners = (file.listeners ?? []).map((entry, i) =>
    fromFileListener(entry, fileDir, `${configFile}: listeners[${i}]`),
  );
  applyListenerOverrides(listeners, overrides, cwd);
  if (listeners.length === 0)
    listeners.push({ type: 'tcp', host: overrides.host ?? '0.0.0.0', port: DEFAULT_MQTT_PORT });
  const limits: LimitsConfig = { ...file.limits };
  if (overrides.maxPacketSize !== undefined) limits.maxPacketSize = overrides.maxPacketSize;
  if (overrides.maxQueuedMessages !== undefined) limits.maxQueuedMessages = overrides.maxQueuedMessages;
  if (overrides.maxConnections !== undefined) limits.maxConnections = overrides.maxConnections;
  if (overrides.maxTopicLevels !== undefined) limits.maxTopicLevels = overrides.maxTopicLevels;
  if (overrides.maxSubscriptions !== undefined) limits.maxSubscriptions = overrides.maxSubscriptions;
  if (overrides.connectTimeoutMs !== undefined) limits.connectTimeoutMs = overrides.connectTimeoutMs;
  if (overrides.publishRate !== undefined) limits.publishRate = overrides.publishRate;
  if (overrides.maxQueuedBytes !== undefined) limits.maxQueuedBytes = overrides.maxQueuedBytes;
  if (overrides.receiveMaximum !== undefined) {
    if (overrides.receiveMaximum < 1 || overrides.receiveMaximum > 65_535) {
      throw new ConfigError(`receive maximum must be from 1 to 65535, got ${overrides.receiveMaximum}`);
    }
    limits.receiveMaximum = overrides.receiveMaximum;
  }
  if (overrides.maxSessionExpiry !== undefined) limits.maxSessionExpiry = overrides.maxSessionExpiry;
  if (overrides.maxMemory !== undefined) limits.maxMemory = overrides.maxMemory;
  if (overrides.serverKeepAlive !== undefined) {
    if (overrides.serverKeepAlive > 65_535) {
      throw new ConfigError(`server keep alive must be from 0 to 65535, got ${overrides.serverKeepAlive}`);
    }
    limits.serverKeepAlive = overrides.serverKeepAlive;
  }
  const compatibility = { ...file.compatibility };
  if (overrides.compatUnspecifiedSubscribeError !== undefined) {
    compatibility.unspecifiedSubscribeError = overrides.compatUnspecifiedSubscribeError;
  }
  if (overrides.publishRateAction !== undefined) {
    const action = overrides.publishRateAction;
    if (action !== 'disconnect' && action !== 'throttle') {
      throw new ConfigError(`publish rate action must be disconnect or throttle, got '${action}'`);
    }
    limits.publishRateAction = action;
  }
  const fileAuth = file.auth ?? {};
  // A ledger file is found relative to the config file (like TLS files), or to the working directory from a flag.
  const authFile =
    overrides.authFile !== undefined
      ? resolve(cwd, overrides.authFile)
      : fileAuth.file === undefined
        ? undefined
        : resolve(fileDir, fileAuth.file);
  const clustering = clusterFrom(file.cluster, overrides, { cwd, fileDir, configFile });
  return {
    listeners,
    broker: brokerOptionsFrom(limits, compatibility),
    logLevel: overrides.logLevel ?? file.logging?.level ?? 'info',
    logFormat: overrides.logFormat ?? file.logging?.format,
    auth: authFile === undefined ? fileAuth : { ...fileAuth, file: authFile },
    admin: file.admin ?? {},
    persistence:
      clustering.cluster === undefined
        ? persistenceFrom(file.persistence ?? {}, overrides, cwd, fileDir)
        : clusterPersistence(file.persistence, overrides),
    publishRate:
      limits.publishRate === undefined || limits.publishRate === 0
        ? undefined
        : { perSecond: limits.publishRate, action: limits.publishRateAction ?? 'disconnect' },
    shutdownTimeoutMs: overrides.shutdownTimeoutMs ?? file.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS,
    ...clustering,
    configFile,
    help,
  };
}

function readConfigFile(path: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`${path}: not valid YAML: ${(err as Error).message}`);
  }
  const result = configFileSchema.safeParse(data ?? {});
  if (!result.success) {
    throw new ConfigError(
      `${path}: invalid configuration:\n  ${describeIssues(result.error.issues).join('\n  ')}`,
    );
  }
  return result.data;
}

/** A file listener entry as the broker takes it: TLS paths replaced by their contents. */
function fromFileListener(entry: ListenerFileConfig, base: string, where: string): ListenerConfig {
  if (entry.type !== 'tls' && entry.type !== 'wss') return entry;
  const { certFile, keyFile, caFile, ...rest } = entry;
  return {
    ...rest,
    cert: readPem(certFile, base, `${where}.certFile`),
    key: readPem(keyFile, base, `${where}.keyFile`),
    ...(caFile === undefined ? {} : { ca: readPem(caFile, base, `${where}.caFile`) }),
  };
}

/** Ports from flags or environment: set the port of the listener named after its kind, or add it. */
function applyListenerOverrides(listeners: ListenerConfig[], o: Overrides, cwd: string): void {
  const find = (name: string): ListenerConfig | undefined =>
    listeners.find((l) => (l.name ?? l.type) === name);
  const host = o.host;
  const tls = (flag: string) => {
    if (o.cert === undefined || o.key === undefined)
      throw new ConfigError(`--${flag} needs --cert and --key`);
    return {
      cert: readPem(o.cert, cwd, '--cert'),
      key: readPem(o.key, cwd, '--key'),
      ...(o.ca === undefined
        ? {}
        : { ca: readPem(o.ca, cwd, '--ca'), clientCertificates: 'optional' as const }),
    };
  };
  const upsert = (
    type: 'tcp' | 'tls' | 'ws' | 'wss' | 'http',
    port: number | undefined,
    create: () => ListenerConfig,
  ): void => {
    if (port === undefined) return;
    const existing = find(type);
    if (existing === undefined) listeners.push(create());
    else if (existing.type !== 'unix')
      Object.assign(existing, { port, ...(host === undefined ? {} : { host }) });
  };
  const at = { host: host ?? '0.0.0.0' };
  const wsPath = o.wsPath === undefined ? {} : { path: o.wsPath };
  upsert('tcp', o.port, () => ({ type: 'tcp', ...at, port: o.port as number }));
  upsert('tls', o.tlsPort, () => ({ type: 'tls', ...at, port: o.tlsPort as number, ...tls('tls-port') }));
  upsert('ws', o.wsPort, () => ({ type: 'ws', ...at, port: o.wsPort as number, ...wsPath }));
  upsert('wss', o.wssPort, () => ({
    type: 'wss',
    ...at,
    port: o.wssPort as number,
    ...wsPath,
    ...tls('wss-port'),
  }));
  upsert('http', o.httpPort, () => ({ type: 'http', ...at, port: o.httpPort as number }));
  if (o.unix !== undefined) {
    const existing = find('unix');
    if (existing?.type === 'unix') existing.path = o.unix;
    else listeners.push({ type: 'unix', path: resolve(cwd, o.unix) });
  }
}

/** A cluster keeps its state in Redis: no local store, and asking for one is an error. */
function clusterPersistence(file: PersistenceConfig | undefined, o: Overrides): PersistenceSetting {
  if (o.data !== undefined || file?.type === 'sqlite' || file?.dir !== undefined)
    throw new ConfigError(
      'a cluster keeps sessions and retained messages in Redis: --data (persistence) and --cluster exclude each other',
    );
  return { type: 'memory' };
}

function persistenceFrom(
  file: PersistenceConfig,
  o: Overrides,
  cwd: string,
  fileDir: string,
): PersistenceSetting {
  if (o.memory === true && o.data !== undefined)
    throw new ConfigError('--memory and --data exclude each other');
  if (o.durability !== undefined && o.durability !== 'process' && o.durability !== 'power') {
    throw new ConfigError(`durability must be process or power, got '${o.durability}'`);
  }
  const memory = o.memory === true || (o.data === undefined && file.type === 'memory');
  if (memory) return { type: 'memory' };
  const dir = o.data !== undefined ? resolve(cwd, o.data) : resolve(fileDir, file.dir ?? DEFAULT_DATA_DIR);
  return {
    type: 'sqlite',
    dir,
    durability: (o.durability as 'process' | 'power' | undefined) ?? file.durability ?? 'process',
    maxBytes: file.maxBytes,
    minFreeDisk: o.minFreeDisk ?? minFreeDiskFrom(file.minFreeDisk),
  };
}

function minFreeDiskFrom(value: number | string | undefined): number {
  if (value === undefined) return DEFAULT_MIN_FREE_BYTES;
  if (typeof value === 'number') return value;
  return parseBytes(value, 'persistence.minFreeDisk', true);
}

function brokerOptionsFrom(limits: LimitsConfig, compatibility: CompatibilityConfig): BrokerOptions {
  const options: BrokerOptions = {};
  if (limits.serverKeepAlive !== undefined) options.serverKeepAlive = limits.serverKeepAlive;
  if (limits.maxMemory !== undefined)
    options.maxMemory =
      typeof limits.maxMemory === 'number'
        ? limits.maxMemory
        : parseBytes(limits.maxMemory, 'limits.maxMemory');
  if (compatibility.unspecifiedSubscribeError !== undefined) {
    options.compatUnspecifiedSubscribeError = compatibility.unspecifiedSubscribeError;
  }
  if (limits.maxConnections !== undefined) options.maxConnections = limits.maxConnections;
  if (limits.maxTopicLevels !== undefined) options.maxTopicLevels = limits.maxTopicLevels;
  if (limits.maxSubscriptions !== undefined) options.maxSubscriptions = limits.maxSubscriptions;
  if (limits.maxPacketSize !== undefined) options.maximumPacketSize = limits.maxPacketSize;
  if (limits.maxQueuedMessages !== undefined) options.maxQueuedMessages = limits.maxQueuedMessages;
  if (limits.maxQueuedBytes !== undefined) options.maxQueuedBytes = limits.maxQueuedBytes;
  if (limits.receiveMaximum !== undefined) options.receiveMaximum = limits.receiveMaximum;
  if (limits.connectTimeoutMs !== undefined) options.connectTimeoutMs = limits.connectTimeoutMs;
  if (limits.maxSessionExpiry !== undefined) options.maximumSessionExpiryInterval = limits.maxSessionExpiry;
  return options;
}
