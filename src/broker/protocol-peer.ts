import type { ConnectPacket, Packet, ProtocolVersionNumber, WillMessage } from '../packets/types.js';
import type { EngineServices } from './engine-services.js';
import type { HeldAck } from './held-acks.js';
import type { ClientInfo } from './hooks.js';
import type { OutboundWriter } from './outbound-writer.js';
import type { ConnectionFacts } from './port.js';
import type { Session } from './session.js';
import type { SessionLink } from './session-link.js';

export type ConnectionState = 'connecting' | 'connected' | 'closing' | 'closed';

/**
 * A network connection as the protocol flows (CONNECT, PUBLISH, SUBSCRIBE, AUTH) see it: what the client
 * negotiated, its session, and how to answer it.
 */
export interface ProtocolPeer extends ClientInfo, SessionLink {
  readonly services: EngineServices;
  readonly facts: ConnectionFacts;
  /** Where this turn's bytes for the client are staged. */
  readonly writer: OutboundWriter;
  state: ConnectionState;
  clientId: string;
  username: string | undefined;
  protocolVersion: ProtocolVersionNumber;
  session: Session | undefined;
  connect: ConnectPacket | undefined;
  /** Set when the server assigned the client identifier (returned in v5 CONNACK). */
  assignedClientId: string | undefined;
  /** The v5 Authentication Method this connection authenticated (or is authenticating) with. */
  authMethod: string | undefined;
  /** The will of this connection, cleared by a normal DISCONNECT. */
  will: WillMessage | undefined;
  /** Keep alive in effect, in ms (0: none); enforced at 1.5 times (the sweep, connection-sweep.ts). */
  keepaliveMs: number;
  /** The client's Receive Maximum (v5) or the broker's default window for v3. */
  sendQuota: number;
  /** The client's Maximum Packet Size (v5); we never send more. [MQTT-3.1.2-24] */
  clientMaximumPacketSize: number;
  clientTopicAliasMaximum: number;
  /** Whether the client allows reason strings and user properties (v5 Request Problem Information). */
  problemInformation: boolean;
  /** Inbound topic aliases (v5): alias -> topic name, made on first use. */
  inboundAlias(alias: number): string | undefined;
  setInboundAlias(alias: number, topic: string): void;

  /** Encode and queue a packet for this turn's flush. */
  send(packet: Packet): void;
  /**
   * Acknowledge an inbound PUBLISH or PUBREL: at once without a persistent store, otherwise after the
   * commit holding its state returned (refused with 0x97, or the connection closed for v3, if it failed).
   * `bytes`: what the acknowledged message holds in memory until then (counted in the memory budget).
   */
  acknowledge(kind: HeldAck, packetId: number, bytes?: number): void;
  /** The client sent DISCONNECT with this reason code: close, reporting it to the hooks. */
  closeByClient(reasonCode: number): void;
  close(): void;
}
