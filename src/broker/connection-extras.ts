import type { Duplex } from 'node:stream';
import type { Packet } from '../packets/types.js';
import type { DisconnectInfo } from './hooks.js';

/** What a connection's stream listeners call; one set of listener functions serves every connection. */
export interface StreamOwner {
  onData(chunk: Buffer): void;
  onNetworkEnd(err: Error | undefined): void;
  onDrain(): void;
}

/** Where a stream keeps its connection, for the shared listeners. */
const OWNER = Symbol('starling.connection');
type OwnedStream = Duplex & { [OWNER]?: StreamOwner };

function onStreamData(this: OwnedStream, chunk: Buffer): void {
  this[OWNER]?.onData(chunk);
}
function onStreamError(this: OwnedStream, err: Error): void {
  this[OWNER]?.onNetworkEnd(err);
}
function onStreamClose(this: OwnedStream): void {
  this[OWNER]?.onNetworkEnd(undefined);
}
function onStreamDrain(this: OwnedStream): void {
  this[OWNER]?.onDrain();
}

/**
 * Listen to `stream` for `owner` without a closure per connection: each shared listener finds its
 * connection on the stream.
 */
export function listenToStream(stream: Duplex, owner: StreamOwner): void {
  (stream as OwnedStream)[OWNER] = owner;
  stream.on('data', onStreamData);
  stream.on('error', onStreamError);
  stream.on('close', onStreamClose);
  // A stream that may stay half open needs its end reported; one that is not (net sockets from a server,
  // which end their side when the peer ends) closes right after, and a second 'end' listener would cost
  // each socket an array of listeners.
  if (stream.allowHalfOpen !== false) stream.on('end', onStreamClose);
  stream.on('drain', onStreamDrain);
}

/**
 * The state of a connection that most connections never need (v5 aliases and authentication, a packet
 * backlog behind an async hook, a slow reader's bookkeeping, the reason it ended): kept apart and made on
 * first use, so an idle v3.1.1 client does not carry a field for each.
 */
export class ConnectionExtras {
  /** Set when the server assigned the client identifier (returned in v5 CONNACK). */
  assignedClientId: string | undefined = undefined;
  /** The v5 Authentication Method of the connection. */
  authMethod: string | undefined = undefined;
  /** Outbound topic aliases assigned by the broker (v5): topic -> alias. */
  outboundAliases: Map<string, number> | undefined = undefined;
  /** Inbound topic aliases (v5): alias -> topic. */
  inboundAliases: Map<number, string> | undefined = undefined;
  /** Packets received while an earlier one waits for an async handler. */
  backlog: Packet[] | undefined = undefined;
  /** Why the connection ended, for the hooks. */
  disconnectInfo: DisconnectInfo | undefined = undefined;
  /** Since when the write backlog has been over the limit (0: it is not). */
  congestedSince = 0;
  /** The backlog as the memory budget last counted it. */
  countedBacklog = 0;
}
