/**
 * The settings a flag or a `STARLING_*` environment variable may give: their table, the help text, and
 * reading them from the command line and the environment, each value checked and named when wrong.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from './schema.js';

/** A configuration that cannot be used: bad flag, bad environment variable, bad or unreadable file. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** `bytes`: a size of at least 1 MiB; `floor`: the same, or 0 (off). */
type SettingKind = 'string' | 'port' | 'int' | 'level' | 'format' | 'boolean' | 'bool' | 'bytes' | 'floor';

/** Settings a flag or a `STARLING_*` variable may give; the env name is the flag in upper snake case. */
const SETTINGS = {
  config: { flag: 'config', kind: 'string', arg: 'FILE', help: 'YAML configuration file' },
  host: { flag: 'host', kind: 'string', arg: 'ADDR', help: 'address to listen on (default 0.0.0.0)' },
  port: { flag: 'port', kind: 'port', arg: 'N', help: 'MQTT over TCP port (default 1883)' },
  tlsPort: { flag: 'tls-port', kind: 'port', arg: 'N', help: 'MQTT over TLS port (needs --cert, --key)' },
  cert: { flag: 'cert', kind: 'string', arg: 'FILE', help: 'PEM certificate chain for TLS and WSS' },
  key: { flag: 'key', kind: 'string', arg: 'FILE', help: 'PEM private key for TLS and WSS' },
  ca: {
    flag: 'ca',
    kind: 'string',
    arg: 'FILE',
    help: 'PEM CA for client certificates (asked, not required)',
  },
  wsPort: { flag: 'ws-port', kind: 'port', arg: 'N', help: 'MQTT over WebSocket port' },
  wsPath: { flag: 'ws-path', kind: 'string', arg: 'PATH', help: 'WebSocket path (default /mqtt)' },
  wssPort: {
    flag: 'wss-port',
    kind: 'port',
    arg: 'N',
    help: 'MQTT over secure WebSocket port (needs --cert, --key)',
  },
  httpPort: { flag: 'http-port', kind: 'port', arg: 'N', help: '/healthz, /metrics, /api/v1/stats' },
  unix: { flag: 'unix', kind: 'string', arg: 'PATH', help: 'MQTT over a Unix domain socket' },
  maxPacketSize: { flag: 'max-packet-size', kind: 'int', arg: 'N', help: 'largest packet accepted, bytes' },
  maxQueuedMessages: {
    flag: 'max-queued-messages',
    kind: 'int',
    arg: 'N',
    help: 'per-session queue limit (default 1000)',
  },
  publishRate: {
    flag: 'publish-rate',
    kind: 'int',
    arg: 'N',
    help: 'PUBLISH per second per client (0: no limit)',
  },
  maxMemory: {
    flag: 'max-memory',
    kind: 'bytes',
    arg: 'BYTES',
    help: 'what slow readers may hold in all (e.g. 256MiB; default 1/64 of RAM, 32-64 MiB)',
  },
  maxConnections: {
    flag: 'max-connections',
    kind: 'int',
    arg: 'N',
    help: 'clients connected at once (0: no limit)',
  },
  maxTopicLevels: {
    flag: 'max-topic-levels',
    kind: 'int',
    arg: 'N',
    help: 'levels a topic or filter may have (default 200; 0: no limit)',
  },
  maxSubscriptions: {
    flag: 'max-subscriptions',
    kind: 'int',
    arg: 'N',
    help: 'subscriptions one client session may hold (0: no limit, the default)',
  },
  connectTimeoutMs: {
    flag: 'connect-timeout-ms',
    kind: 'int',
    arg: 'N',
    help: 'ms to wait for CONNECT (default 10000)',
  },
  maxQueuedBytes: {
    flag: 'max-queued-bytes',
    kind: 'int',
    arg: 'N',
    help: 'per-session queue limit in payload bytes (0: none)',
  },
  receiveMaximum: {
    flag: 'receive-maximum',
    kind: 'int',
    arg: 'N',
    help: 'QoS 1/2 PUBLISH a client may have unacknowledged (default 1024)',
  },
  maxSessionExpiry: {
    flag: 'max-session-expiry',
    kind: 'int',
    arg: 'S',
    help: 'cap on the session expiry interval clients ask for, seconds',
  },
  publishRateAction: {
    flag: 'publish-rate-action',
    kind: 'string',
    arg: 'ACTION',
    help: 'beyond --publish-rate: disconnect (v5 0x96) or throttle',
  },
  serverKeepAlive: {
    flag: 'server-keep-alive',
    kind: 'int',
    arg: 'S',
    help: 'keep alive imposed on v5 clients, seconds (CONNACK Server Keep Alive)',
  },
  compatUnspecifiedSubscribeError: {
    flag: 'compat-unspecified-subscribe-error',
    kind: 'bool',
    arg: 'BOOL',
    help: 'v5 SUBACK 0x80 instead of 0x87 Not Authorized (true|false)',
  },
  shutdownTimeoutMs: {
    flag: 'shutdown-timeout-ms',
    kind: 'int',
    arg: 'N',
    help: 'ms shutdown may take before sockets are dropped (default 10000)',
  },
  data: {
    flag: 'data',
    kind: 'string',
    arg: 'DIR',
    help: 'keep sessions and retained messages in DIR (SQLite; default ./data)',
  },
  memory: {
    flag: 'memory',
    kind: 'boolean',
    arg: '',
    help: 'keep everything in memory: nothing survives a restart',
  },
  durability: {
    flag: 'durability',
    kind: 'string',
    arg: 'LEVEL',
    help: 'process (default: survives kill -9) or power (fsync per commit)',
  },
  minFreeDisk: {
    flag: 'min-free-disk',
    kind: 'floor',
    arg: 'BYTES',
    help: 'refuse QoS 1/2 publishes while the data disk has less free (default 64MiB; 0: never)',
  },
  authFile: {
    flag: 'auth-file',
    kind: 'string',
    arg: 'FILE',
    help: 'users and ACL ledger (YAML/JSON), re-read on SIGHUP',
  },
  cluster: {
    flag: 'cluster',
    kind: 'string',
    arg: 'URL',
    help: 'be a node of the cluster on this Redis (redis://HOST:PORT)',
  },
  nodeId: {
    flag: 'node-id',
    kind: 'string',
    arg: 'ID',
    help: "this node's id in the cluster (default random)",
  },
  clusterLink: {
    flag: 'cluster-link',
    kind: 'string',
    arg: 'HOST[:PORT]|off',
    help: "where this node's direct link to the other nodes listens (default 127.0.0.1, a free port)",
  },
  clusterLinkCert: {
    flag: 'cluster-link-cert',
    kind: 'string',
    arg: 'FILE',
    help: "PEM certificate of this node's links: TLS on them (needs --cluster-link-key, --cluster-link-ca)",
  },
  clusterLinkKey: {
    flag: 'cluster-link-key',
    kind: 'string',
    arg: 'FILE',
    help: 'PEM private key of that certificate',
  },
  clusterLinkCa: {
    flag: 'cluster-link-ca',
    kind: 'string',
    arg: 'FILE',
    help: "PEM CA that signs every node's link certificate (peers without one are refused)",
  },
  workers: {
    flag: 'workers',
    kind: 'string',
    arg: 'N|auto',
    help: 'N broker processes on the same ports, each a cluster node (needs --cluster)',
  },
  logLevel: {
    flag: 'log-level',
    kind: 'level',
    arg: 'LEVEL',
    help: 'fatal|error|warn|info|debug|trace|silent (default info)',
  },
  logFormat: {
    flag: 'log-format',
    kind: 'format',
    arg: 'text|json',
    help: 'log lines for people, or JSON lines (default text on a terminal, json otherwise)',
  },
} as const satisfies Record<string, { flag: string; kind: SettingKind; arg: string; help: string }>;
export type SettingName = keyof typeof SETTINGS;
export type Overrides = {
  -readonly [K in SettingName]?: (typeof SETTINGS)[K]['kind'] extends 'string'
    ? string
    : (typeof SETTINGS)[K]['kind'] extends 'boolean' | 'bool'
      ? boolean
      : K extends 'logLevel'
        ? LogLevel
        : K extends 'logFormat'
          ? LogFormat
          : number;
};

/** The environment variable of a setting: `--max-packet-size` is `STARLING_MAX_PACKET_SIZE`. */
export function envName(flag: string): string {
  return `STARLING_${flag.toUpperCase().replaceAll('-', '_')}`;
}

/** Usage text for the flags, one line each, with the matching variable. */
export function optionsHelp(): string {
  const settings = Object.values(SETTINGS);
  const heads = settings.map((s) => `--${s.flag} ${s.arg}`.trimEnd());
  const width = Math.max(...heads.map((h) => h.length)) + 2;
  const lines = settings.map(
    (s, i) => `  ${(heads[i] as string).padEnd(width)}${s.help} [${envName(s.flag)}]`,
  );
  return `${lines.join('\n')}\n  ${'-h, --help'.padEnd(width)}show this help\n`;
}

export function readFlags(argv: readonly string[]): { flags: Overrides; help: boolean } {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const setting of Object.values(SETTINGS))
    options[setting.flag] = { type: setting.kind === 'boolean' ? 'boolean' : 'string' };
  (options.port as { short?: string }).short = 'p';
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], strict: true, allowPositionals: false, options }));
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const flags: Overrides = {};
  for (const [name, setting] of Object.entries(SETTINGS) as [SettingName, (typeof SETTINGS)[SettingName]][]) {
    const raw = values[setting.flag];
    if (typeof raw === 'string') setValue(flags, name, raw, `--${setting.flag}`);
    else if (raw === true) (flags as Record<string, boolean>)[name] = true;
  }
  return { flags, help: values.help === true };
}

export function readEnv(env: Readonly<Record<string, string | undefined>>): Overrides {
  const out: Overrides = {};
  for (const [name, setting] of Object.entries(SETTINGS) as [SettingName, (typeof SETTINGS)[SettingName]][]) {
    const raw = env[envName(setting.flag)];
    if (raw !== undefined && raw !== '') setValue(out, name, raw, envName(setting.flag));
  }
  return out;
}

function setValue(out: Overrides, name: SettingName, raw: string, source: string): void {
  const kind: SettingKind = SETTINGS[name].kind;
  const target = out as Record<string, string | number | boolean>;
  if (kind === 'string') {
    target[name] = raw;
  } else if (kind === 'boolean') {
    if (!/^(1|0|true|false|yes|no)$/i.test(raw))
      throw new ConfigError(`${source} must be true or false, got '${raw}'`);
    (out as Record<string, boolean>)[name] = /^(1|true|yes)$/i.test(raw);
  } else if (kind === 'bool') {
    if (raw !== 'true' && raw !== 'false')
      throw new ConfigError(`${source} must be true or false, got '${raw}'`);
    target[name] = raw === 'true';
  } else if (kind === 'bytes' || kind === 'floor') {
    target[name] = parseBytes(raw, source, kind === 'floor');
  } else if (kind === 'level') {
    if (!(LOG_LEVELS as readonly string[]).includes(raw)) {
      throw new ConfigError(`${source} must be one of ${LOG_LEVELS.join(', ')}, got '${raw}'`);
    }
    target[name] = raw;
  } else if (kind === 'format') {
    if (!(LOG_FORMATS as readonly string[]).includes(raw)) {
      throw new ConfigError(`${source} must be ${LOG_FORMATS.join(' or ')}, got '${raw}'`);
    }
    target[name] = raw;
  } else {
    if (!/^\d+$/.test(raw)) throw new ConfigError(`${source} must be an integer, got '${raw}'`);
    const n = Number(raw);
    const max = kind === 'port' ? 65_535 : Number.MAX_SAFE_INTEGER;
    if (n > max) throw new ConfigError(`${source} must be from 0 to ${max}, got ${n}`);
    target[name] = n;
  }
}

/** `268435456`, `256MiB`, `256M`, `1.5GiB`, `512k`: bytes (K, M, G are powers of 1024), at least 1 MiB or 0 when allowed. */
export function parseBytes(text: string, source: string, zeroAllowed = false): number {
  const match = /^(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?$/i.exec(text.trim());
  if (match === null)
    throw new ConfigError(`${source} must be a size like 268435456 or 256MiB, got '${text}'`);
  const unit = (match[2] ?? 'b').toLowerCase()[0] as 'b' | 'k' | 'm' | 'g';
  const bytes = Math.round(Number(match[1]) * { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[unit]);
  if (bytes === 0 && zeroAllowed) return 0;
  if (bytes < 1024 * 1024) throw new ConfigError(`${source} must be at least 1MiB, got '${text}'`);
  return bytes;
}

/** A PEM file's bytes (`path` relative to `base`); a ConfigError naming `what` and the path when it cannot be read. */
export function readPem(path: string, base: string, what: string): Buffer {
  try {
    return readFileSync(resolve(base, path));
  } catch (err) {
    throw new ConfigError(`${what}: cannot read ${resolve(base, path)}: ${(err as Error).message}`);
  }
}
