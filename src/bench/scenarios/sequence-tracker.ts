/**
 * Per-publisher delivery accounting for `bench subscribe`: which sequence numbers arrived, how often and in
 * which order. Each publisher numbers its messages 0, 1, 2, ...; a bitset per publisher tells first arrivals
 * from duplicates in O(1) per message and one bit of memory per sequence number.
 */

/** Largest sequence number accepted: 2^26 messages is 8 MiB of bitset per publisher, a sane bound. */
const MAX_SEQ = 1 << 26;

/** What one publisher's messages looked like on arrival. */
export interface PublisherDelivery {
  readonly publisher: string;
  /** Every arrival, duplicates included. */
  readonly received: number;
  /** Distinct sequence numbers received. */
  readonly unique: number;
  /** Arrivals of a sequence number already received. */
  readonly duplicates: number;
  /** First arrivals of a number lower than one already received. */
  readonly outOfOrder: number;
  /** Messages the publisher sent (when known) or highest sequence + 1, minus `unique`. */
  readonly missing: number;
  /** What `missing` is counted against. */
  readonly expected: number;
}

class PublisherState {
  bits = new Uint8Array(64);
  highest = -1;
  received = 0;
  unique = 0;
  duplicates = 0;
  outOfOrder = 0;

  /** Records one arrival; returns false for a duplicate. */
  record(seq: number): boolean {
    this.received++;
    const byte = seq >>> 3;
    if (byte >= this.bits.length) {
      const grown = new Uint8Array(Math.max(byte + 1, this.bits.length * 2));
      grown.set(this.bits);
      this.bits = grown;
    }
    const mask = 1 << (seq & 7);
    if ((this.bits[byte]! & mask) !== 0) {
      this.duplicates++;
      return false;
    }
    this.bits[byte]! |= mask;
    this.unique++;
    if (seq < this.highest) this.outOfOrder++;
    else this.highest = seq;
    return true;
  }
}

/** Counts deliveries per publisher. */
export class SequenceTracker {
  readonly #publishers = new Map<string, PublisherState>();
  #rejected = 0;

  /** Messages whose sequence number was out of range (not counted anywhere else). */
  get rejected(): number {
    return this.#rejected;
  }

  /** Publishers seen so far. */
  get publisherCount(): number {
    return this.#publishers.size;
  }

  /**
   * Records message `seq` of `publisher`. Returns true for a first arrival, false for a duplicate or a
   * sequence number out of range.
   */
  record(publisher: string, seq: number): boolean {
    if (!Number.isInteger(seq) || seq < 0 || seq >= MAX_SEQ) {
      this.#rejected++;
      return false;
    }
    let state = this.#publishers.get(publisher);
    if (state === undefined) {
      state = new PublisherState();
      this.#publishers.set(publisher, state);
    }
    return state.record(seq);
  }

  /**
   * The accounting per publisher, in order of first arrival. `expectedPerPublisher` is how many messages
   * each publisher sent when the caller knows it; otherwise the highest sequence number seen + 1 is assumed,
   * so losses at the tail of a stream are only visible when the count is known.
   */
  deliveries(expectedPerPublisher?: number): PublisherDelivery[] {
    const result: PublisherDelivery[] = [];
    for (const [publisher, state] of this.#publishers) {
      const expected = Math.max(expectedPerPublisher ?? 0, state.highest + 1);
      result.push({
        publisher,
        received: state.received,
        unique: state.unique,
        duplicates: state.duplicates,
        outOfOrder: state.outOfOrder,
        missing: expected - state.unique,
        expected,
      });
    }
    return result;
  }
}
