/**
 * The operating-system limits that cap how many connections one load-generator process can hold: the open
 * file limit (one descriptor per socket) and the ephemeral port range (one local port per connection to the
 * same broker address and port, per source address). Node has no getrlimit, so both are read from /proc;
 * on systems without /proc they are reported as unknown and nothing is refused.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';

/** What this process may open, as far as the system tells. */
export interface SystemLimits {
  /** Soft `ulimit -n` of this process; undefined when unknown. */
  readonly openFilesSoft: number | undefined;
  /** Hard limit the soft one can be raised to without privileges; undefined when unknown or unlimited. */
  readonly openFilesHard: number | undefined;
  /** `net.ipv4.ip_local_port_range`; undefined when unknown. */
  readonly portRange: { readonly low: number; readonly high: number } | undefined;
}

/** Where {@link readSystemLimits} reads from (overridable for tests). */
export interface SystemLimitSources {
  readonly limitsFile?: string;
  readonly portRangeFile?: string;
}

/** Descriptors kept free for everything else a process opens (stdio, files, the event loop, a broker's listeners). */
export const RESERVED_FILE_DESCRIPTORS = 64;
/**
 * Share of the ephemeral range one source address is planned to use: ports in TIME_WAIT from earlier runs
 * and other programs' connections take the rest.
 */
export const PORT_RANGE_USABLE_SHARE = 0.9;
/**
 * Share of the ephemeral range a plan puts on one source address it binds to. Measured here (Linux 6.18,
 * 28 232-port range), bind() to port 0 on one address stays cheap up to about a quarter of the range, then
 * costs milliseconds a call; the binds of a ramp then stall the generator's event loop for seconds.
 * Connections that do not bind (the kernel's choice) are not affected.
 */
export const PORT_RANGE_BIND_SHARE = 0.2;
/** Most loopback source addresses a plan spreads over (127.0.0.1 ... 127.0.0.64). */
export const MAX_LOOPBACK_SOURCES = 64;

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function parseLimit(text: string): number | undefined {
  if (text === 'unlimited') return undefined;
  const value = Number(text);
  return Number.isInteger(value) && value > 0 ? value : undefined;
}

/** Reads the open-file limits of this process and the local port range. */
export function readSystemLimits(sources: SystemLimitSources = {}): SystemLimits {
  let openFilesSoft: number | undefined;
  let openFilesHard: number | undefined;
  const limits = readText(sources.limitsFile ?? '/proc/self/limits');
  const line = limits?.split('\n').find((row) => row.startsWith('Max open files'));
  if (line !== undefined) {
    const [soft, hard] = line.slice('Max open files'.length).trim().split(/\s+/);
    openFilesSoft = soft === undefined ? undefined : parseLimit(soft);
    openFilesHard = hard === undefined ? undefined : parseLimit(hard);
  }
  let portRange: SystemLimits['portRange'];
  const range = readText(sources.portRangeFile ?? '/proc/sys/net/ipv4/ip_local_port_range');
  const match = range?.trim().match(/^(\d+)\s+(\d+)$/);
  if (match) {
    const low = Number(match[1]);
    const high = Number(match[2]);
    if (low > 0 && high >= low) portRange = { low, high };
  }
  return { openFilesSoft, openFilesHard, portRange };
}

/** True for an IPv4 loopback address or `localhost`: every 127.x.y.z then works as a source address. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

/** What a run of `clients` connections needs from the system and how it will be spread. */
export interface ConnectionPlan {
  /** False when the run cannot fit; `problems` says why and `advice` how to make it fit. */
  readonly ok: boolean;
  /**
   * Local addresses to bind, round-robin; empty means "let the kernel choose" (one source address).
   * Only loopback targets get several: any 127.x address reaches a broker on 127.0.0.1.
   */
  readonly sourceAddresses: readonly string[];
  /** Descriptors the run needs in this process (two per client when the broker runs in-process). */
  readonly fileDescriptorsNeeded: number;
  readonly problems: readonly string[];
  readonly advice: readonly string[];
}

/** Inputs of {@link planConnections}. */
export interface PlanOptions {
  readonly clients: number;
  /** The broker host: decides whether extra loopback source addresses may be used. */
  readonly host: string;
  /** The broker runs in this process, so each connection costs a descriptor on both ends. */
  readonly brokerInProcess?: boolean;
  /** Source addresses the user chose; taken as given (no spreading). */
  readonly sourceAddresses?: readonly string[];
}

/**
 * Checks `clients` connections against the limits and spreads them over loopback source addresses when one
 * address has too few ephemeral ports. Unknown limits are not held against the run.
 */
export function planConnections(options: PlanOptions, limits: SystemLimits): ConnectionPlan {
  const problems: string[] = [];
  const advice: string[] = [];
  const perClient = options.brokerInProcess === true ? 2 : 1;
  const fileDescriptorsNeeded = options.clients * perClient + RESERVED_FILE_DESCRIPTORS;
  if (limits.openFilesSoft !== undefined && fileDescriptorsNeeded > limits.openFilesSoft) {
    problems.push(
      `${options.clients} clients need about ${fileDescriptorsNeeded} open files in this process` +
        (perClient === 2 ? ' (the embedded broker holds the other end of each connection)' : '') +
        `, but ulimit -n is ${limits.openFilesSoft}`,
    );
    if (limits.openFilesHard === undefined || limits.openFilesHard > limits.openFilesSoft) {
      advice.push(`raise the limit: ulimit -n ${limits.openFilesHard ?? fileDescriptorsNeeded}`);
    } else {
      advice.push(
        `ulimit -n cannot go above its hard limit ${limits.openFilesHard} without root (limits.conf / systemd LimitNOFILE)`,
      );
    }
    if (perClient === 2) advice.push('run the broker in its own process and point -H/--url at it');
    advice.push(
      `split the clients over several generator processes (-P), at most ${Math.max(
        1,
        Math.floor((limits.openFilesSoft - RESERVED_FILE_DESCRIPTORS) / perClient),
      )} per process`,
    );
  }
  let sourceAddresses: string[] = [...(options.sourceAddresses ?? [])];
  if (limits.portRange !== undefined) {
    const ports = limits.portRange.high - limits.portRange.low + 1;
    const usable = Math.max(1, Math.floor(ports * PORT_RANGE_USABLE_SHARE));
    const bindable = Math.max(1, Math.floor(ports * PORT_RANGE_BIND_SHARE));
    const given = Math.max(1, sourceAddresses.length);
    if (sourceAddresses.length > 0 && options.clients > bindable * sourceAddresses.length) {
      advice.push(
        `${Math.ceil(options.clients / sourceAddresses.length)} connections per source address: beyond about ` +
          `${bindable} each, binding gets slow and can stall the generator; give more source addresses`,
      );
    }
    if (options.clients > usable * given) {
      // Spreading means binding, so each address takes no more than binding stays cheap for.
      const needed = Math.ceil(options.clients / bindable);
      if (sourceAddresses.length === 0 && isLoopbackHost(options.host) && needed <= MAX_LOOPBACK_SOURCES) {
        sourceAddresses = Array.from({ length: needed }, (_, i) => `127.0.0.${i + 1}`);
      } else {
        problems.push(
          `${options.clients} clients need ${needed} source addresses: the local port range ` +
            `${limits.portRange.low}-${limits.portRange.high} gives about ${usable} connections per source address` +
            ` and the run has ${given}`,
        );
        advice.push(
          `widen the port range: sysctl -w net.ipv4.ip_local_port_range="1024 65535"`,
          'connect from more source addresses (extra IPs on the interface; any 127.x.y.z for a loopback broker)',
          'or spread the clients over several machines',
        );
      }
    }
  }
  return { ok: problems.length === 0, sourceAddresses, fileDescriptorsNeeded, problems, advice };
}

/** A short human summary of the limits and the plan, printed before a run starts. */
export function describePlan(limits: SystemLimits, plan: ConnectionPlan): string {
  const files = limits.openFilesSoft === undefined ? 'unknown' : String(limits.openFilesSoft);
  const range =
    limits.portRange === undefined ? 'unknown' : `${limits.portRange.low}-${limits.portRange.high}`;
  const sources =
    plan.sourceAddresses.length === 0 ? 'default source address' : plan.sourceAddresses.join(', ');
  const lines = [`limits: ulimit -n ${files}, local ports ${range}; connecting from ${sources}`];
  for (const problem of plan.problems) lines.push(`  problem: ${problem}`);
  for (const hint of plan.advice) lines.push(`  hint: ${hint}`);
  return `${lines.join('\n')}\n`;
}

/** `/proc/net/tcp`'s little-endian hex form of an IPv4 address, e.g. 127.0.0.1 -> 0100007F. */
function procHexAddress(address: string): string | undefined {
  if (isIP(address) !== 4) return undefined;
  return address
    .split('.')
    .reverse()
    .map((byte) => Number(byte).toString(16).padStart(2, '0'))
    .join('')
    .toUpperCase();
}

/** The TIME_WAIT state in /proc/net/tcp: such a port can be bound again (libuv binds with SO_REUSEADDR). */
const TIME_WAIT = '06';
const WILDCARDS = new Set(['00000000', '00000000000000000000000000000000']);

/**
 * Distinct local TCP ports within `range` that live sockets hold now (IPv4 and IPv6, TIME_WAIT left out),
 * read from /proc/net/tcp and tcp6: what is left of the ephemeral range is what new connections can take.
 * With `address` (IPv4), only sockets bound to it or to the wildcard count. Undefined when unreadable.
 */
export function localPortsInUse(
  range: { readonly low: number; readonly high: number },
  address?: string,
  tables: readonly string[] = ['/proc/net/tcp', '/proc/net/tcp6'],
): number | undefined {
  const ports = new Set<number>();
  const wanted = address === undefined ? undefined : procHexAddress(address);
  let readAny = false;
  for (const table of tables) {
    const text = readText(table);
    if (text === undefined) continue;
    readAny = true;
    // Each row: "sl local_address rem_address st ...", the local address as HEXIP:HEXPORT.
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      if (local === undefined || fields[3] === TIME_WAIT) continue;
      const separator = local.lastIndexOf(':');
      const port = Number.parseInt(local.slice(separator + 1), 16);
      if (!(port >= range.low && port <= range.high)) continue;
      const host = local.slice(0, separator);
      if (wanted !== undefined && host !== wanted && !WILDCARDS.has(host)) continue;
      ports.add(port);
    }
  }
  return readAny ? ports.size : undefined;
}
