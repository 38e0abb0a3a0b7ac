/**
 * The client's outbound flow: sending queued publishes and requests within the server's limits, matching
 * acknowledgements, and restoring the flow on a new connection (spec 4.3, 4.4, 4.9).
 */
import { MqttError } from '../packets/errors.js';
import { ReasonCode } from '../packets/reason-codes.js';
import type { Packet, ProtocolVersionNumber, PublishPacket } from '../packets/types.js';
import { defaultCapabilities } from './connack.js';
import type { Connection } from './connection.js';
import { Inflight, type OutgoingEntry, type RequestEntry } from './inflight.js';
import { OutboundTopicAliases } from './topic-alias.js';
import type { ServerCapabilities } from './types.js';

function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

type AckPacket = Extract<Packet, { type: 'puback' | 'pubrec' | 'pubcomp' | 'suback' | 'unsuback' }>;

export class Outbound {
  readonly inflight = new Inflight();
  /** What the server announced in the CONNACK of the current (or last) connection. */
  capabilities: ServerCapabilities = defaultCapabilities();
  private connection: Connection | undefined;
  private aliases: OutboundTopicAliases | undefined;

  constructor(private readonly version: ProtocolVersionNumber) {}

  /** The connection packets go to, while connected. */
  get current(): Connection | undefined {
    return this.connection;
  }

  /**
   * Starts using a connection that has just been accepted. Topic aliases start afresh: they belong to one
   * connection [MQTT-3.3.2-7].
   */
  attach(conn: Connection, capabilities: ServerCapabilities, autoAssignTopicAlias: boolean): void {
    this.connection = conn;
    this.capabilities = capabilities;
    this.aliases =
      autoAssignTopicAlias && capabilities.topicAliasMaximum > 0
        ? new OutboundTopicAliases(capabilities.topicAliasMaximum)
        : undefined;
  }

  /** Stops sending: entries wait for the next connection. */
  detach(): void {
    this.connection = undefined;
    this.aliases = undefined;
  }

  /** Queues an entry behind those already waiting and sends what the limits allow. */
  enqueue(entry: OutgoingEntry): void {
    this.inflight.waiting.push(entry);
    this.pump();
  }

  /** Sends waiting entries while connected, identifiers are free and the Receive Maximum allows. */
  pump(): void {
    const conn = this.connection;
    if (conn === undefined) return;
    const waiting = this.inflight.waiting;
    for (let entry = waiting.peek(); entry !== undefined; entry = waiting.peek()) {
      if (entry.kind === 'publish' && entry.packet.qos === 0) {
        waiting.shift();
        try {
          this.writePublish(conn, entry.packet);
          entry.resolve();
        } catch (error) {
          entry.reject(toError(error));
        }
        continue;
      }
      // [MQTT-3.3.4-7] at most Receive Maximum QoS 1/2 publishes unacknowledged.
      if (entry.kind === 'publish' && this.inflight.publishCount >= this.capabilities.receiveMaximum) return;
      const packetId = this.inflight.allocateId();
      if (packetId === undefined) return;
      waiting.shift();
      entry.packet.packetId = packetId;
      if (entry.kind === 'publish') {
        entry.awaiting = entry.packet.qos === 1 ? 'puback' : 'pubrec';
        try {
          this.writePublish(conn, entry.packet);
        } catch (error) {
          entry.reject(toError(error));
          continue;
        }
      } else {
        conn.send(entry.packet);
      }
      this.inflight.add(packetId, entry);
    }
  }

  /**
   * Writes a PUBLISH, replacing its topic by an alias when enabled. The alias is applied to the packet for
   * the encoding only: a stored packet keeps its topic name, since a retransmission on a later connection
   * cannot use this connection's aliases [MQTT-3.3.2-7]. Throws MqttError 0x95 when it is too large.
   */
  writePublish(conn: Connection, packet: PublishPacket): boolean {
    const aliases = this.aliases;
    const max = this.capabilities.maximumPacketSize;
    if (aliases === undefined || packet.properties?.topicAlias !== undefined)
      return conn.sendPublish(packet, max);
    const topic = packet.topic;
    const alias = aliases.lookup(topic);
    if (alias === 0) return conn.sendPublish(packet, max);
    const properties = packet.properties;
    packet.properties = aliases.properties(Math.abs(alias), properties);
    if (alias > 0) packet.topic = '';
    try {
      const written = conn.sendPublish(packet, max);
      if (alias < 0) aliases.commit(topic, -alias);
      return written;
    } finally {
      packet.topic = topic;
      packet.properties = properties;
    }
  }

  /** Matches an acknowledgement from the server to what we sent. Throws MqttError on a protocol violation. */
  acknowledge(conn: Connection, packet: AckPacket): void {
    switch (packet.type) {
      case 'puback':
      case 'pubcomp':
        this.completePublish(packet);
        break;
      case 'pubrec':
        this.onPubrec(conn, packet);
        break;
      case 'suback':
      case 'unsuback':
        this.completeRequest(packet);
        break;
    }
  }

  /**
   * On a new connection, before anything new is sent. A resumed session gets every unacknowledged PUBLISH
   * again with DUP set and PUBREL for QoS 2 messages past PUBREC, in their original order [MQTT-4.4.0-1]
   * [MQTT-3.3.1-1]. A lost session [MQTT-3.2.2-5]: QoS 2 messages past PUBREC count as delivered (the
   * server took them); `first` (resubscriptions), then the other unacknowledged entries go back to the head
   * of the queue, to be sent as new packets.
   */
  restore(conn: Connection, resumed: boolean, first: RequestEntry[]): void {
    const inflight = this.inflight;
    if (resumed) {
      for (const [packetId, entry] of inflight.entries()) {
        if (entry.kind !== 'publish') {
          conn.send(entry.packet);
        } else if (entry.awaiting === 'pubcomp') {
          conn.send({ type: 'pubrel', packetId });
        } else {
          entry.packet.dup = true;
          try {
            this.writePublish(conn, entry.packet);
          } catch (error) {
            inflight.delete(packetId);
            entry.reject(toError(error));
          }
        }
      }
      return;
    }
    const front: OutgoingEntry[] = [...first];
    for (const [packetId, entry] of [...inflight.entries()]) {
      inflight.delete(packetId);
      if (entry.kind === 'publish' && entry.awaiting === 'pubcomp') entry.resolve();
      else front.push(entry);
    }
    const rest = inflight.waiting.drain();
    for (const entry of front) inflight.waiting.push(entry);
    for (const entry of rest) inflight.waiting.push(entry);
  }

  private completePublish(packet: Extract<AckPacket, { type: 'puback' | 'pubcomp' }>): void {
    const entry = this.inflight.get(packet.packetId);
    if (entry?.kind !== 'publish' || entry.awaiting !== packet.type) return;
    this.inflight.delete(packet.packetId);
    const code = packet.reasonCode ?? 0;
    // A PUBCOMP 0x92 answers a PUBREL resent after the server had completed the exchange: the message was
    // accepted at PUBREC already.
    if (code >= 0x80 && !(packet.type === 'pubcomp' && code === ReasonCode.PacketIdentifierNotFound)) {
      entry.reject(new MqttError(code, packet.properties?.reasonString ?? 'PUBLISH refused by the server'));
    } else {
      entry.resolve();
    }
    this.pump();
  }

  private onPubrec(conn: Connection, packet: Extract<AckPacket, { type: 'pubrec' }>): void {
    const { packetId } = packet;
    const entry = this.inflight.get(packetId);
    if (entry?.kind !== 'publish' || entry.packet.qos !== 2) {
      // Spec 4.3.3 / 3.6.2.1: answer an unknown identifier so that the server can finish its side.
      if (this.version === 5)
        conn.send({ type: 'pubrel', packetId, reasonCode: ReasonCode.PacketIdentifierNotFound });
      else conn.send({ type: 'pubrel', packetId });
      return;
    }
    const code = packet.reasonCode ?? 0;
    if (code >= 0x80) {
      // Spec 4.3.3: a failed PUBREC ends the exchange, without PUBREL.
      this.inflight.delete(packetId);
      entry.reject(new MqttError(code, packet.properties?.reasonString ?? 'PUBLISH refused by the server'));
      this.pump();
      return;
    }
    entry.awaiting = 'pubcomp';
    conn.send({ type: 'pubrel', packetId });
  }

  private completeRequest(packet: Extract<AckPacket, { type: 'suback' | 'unsuback' }>): void {
    const entry = this.inflight.get(packet.packetId);
    const expected = packet.type === 'suback' ? 'subscribe' : 'unsubscribe';
    if (entry?.kind !== expected) return;
    this.inflight.delete(packet.packetId);
    const codes = packet.reasonCodes ?? [];
    const sent = entry.packet;
    const count = sent.type === 'subscribe' ? sent.subscriptions.length : sent.topicFilters.length;
    // A v3 UNSUBACK carries no reason codes.
    if (codes.length !== count && (packet.type === 'suback' || this.version === 5)) {
      entry.reject(
        MqttError.protocol(`${packet.type} with ${codes.length} reason codes for ${count} filters`),
      );
      throw MqttError.protocol(`${packet.type} carries ${codes.length} reason codes for ${count} filters`);
    }
    entry.resolve(codes);
    this.pump();
  }
}
