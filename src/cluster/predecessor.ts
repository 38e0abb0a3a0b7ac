/**
 * A node restarted under its id (kill -9 and systemd, a shell loop) finds its previous process's heartbeat
 * still alive in the registry. When that process ran on this machine, in this boot, and is gone, the node
 * takes the id at once, as a worker restarted by its primary does, rather than waiting for the heartbeat to
 * lapse (`nodeTimeoutMs`). Anywhere else (another machine, another container), or where the boot cannot be
 * told, it waits as before.
 */
import { readFileSync, readlinkSync } from 'node:fs';

let cachedBoot: string | null | undefined;

/**
 * This boot of this machine and this process's pid namespace (Linux's random boot id and the namespace's
 * inode), or undefined where there are none: pids compare only within one namespace, so a node in another
 * container of the same machine never counts as gone.
 */
export function bootId(): string | undefined {
  if (cachedBoot === undefined) {
    try {
      const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      const namespace = readlinkSync('/proc/self/ns/pid');
      cachedBoot = boot === '' || namespace === '' ? null : `${boot} ${namespace}`;
    } catch {
      cachedBoot = null;
    }
  }
  return cachedBoot ?? undefined;
}

/** Whether process `pid` of this machine is gone (EPERM: it exists, under another user). */
export function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Whether the registry entry `info` (a node's JSON info) was written by a process of this machine's current
 * boot, other than this one, that is gone.
 */
export function goneFromThisMachine(info: string): boolean {
  let parsed: { boot?: unknown; pid?: unknown };
  try {
    parsed = JSON.parse(info) as { boot?: unknown; pid?: unknown };
  } catch {
    return false;
  }
  const boot = bootId();
  const pid = parsed.pid;
  if (boot === undefined || parsed.boot !== boot || typeof pid !== 'number' || !Number.isInteger(pid))
    return false;
  return pid > 0 && pid !== process.pid && processGone(pid);
}
