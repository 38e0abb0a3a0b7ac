import { z } from 'zod';

/**
 * The shape of `starling.yaml`. Every object is strict: an unknown key is an error naming it, so a
 * typo never silently falls back to a default.
 */

const port = z.number().int().min(0).max(65_535);
const positiveInt = z.number().int().min(0);

const common = {
  name: z.string().min(1).optional(),
  allowAnonymous: z.boolean().optional(),
  maxConnections: positiveInt.optional(),
  /** CONNECTs per second; fractions allowed (0.5: one every two seconds). */
  connectionRate: z.number().min(0).optional(),
};

const network = {
  ...common,
  host: z.string().min(1).optional(),
  port,
};

/** TLS files are paths; relative ones are resolved against the config file's directory. */
const tlsFiles = {
  certFile: z.string().min(1),
  keyFile: z.string().min(1),
  caFile: z.string().min(1).optional(),
  clientCertificates: z.enum(['none', 'optional', 'required']).optional(),
  minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).optional(),
};

const websocket = {
  path: z.string().startsWith('/').optional(),
  trustForwardedFor: z.boolean().optional(),
};

export const listenerFileSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('tcp'), ...network, proxyProtocol: z.boolean().optional() }),
  z.strictObject({ type: z.literal('tls'), ...network, ...tlsFiles }),
  z.strictObject({ type: z.literal('ws'), ...network, ...websocket }),
  z.strictObject({ type: z.literal('wss'), ...network, ...websocket, ...tlsFiles }),
  z.strictObject({ type: z.literal('unix'), ...common, path: z.string().min(1) }),
  z.strictObject({ type: z.literal('http'), ...network, websocket: z.strictObject(websocket).optional() }),
]);
export type ListenerFileConfig = z.infer<typeof listenerFileSchema>;

export const limitsSchema = z.strictObject({
  /** Clients connected at once over all listeners (0: no limit). */
  maxConnections: positiveInt.optional(),
  maxPacketSize: z.number().int().min(16).max(268_435_460).optional(),
  /** Levels a topic or filter may have (default 200; 0: no limit). */
  maxTopicLevels: z.number().int().min(0).max(65_535).optional(),
  /** Subscriptions one client session may hold (0: no limit, the default). */
  maxSubscriptions: positiveInt.optional(),
  maxQueuedMessages: positiveInt.optional(),
  maxQueuedBytes: positiveInt.optional(),
  receiveMaximum: z.number().int().min(1).max(65_535).optional(),
  connectTimeoutMs: z.number().int().min(1).optional(),
  maxSessionExpiry: positiveInt.optional(),
  /** PUBLISH packets per second per client (0: no limit). */
  publishRate: positiveInt.optional(),
  /** Beyond the rate: `disconnect` (v5 DISCONNECT 0x96) or `throttle` (stop reading the client for a while). */
  publishRateAction: z.enum(['disconnect', 'throttle']).optional(),
  /** Seconds of keep alive the server imposes on v5 clients (CONNACK Server Keep Alive). Default: the client's. */
  serverKeepAlive: z.number().int().min(0).max(65_535).optional(),
  /** What slow readers may hold in all, in bytes or as a size string (`256MiB`). */
  maxMemory: z.union([z.number().int().min(1_048_576), z.string().min(1)]).optional(),
});
export type LimitsConfig = z.infer<typeof limitsSchema>;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** How the broker writes its log to stderr: lines for people, or JSON lines for log collectors. */
export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export const loggingSchema = z.strictObject({
  level: z.enum(LOG_LEVELS).optional(),
  /** Default: text when stderr is a terminal, json otherwise. */
  format: z.enum(LOG_FORMATS).optional(),
});

export const authSchema = z.strictObject({
  /** Let clients in without a username on listeners that do not say otherwise. Default false. */
  anonymous: z.boolean().optional(),
  /** Users with `$scrypt$...` hashes made by `starling passwd`. */
  users: z
    .array(
      z.strictObject({
        username: z.string().min(1),
        password: z.string().startsWith('$scrypt$', 'a hash made by `starling passwd`'),
        clientId: z.string().min(1).optional(),
        remoteAddress: z.string().min(1).optional(),
      }),
    )
    .optional(),
  /** ACL rules, first match wins; `%u` and `%c` stand for the username and client id. */
  acl: z
    .array(
      z.strictObject({
        filter: z.string().min(1),
        access: z.enum(['read', 'write', 'readwrite', 'deny']),
        username: z.string().min(1).optional(),
      }),
    )
    .optional(),
  /** A separate ledger file (YAML or JSON: users, acl, anonymous), re-read on SIGHUP. */
  file: z.string().min(1).optional(),
});
export type AuthConfig = z.infer<typeof authSchema>;

/** Who may use the web dashboard and the admin REST API on the HTTP listener. */
export const adminSchema = z.strictObject({
  /** Users with `$scrypt$...` hashes made by `starling passwd`; none: loopback callers only, no login. */
  users: z
    .array(
      z.strictObject({
        username: z.string().min(1),
        password: z.string().startsWith('$scrypt$', 'a hash made by `starling passwd`'),
        role: z.enum(['admin', 'read-only']),
      }),
    )
    .refine(
      (users) => new Set(users.map((u) => u.username)).size === users.length,
      'a username is listed twice',
    )
    .optional(),
});
export type AdminConfig = z.infer<typeof adminSchema>;

/** Where sessions, subscriptions, queued and in-flight messages and retained messages are kept. */
export const persistenceSchema = z.strictObject({
  /** `sqlite` (default): a database in `dir`; `memory`: nothing survives a restart. */
  type: z.enum(['sqlite', 'memory']).optional(),
  /** Data directory (relative to the config file). Default `./data`. */
  dir: z.string().min(1).optional(),
  /** `process` (default): survives a crash of the process; `power`: survives power loss too. */
  durability: z.enum(['process', 'power']).optional(),
  /** Largest database size in bytes; beyond it QoS 1/2 publishes are refused as on a full disk. */
  maxBytes: z.number().int().min(65_536).optional(),
  /**
   * Free space the data directory's disk keeps (bytes or a size like 64MiB): below it QoS 1/2 publishes are
   * refused until there is a quarter more (at most 16 MiB). Default 64MiB; 0: never.
   */
  minFreeDisk: z.union([z.literal(0), z.number().int().min(1_048_576), z.string().min(1)]).optional(),
});
export type PersistenceConfig = z.infer<typeof persistenceSchema>;

/** Switches that trade a strict or informative answer for what some peers expect. */
export const compatibilitySchema = z.strictObject({
  /** v5 SUBACK says 0x80 Unspecified Error where it would say 0x87 Not Authorized (Paho interop suite). */
  unspecifiedSubscribeError: z.boolean().optional(),
});
export type CompatibilityConfig = z.infer<typeof compatibilitySchema>;

/** The cluster this broker is a node of (Redis), and how many worker processes run as nodes. */
export const clusterSchema = z.strictObject({
  url: z.string().regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL'),
  nodeId: z.string().min(1).optional(),
  /** Prefix of every Redis key and channel, so clusters can share a Redis. Default `starling:`. */
  keyPrefix: z.string().optional(),
  heartbeatMs: z.number().int().min(10).optional(),
  /** A node silent this long (ms) is dead; its sessions are taken over. Must exceed heartbeatMs. */
  nodeTimeoutMs: z.number().int().min(20).optional(),
  /** Where the node's direct link listens (`host`, `host:port`), or false: cross-node messages via Redis only. */
  link: z.union([z.string().min(1), z.literal(false)]).optional(),
  /**
   * Mutual TLS on the direct links: this node's certificate and key (PEM, as server and as client) and the CA
   * that signs every node's; paths relative to the config file. All three, or the flags that complete them.
   */
  linkTls: z
    .strictObject({
      cert: z.string().min(1).optional(),
      key: z.string().min(1).optional(),
      ca: z.string().min(1).optional(),
    })
    .optional(),
  workers: z.union([z.number().int().min(1).max(1024), z.literal('auto')]).optional(),
});
export type ClusterFileConfig = z.infer<typeof clusterSchema>;

export const configFileSchema = z.strictObject({
  listeners: z.array(listenerFileSchema).optional(),
  limits: limitsSchema.optional(),
  auth: authSchema.optional(),
  admin: adminSchema.optional(),
  persistence: persistenceSchema.optional(),
  cluster: clusterSchema.optional(),
  logging: loggingSchema.optional(),
  compatibility: compatibilitySchema.optional(),
  /** Milliseconds shutdown may take before remaining connections are dropped. */
  shutdownTimeoutMs: z.number().int().min(0).optional(),
});
export type ConfigFile = z.infer<typeof configFileSchema>;

/** Turn zod issues into lines that name the key, and what was expected there. */
export function describeIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    const at = formatPath(issue.path);
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.map((k) => (at === '' ? k : `${at}.${k}`));
      return `unknown key${keys.length > 1 ? 's' : ''} ${keys.map((k) => `'${k}'`).join(', ')}`;
    }
    return `${at === '' ? '(top level)' : `'${at}'`}: ${issue.message.replace(/^Invalid input: /, '')}`;
  });
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}
