/**
 * The stamps of the inbox entries a node processed lately, to drop an entry appended twice. A sender stamps
 * each append with its process incarnation and a count (`RedisSessionStore`); when Redis ran an append but
 * its reply was lost (the connection dropped), ioredis sends the command again and the inbox holds the
 * entry twice. A resent copy lands right behind the original, so a bounded window of recent stamps catches
 * it; anything older than the window is processed as before.
 */
import type { InboxEntry } from './backend.js';

export class RecentStamps {
  private readonly seen = new Set<string>();
  private readonly order: string[] = [];
  private next = 0;

  constructor(private readonly capacity = 8192) {}

  /** Record `stamp` of sender `from`; false when it was recorded already (a duplicate entry). */
  add(from: string, stamp: string): boolean {
    const key = `${from} ${stamp}`;
    if (this.seen.has(key)) return false;
    if (this.order.length < this.capacity) this.order.push(key);
    else {
      this.seen.delete(this.order[this.next] as string);
      this.order[this.next] = key;
      this.next = (this.next + 1) % this.capacity;
    }
    this.seen.add(key);
    return true;
  }

  /** Whether `stamp` of sender `from` is recorded. */
  has(from: string, stamp: string): boolean {
    return this.seen.has(`${from} ${stamp}`);
  }

  /** Record a stamped entry (a batch or a hand-over); true when it is a copy of one recorded already. */
  isCopy(entry: InboxEntry): boolean {
    return entry.kind !== 'evict' && entry.stamp !== undefined && !this.add(entry.from, entry.stamp);
  }
}
