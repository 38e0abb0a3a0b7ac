import type { Duplex } from 'node:stream';
import type { Packet } from '../packets/types.js';
import type { DisconnectInfo } from './hooks.js';
import { readIntoSharedBuffer } from './socket-reads.js';

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
function onSocketRead(socket: Duplex, chunk: Buffer): void {
  (socket as OwnedStream)[OWNER]?.onData(chunk);
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
  if (!readIntoSharedBuffer(stream, onSocketRead)) stream.on('data', onStreamData);
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
  /** Bytes the peer had taken at the kernel watch's last look (-1: not looked at). */
  kernelAcked = -1;
  /** What the kernel holds for this reader while it is stalled (kernel-send-queues.ts). */
  kernelQueued = 0;
}

/**
 * The part of a connection kept in its ConnectionExtras: a base class, so the accessors cost the
 * connection one field, not one each.
 */
export abstract class WithExtras {
  /** What few connections need, made on first use. */
  protected extras: ConnectionExtras | undefined = undefined;

  protected more(): ConnectionExtras {
    this.extras ??= new ConnectionExtras();
    return this.extras;
  }

  /** Set when the server assigned the client identifier (returned in v5 CONNACK). */
  get assignedClientId(): string | undefined {
    return this.extras?.assignedClientId;
  }
  set assignedClientId(id: string | undefined) {
    this.more().assignedClientId = id;
  }
  get authMethod(): string | undefined {
    return this.extras?.authMethod;
  }
  set authMethod(method: string | undefined) {
    this.more().authMethod = method;
  }
  /** Outbound topic aliases assigned by the broker (v5): topic -> alias; made on first use. */
  get outboundAliases(): Map<string, number> | undefined {
    return this.extras?.outboundAliases;
  }
  set outboundAliases(aliases: Map<string, number> | undefined) {
    this.more().outboundAliases = aliases;
  }
  /** Since when the write backlog has been over the limit (0: it is not). */
  get congestedSince(): number {
    return this.extras?.congestedSince ?? 0;
  }
  set congestedSince(since: number) {
    if (since !== 0 || this.extras !== undefined) this.more().congestedSince = since;
  }
  /** This connection's backlog as the memory budget last counted it. */
  get countedBacklog(): number {
    return this.extras?.countedBacklog ?? 0;
  }
  set countedBacklog(bytes: number) {
    if (bytes !== 0 || this.extras !== undefined) this.more().countedBacklog = bytes;
  }

  /** Bytes the peer had taken at the kernel watch's last look (-1: not looked at). */
  get kernelAcked(): number {
    return this.extras?.kernelAcked ?? -1;
  }
  set kernelAcked(bytes: number) {
    if (bytes !== -1 || this.extras !== undefined) this.more().kernelAcked = bytes;
  }
  /** What the kernel holds for this reader while it is stalled (0 while it reads). */
  get kernelQueued(): number {
    return this.extras?.kernelQueued ?? 0;
  }
  set kernelQueued(bytes: number) {
    if (bytes !== 0 || this.extras !== undefined) this.more().kernelQueued = bytes;
  }

  /** Inbound topic aliases (v5): alias -> topic name, made on first use. */
  inboundAlias(alias: number): string | undefined {
    return this.extras?.inboundAliases?.get(alias);
  }

  setInboundAlias(alias: number, topic: string): void {
    const extras = this.more();
    extras.inboundAliases ??= new Map();
    extras.inboundAliases.set(alias, topic);
  }
}

/** Connection timestamps count 64 ms ticks from here. */
const CLOCK_BASE = Date.now();
const TICK_MS = 64;

/**
 * Now in ticks, rounded up (a deadline counted from it is never early). A small integer stays in the
 * connection object itself for over four years of uptime, where a timestamp in ms (above 2^31) would be a
 * heap number of its own.
 */
export function ticksNow(): number {
  return Math.ceil((Date.now() - CLOCK_BASE) / TICK_MS);
}

/** A tick as ms since epoch. */
export function fromTicks(tick: number): number {
  return CLOCK_BASE + tick * TICK_MS;
}
