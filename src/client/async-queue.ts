/**
 * A bounded push/pull queue exposed as an async iterator: the producer pushes synchronously, the consumer
 * awaits `next()`. Used for subscription messages and client events.
 */
import { Fifo } from './fifo.js';

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

export class AsyncQueue<T> implements AsyncIterableIterator<T> {
  private readonly buffered = new Fifo<T>();
  private readonly waiters = new Fifo<(result: IteratorResult<T, undefined>) => void>();
  private ended = false;
  /** Items discarded because the buffer was full (oldest first). */
  dropped = 0;

  /**
   * @param limit the most items buffered for a slow consumer; beyond it the oldest is dropped.
   * @param onReturn called when the consumer stops early (`break` out of `for await`).
   */
  constructor(
    private readonly limit: number,
    private readonly onReturn?: () => void,
  ) {}

  /** True once `end()` was called; buffered items may still be read. */
  get isEnded(): boolean {
    return this.ended;
  }

  /** Hands an item to a waiting consumer or buffers it. Ignored after `end()`. */
  push(item: T): void {
    if (this.ended) return;
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      waiter({ done: false, value: item });
      return;
    }
    if (this.buffered.length >= this.limit) {
      this.buffered.shift();
      this.dropped++;
    }
    this.buffered.push(item);
  }

  /** Ends the iteration once the buffered items are consumed. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    for (let waiter = this.waiters.shift(); waiter !== undefined; waiter = this.waiters.shift()) waiter(DONE);
  }

  next(): Promise<IteratorResult<T, undefined>> {
    if (this.buffered.length > 0) return Promise.resolve({ done: false, value: this.buffered.shift() as T });
    if (this.ended) return Promise.resolve(DONE);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  return(): Promise<IteratorResult<T, undefined>> {
    const wasEnded = this.ended;
    this.end();
    this.buffered.drain();
    if (!wasEnded) this.onReturn?.();
    return Promise.resolve(DONE);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
