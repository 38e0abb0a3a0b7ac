/**
 * The free space a store's disk has left, watched so that the broker stops taking QoS 1/2 publishes before
 * its own state fills the disk (what RabbitMQ calls the disk alarm). Left to fill, a full disk takes more
 * than new messages with it: the deletions of acknowledged messages need room too (SQLite writes them to
 * its WAL), so draining subscribers would not give space back, and a restart could not replay the log.
 *
 * Space counts what the disk has free plus what the store can reuse without growing (pages it freed). Below
 * the floor the store is low on space; it leaves that state once it has the floor and a quarter more (at
 * most 16 MiB more), and while low it gives back what it can at each timed look (`reclaim`: bring the
 * tables up to date, shrink the WAL).
 */
import { statfsSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { reusableBytes, shrinkWal } from './sqlite-open.js';

/**
 * Default floor: room for the WAL's growth between checkpoints (a quarter of the floor, `sizeWal`), a chunk
 * of a table write, and a checkpoint's copy of them.
 */
export const DEFAULT_MIN_FREE_BYTES = 64 * 1024 * 1024;
/** Looks at least this often... */
const LOOK_MS = 1000;

/** What the store must have above the floor to leave the low state: a quarter of it, at most 16 MiB. */
function slack(floor: number): number {
  return Math.min(floor / 4, 16 * 1024 * 1024);
}

export interface DiskWatchSource {
  /** Bytes the store can reuse without growing its files. */
  reusableBytes(): number;
  /** Give back what can be given back (called at each look while low). */
  reclaim(): void;
}

export class DiskWatch {
  private low = false;
  private written = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly dir: string,
    /** 0: never low. */
    readonly floor: number,
    private readonly source: DiskWatchSource,
  ) {}

  start(): void {
    if (this.floor <= 0 || this.timer !== undefined) return;
    this.look(false);
    this.timer = setInterval(() => this.look(true), LOOK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  get lowOnSpace(): boolean {
    return this.low;
  }

  /**
   * `bytes` were written: ...and again after every eighth of the floor written, whatever the time (the WAL
   * takes about twice the bytes the store writes, in whole pages). Only a look: giving space back writes,
   * which is for the timer, between the store's own writes.
   */
  wrote(bytes: number): void {
    if (this.timer === undefined) return;
    this.written += bytes;
    if (this.written >= this.floor / 8) this.look(false);
  }

  /** Look at the disk now (first giving space back, with `reclaim`, when low); returns whether it is low. */
  look(reclaim: boolean): boolean {
    this.written = 0;
    if (reclaim && this.low) {
      try {
        this.source.reclaim();
      } catch {
        // Nothing given back this time (the disk may be full to the last byte): the next look tries again.
      }
    }
    let free: number;
    try {
      const fs = statfsSync(this.dir);
      free = fs.bavail * fs.bsize;
    } catch {
      // The directory cannot be looked at: its commits will say what is wrong.
      return this.low;
    }
    const available = free + this.source.reusableBytes();
    this.low = available < (this.low ? this.floor + slack(this.floor) : this.floor);
    return this.low;
  }
}

/**
 * The watch of a SQLite store's disk, started: its free pages count as room, and while low `writeTables`
 * (which turns the rows acknowledged meanwhile into free pages) and a WAL checkpoint give space back.
 */
export function watchDatabaseDisk(
  dir: string,
  floor: number,
  db: Database.Database,
  writeTables: () => void,
): DiskWatch {
  const watch = new DiskWatch(dir, floor, {
    reusableBytes: () => reusableBytes(db),
    reclaim: () => {
      writeTables();
      shrinkWal(db);
    },
  });
  watch.start();
  return watch;
}
