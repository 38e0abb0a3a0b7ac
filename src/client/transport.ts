/**
 * The byte-stream contract between the client protocol and its network: a TCP or TLS socket satisfies it
 * as is, WebSockets through a small adapter. `openTransport` (transport-open.ts) picks one by URL scheme.
 */
import type { ClientOptions } from './types.js';

/** A connected, bidirectional byte stream. */
export interface Transport {
  /** Queues bytes; false when the caller should wait for 'drain'. */
  write(chunk: Buffer): boolean;
  /** Buffers writes until the matching `uncork()` (calls nest). */
  cork(): void;
  uncork(): void;
  /** Bytes written but not yet handed to the network. */
  readonly writableLength: number;
  /** Flushes what is written, then closes. */
  end(): void;
  /** Closes at once, discarding unwritten bytes. */
  destroy(): void;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'drain' | 'close', listener: () => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

/** The TLS part of the client options. */
export type TlsOptions = Pick<ClientOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized' | 'servername'>;

/** Resolves with `socket` once `readyEvent` fires; rejects (and destroys it) on error or abort. */
export function whenOpen<S extends Transport>(
  socket: S & NodeJS.EventEmitter,
  readyEvent: string,
  signal: AbortSignal,
): Promise<S> {
  return new Promise<S>((resolve, reject) => {
    const onAbort = (): void => fail(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    const fail = (error: Error): void => {
      cleanup();
      socket.destroy();
      reject(error);
    };
    const ready = (): void => {
      cleanup();
      resolve(socket);
    };
    const cleanup = (): void => {
      socket.off('error', fail);
      socket.off(readyEvent, ready);
      signal.removeEventListener('abort', onAbort);
    };
    if (signal.aborted) return onAbort();
    socket.once('error', fail);
    socket.once(readyEvent, ready);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
