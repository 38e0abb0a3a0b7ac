/**
 * What a cluster node is told: where it meets the others in Redis, how it shows it is alive, and its direct
 * links (`RedisBackend` reads it; `starling broker --cluster` and the config file build it).
 */
import type { LinkTls } from './link-sockets.js';

/** Where a cluster node meets the others, and how it shows it is alive. */
export interface RedisClusterOptions {
  /** `redis://[[user]:password@]host[:port][/db]`, or `rediss://` for TLS. */
  readonly url: string;
  /** This node's id, unique in the cluster; a node restarted under the same id takes back its sessions. */
  readonly nodeId: string;
  /** Prefix of every key and channel, so clusters can share a Redis. Default `starling:`. */
  readonly keyPrefix?: string;
  /** Milliseconds between heartbeats (and checks of the other nodes). Default 1000. */
  readonly heartbeatMs?: number;
  /** A node whose heartbeat is this old (ms) is dead: its sessions are taken over. Default 5000. */
  readonly nodeTimeoutMs?: number;
  /** How long to try reaching Redis at start (ms). Default 5000. */
  readonly connectTimeoutMs?: number;
  /**
   * Where this node's direct link to the other nodes listens (`host`, `host:port`, `[v6]:port`; port 0 or
   * none picks a free one), or false for none (every cross-node message then goes through Redis). Default
   * `127.0.0.1`: nodes on one machine link directly; nodes on several machines need an address the others
   * reach. See `ClusterNodeOptions.link`.
   */
  readonly link?: string | false;
  /**
   * Mutual TLS on the direct links (`cert`, `key`, `ca`: PEM; see `LinkTls`), or none: plain TCP. Every
   * node of a cluster needs it, or none: a TLS node and a plain one do not link (their messages go through
   * Redis). See `ClusterNodeOptions.linkTls`.
   */
  readonly linkTls?: LinkTls;
  /**
   * This process's instance token (default random): what its heartbeat holds. `--workers` gives each worker
   * one, to start its replacement at once after it died (`replaces`).
   */
  readonly instanceToken?: string;
  /**
   * The instance token of this node id's previous process, known dead (its worker exited): the node joins
   * at once instead of waiting for that heartbeat to lapse (`nodeTimeoutMs`).
   */
  readonly replaces?: string;
}
