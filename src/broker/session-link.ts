/**
 * What passes between a session and its live end: the link (a network connection or an inline handler)
 * and the outbound message, with its QoS flow state, that the session sends through it.
 */
import type { QoS } from '../packets/types.js';
import type { DropReason } from './hooks.js';
import type { Message } from './message.js';
import type { SharedPublishHeaders } from './shared-header.js';

/** A message on its way to one session: what to send, and where its QoS flow stands. */
export interface Outbound {
  readonly message: Message;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly subscriptionIds: readonly number[] | undefined;
  packetId: number;
  /** `publish` until PUBACK/PUBREC; `pubrel` after PUBREC until PUBCOMP. */
  state: 'publish' | 'pubrel';
  /** Its key in the store (0: not stored, the session is not persistent). */
  seq: number;
}

/** What the session engine needs from the live end of a session: a network connection or an inline handler. */
export interface SessionLink {
  readonly kind: 'network' | 'inline';
  /** The listener the client came in on (`inline` for the inline client). */
  readonly listener: string;
  /** The client's Receive Maximum: how many QoS 1/2 messages may be in flight towards it. */
  readonly sendQuota: number;
  /** True while the link's write buffer is over the limit (slow reader). */
  congested(): boolean;
  /** Bytes written to the link and not yet taken by the peer. */
  backlogBytes(): number;
  /**
   * Write one PUBLISH (first send or resend). `headers` is the fan-out's shared header cache, handed down by
   * the router so the link never asks back for it. Returns why the message was not sent, or undefined.
   */
  sendPublish(
    message: Message,
    qos: QoS,
    retain: boolean,
    subscriptionIds: readonly number[] | undefined,
    packetId: number,
    dup: boolean,
    headers: SharedPublishHeaders,
  ): DropReason | undefined;
  sendPubrel(packetId: number): void;
  /** End the link (v5: DISCONNECT with this reason code first). */
  disconnect(reasonCode: number, reasonString?: string): void;
}
