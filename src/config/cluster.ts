/** The cluster settings of `loadConfig`: the Redis URL, node id, workers, and the direct links (address, TLS). */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { type LinkTls, linkSockets } from '../cluster/link-sockets.js';
import { parseLinkAddress } from '../cluster/node-links.js';
import type { RedisClusterOptions } from '../cluster/redis-options.js';
import type { ClusterFileConfig } from './schema.js';
import { ConfigError, type Overrides, readPem } from './settings.js';

/** The cluster and worker settings: flag > environment > file; workers only with a cluster. */
export function clusterFrom(
  file: ClusterFileConfig | undefined,
  o: Overrides,
  paths: FilePaths,
): { cluster: RedisClusterOptions | undefined; workers: number | undefined } {
  const url = o.cluster ?? file?.url;
  const workersText = o.workers ?? (file?.workers === undefined ? undefined : String(file.workers));
  let workers: number | undefined;
  if (workersText !== undefined) {
    workers = workersText === 'auto' ? availableParallelism() : Number(workersText);
    if (!Number.isInteger(workers) || workers < 1 || workers > 1024)
      throw new ConfigError(`--workers must be a number from 1 to 1024 or 'auto', got '${workersText}'`);
    if (url === undefined) {
      throw new ConfigError(
        '--workers needs a cluster to share sessions between its processes: give --cluster redis://HOST:PORT ' +
          '(or STARLING_CLUSTER, or cluster.url in the config file)',
      );
    }
  }
  const tlsFlags = [o.clusterLinkCert, o.clusterLinkKey, o.clusterLinkCa].some((f) => f !== undefined);
  if (url === undefined && tlsFlags)
    throw new ConfigError(
      '--cluster-link-cert, --cluster-link-key and --cluster-link-ca secure the links between the nodes of a ' +
        'cluster: give --cluster redis://HOST:PORT (or STARLING_CLUSTER, or cluster.url in the config file)',
    );
  if (url === undefined) return { cluster: undefined, workers };
  const link = clusterLink(o.clusterLink ?? file?.link, workers);
  const linkTls = clusterLinkTls(file?.linkTls, o, paths);
  if (link === false && linkTls !== undefined)
    throw new ConfigError(
      'TLS on the cluster links (--cluster-link-cert, ...) and --cluster-link off exclude each other',
    );
  if (!/^rediss?:\/\//.test(url))
    throw new ConfigError(`--cluster must be a redis:// or rediss:// URL, got '${url}'`);
  const cluster: RedisClusterOptions = {
    url,
    nodeId: o.nodeId ?? file?.nodeId ?? `node-${randomBytes(4).toString('hex')}`,
    ...(file?.keyPrefix === undefined ? {} : { keyPrefix: file.keyPrefix }),
    ...(file?.heartbeatMs === undefined ? {} : { heartbeatMs: file.heartbeatMs }),
    ...(file?.nodeTimeoutMs === undefined ? {} : { nodeTimeoutMs: file.nodeTimeoutMs }),
    ...(link === undefined ? {} : { link }),
    ...(linkTls === undefined ? {} : { linkTls }),
  };
  return { cluster, workers };
}

/** Where relative paths start: the working directory (flags, environment) and the config file's directory. */
export interface FilePaths {
  readonly cwd: string;
  readonly fileDir: string;
  readonly configFile: string | undefined;
}

/**
 * TLS on the links: certificate, key and CA, each from its flag (relative to the working directory) or
 * else from `cluster.linkTls` (relative to the config file), read and checked; all three or none.
 */
function clusterLinkTls(
  file: ClusterFileConfig['linkTls'],
  o: Overrides,
  { cwd, fileDir, configFile }: FilePaths,
): LinkTls | undefined {
  const given = { cert: o.clusterLinkCert, key: o.clusterLinkKey, ca: o.clusterLinkCa };
  const names = ['cert', 'key', 'ca'] as const;
  const missing = names.filter((name) => given[name] === undefined && file?.[name] === undefined);
  if (missing.length === names.length && file === undefined) return undefined;
  if (missing.length > 0)
    throw new ConfigError(
      `TLS on the cluster links needs a certificate, its key and the CA: ${missing.map((name) => `--cluster-link-${name} (cluster.linkTls.${name})`).join(' and ')} missing`,
    );
  const files = names.map((name) => {
    const flag = given[name];
    return flag !== undefined
      ? { path: resolve(cwd, flag), what: `--cluster-link-${name}` }
      : { path: resolve(fileDir, file?.[name] as string), what: `${configFile}: cluster.linkTls.${name}` };
  });
  const [cert, key, ca] = files.map((f) => readPem(f.path, cwd, f.what)) as [Buffer, Buffer, Buffer];
  const tls = { cert, key, ca };
  try {
    linkSockets(tls);
  } catch (err) {
    const [certFile, keyFile, caFile] = files.map((f) => f.path);
    throw new ConfigError(
      `TLS on the cluster links: certificate ${certFile}, key ${keyFile}, CA ${caFile}: ${(err as Error).message}`,
    );
  }
  return tls;
}

/** The node's direct link: an address, or false for none ('off'); a fixed port cannot serve several workers. */
function clusterLink(
  text: string | false | undefined,
  workers: number | undefined,
): string | false | undefined {
  if (text === undefined || text === false) return text;
  if (text === 'off') return false;
  let port: number;
  try {
    port = parseLinkAddress(text).port;
  } catch {
    throw new ConfigError(`--cluster-link '${text}': not HOST, HOST:PORT, [IPv6]:PORT or off`);
  }
  if (port !== 0 && workers !== undefined && workers > 1)
    throw new ConfigError(
      `--cluster-link ${text}: each of the ${workers} workers needs its own port; give a host alone (free ports)`,
    );
  return text;
}
