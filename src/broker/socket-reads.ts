import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * Reads of plain TCP and Unix sockets into one buffer shared by every connection, instead of a stream
 * 'data' event per read. Node's documented `onread` option does this for sockets it creates; a socket
 * accepted by a server cannot be given it, so the same two fields are set on it here. Each 'data' read
 * costs an ArrayBuffer, a Buffer, the Readable stream's bookkeeping and a process.nextTick; this path
 * costs a copy of the bytes read into a pooled Buffer. Fewer short-lived objects means fewer and shorter
 * young-generation collections, which is where the broker's latency tail came from.
 *
 * Feature-detected once: when this Node does not have the fields, or the stream is anything but a plain
 * `net.Socket` (TLS, WebSocket, a socket with bytes already buffered), the caller uses 'data' events.
 */

/** Receives each read: `this` is the socket, the bytes are a fresh Buffer the receiver may keep. */
export type ReadReceiver = (socket: Socket, chunk: Buffer) => void;

/** The Socket's own symbols behind `onread` (found by their description on a Socket made here). */
interface UserBufferKeys {
  readonly buffer: symbol;
  readonly callback: symbol;
  readonly generator: symbol;
}

const READ_BUFFER_SIZE = 64 * 1024;
/** Every read lands here first; a read is copied out before the next one can happen. */
let shared: Buffer | undefined;
let keys: UserBufferKeys | null | undefined;

function findKeys(): UserBufferKeys | null {
  // `onread` is documented for net.connect(); the Socket constructor is what reads it.
  const options = { onread: { buffer: Buffer.alloc(1), callback: () => undefined } };
  const probe = new Socket(options as ConstructorParameters<typeof Socket>[0]);
  const byName = new Map<string, symbol>();
  for (const key of Object.getOwnPropertySymbols(probe)) {
    if (key.description !== undefined) byName.set(key.description, key);
  }
  const buffer = byName.get('kBuffer');
  const callback = byName.get('kBufferCb');
  const generator = byName.get('kBufferGen');
  if (buffer === undefined || callback === undefined || generator === undefined) return null;
  const fields = probe as unknown as Record<symbol, unknown>;
  // The probe must hold exactly what the option set, or these are not the fields we think they are.
  if (
    !Buffer.isBuffer(fields[buffer]) ||
    typeof fields[callback] !== 'function' ||
    fields[generator] !== null
  )
    return null;
  return { buffer, callback, generator };
}

type OnRead = (this: Socket, bytes: number, into: Buffer) => void;
/** One read callback per receiver (in practice one), not one per socket. */
const callbacks = new WeakMap<ReadReceiver, OnRead>();

function callbackFor(receive: ReadReceiver): OnRead {
  let callback = callbacks.get(receive);
  if (callback === undefined) {
    callback = function onRead(this: Socket, bytes: number, into: Buffer): void {
      const chunk = Buffer.allocUnsafe(bytes);
      into.copy(chunk, 0, 0, bytes);
      receive(this, chunk);
    };
    callbacks.set(receive, callback);
  }
  return callback;
}

interface HandleWithUserBuffer {
  useUserBuffer(buffer: Uint8Array): void;
  reading?: boolean;
}

/**
 * Switch `stream` to shared-buffer reads that call `receive(stream, chunk)`; false (and nothing changed)
 * when it cannot be, and the caller should listen to 'data' instead.
 */
export function readIntoSharedBuffer(stream: Duplex, receive: ReadReceiver): boolean {
  if (!(stream instanceof Socket) || stream.constructor !== Socket) return false;
  if (stream.readableLength > 0 || stream.listenerCount('data') > 0) return false;
  const handle = (stream as unknown as { _handle?: Partial<HandleWithUserBuffer> | null })._handle;
  if (handle === null || handle === undefined || typeof handle.useUserBuffer !== 'function') return false;
  keys ??= findKeys();
  if (keys === null) return false;
  const fields = stream as unknown as Record<symbol, unknown>;
  if (fields[keys.buffer] !== null || fields[keys.generator] !== null) return false;
  shared ??= Buffer.allocUnsafe(READ_BUFFER_SIZE);
  fields[keys.buffer] = shared;
  fields[keys.callback] = callbackFor(receive);
  handle.useUserBuffer(shared);
  return true;
}
