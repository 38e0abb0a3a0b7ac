/**
 * The client's outgoing session state: packets waiting to be sent, and packets sent and awaiting their
 * acknowledgement, keyed by packet identifier in the order they were first sent.
 */
import type { PublishPacket, SubscribePacket, UnsubscribePacket } from '../packets/types.js';
import { Fifo } from './fifo.js';

/** A PUBLISH from the user, from queued to acknowledged. */
export interface PublishEntry {
  readonly kind: 'publish';
  readonly packet: PublishPacket;
  /** The acknowledgement awaited once sent (QoS 1: puback; QoS 2: pubrec, then pubcomp). */
  awaiting: 'puback' | 'pubrec' | 'pubcomp';
  resolve(): void;
  reject(error: Error): void;
}

/** A SUBSCRIBE or UNSUBSCRIBE awaiting its SUBACK / UNSUBACK reason codes. */
export interface RequestEntry {
  readonly kind: 'subscribe' | 'unsubscribe';
  readonly packet: SubscribePacket | UnsubscribePacket;
  resolve(reasonCodes: number[]): void;
  reject(error: Error): void;
}

export type OutgoingEntry = PublishEntry | RequestEntry;

const MAX_PACKET_ID = 0xffff;

/** Packets the client sent and has not seen acknowledged, plus those still waiting to be sent. */
export class Inflight {
  /** In first-sent order, which is the order they are resent in after a reconnect (spec 4.6). */
  private readonly sent = new Map<number, OutgoingEntry>();
  /** Entries waiting for a connection, a packet identifier or a Receive Maximum slot, oldest first. */
  readonly waiting = new Fifo<OutgoingEntry>();
  private lastId = 0;
  /** QoS 1/2 PUBLISH packets sent and not yet completed: what the server's Receive Maximum limits. */
  publishCount = 0;

  /** Number of entries sent and unacknowledged. */
  get size(): number {
    return this.sent.size;
  }

  /**
   * A non-zero packet identifier no unacknowledged packet of ours uses [MQTT-2.2.1-3] (3.1.1:
   * [MQTT-2.3.1-2]), or undefined when all 65535 are taken.
   */
  allocateId(): number | undefined {
    if (this.sent.size >= MAX_PACKET_ID) return undefined;
    let id = this.lastId;
    for (let i = 0; i < MAX_PACKET_ID; i++) {
      id = id === MAX_PACKET_ID ? 1 : id + 1;
      if (!this.sent.has(id)) {
        this.lastId = id;
        return id;
      }
    }
    return undefined;
  }

  /** Records a sent entry under its packet identifier. */
  add(packetId: number, entry: OutgoingEntry): void {
    this.sent.set(packetId, entry);
    if (entry.kind === 'publish') this.publishCount++;
  }

  get(packetId: number): OutgoingEntry | undefined {
    return this.sent.get(packetId);
  }

  /** Forgets an acknowledged entry and returns it. */
  delete(packetId: number): OutgoingEntry | undefined {
    const entry = this.sent.get(packetId);
    if (entry === undefined) return undefined;
    this.sent.delete(packetId);
    if (entry.kind === 'publish') this.publishCount--;
    return entry;
  }

  /** Sent entries with their identifiers, oldest first. */
  entries(): IterableIterator<[number, OutgoingEntry]> {
    return this.sent.entries();
  }

  /** Removes every entry, sent and waiting, and rejects them with `error`. */
  rejectAll(error: Error): void {
    const sent = [...this.sent.values()];
    this.sent.clear();
    this.publishCount = 0;
    for (const entry of sent) entry.reject(error);
    for (const entry of this.waiting.drain()) entry.reject(error);
  }
}
