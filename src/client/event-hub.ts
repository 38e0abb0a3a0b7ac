/**
 * Client lifecycle events, delivered to `events()` iterators and to synchronous listeners.
 */
import { AsyncQueue } from './async-queue.js';
import type { ClientEvent } from './types.js';

/** Events buffered per iterator for a consumer that is behind; beyond it the oldest are dropped. */
const EVENT_BUFFER = 1000;

export class EventHub {
  private listeners: ((event: ClientEvent) => void)[] = [];
  private readonly queues = new Set<AsyncQueue<ClientEvent>>();
  private closed = false;

  /** An iterator of the events from now on; it ends after `close()`. */
  iterate(): AsyncIterableIterator<ClientEvent> {
    const queue: AsyncQueue<ClientEvent> = new AsyncQueue<ClientEvent>(EVENT_BUFFER, () =>
      this.queues.delete(queue),
    );
    if (this.closed) queue.end();
    else this.queues.add(queue);
    return queue;
  }

  /** Adds a synchronous listener; returns its remover. */
  listen(listener: (event: ClientEvent) => void): () => void {
    this.listeners = [...this.listeners, listener];
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  emit(event: ClientEvent): void {
    for (const queue of this.queues) queue.push(event);
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        // Reported to the consumers as an 'error' event; one thrown while handling 'error' is dropped so
        // that a faulty listener cannot loop.
        if (event.type !== 'error') {
          this.emit({ type: 'error', error: error instanceof Error ? error : new Error(String(error)) });
        }
      }
    }
  }

  /** Ends every iterator (after the events already pushed). */
  close(): void {
    this.closed = true;
    for (const queue of this.queues) queue.end();
    this.queues.clear();
  }
}
