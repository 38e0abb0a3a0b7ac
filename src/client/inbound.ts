/**
 * The client's inbound flow: topic aliases, QoS 1/2 acknowledgements, exactly-once delivery of QoS 2
 * (spec 4.3.3), and routing of messages to handlers and subscriptions.
 */
import { MqttError } from '../packets/errors.js';
import { ReasonCode } from '../packets/reason-codes.js';
import type { ProtocolVersionNumber, PublishPacket } from '../packets/types.js';
import type { Connection } from './connection.js';
import type { Subscription } from './subscription.js';
import { InboundTopicAliases } from './topic-alias.js';
import type { Message } from './types.js';

export class Inbound {
  /** Active subscriptions, in subscribe order. */
  readonly subscriptions = new Set<Subscription>();
  private handlers: ((message: Message) => void)[] = [];
  /** Packet identifiers of QoS 2 messages delivered and awaiting PUBREL: session state. */
  private qos2: Set<number> | undefined;
  private aliases: InboundTopicAliases | undefined;

  constructor(
    private readonly version: ProtocolVersionNumber,
    private readonly onError: (error: Error) => void,
  ) {}

  /**
   * Prepares for a new connection: aliases start afresh [MQTT-3.3.2-7]; without a resumed session the
   * QoS 2 state goes too [MQTT-3.2.2-5].
   */
  reset(resumed: boolean, topicAliasMaximum: number): void {
    this.aliases = topicAliasMaximum > 0 ? new InboundTopicAliases(topicAliasMaximum) : undefined;
    if (!resumed) this.qos2 = undefined;
  }

  /** Adds a handler called for every message; returns its remover. */
  addHandler(handler: (message: Message) => void): () => void {
    this.handlers = [...this.handlers, handler];
    return () => {
      this.handlers = this.handlers.filter((h) => h !== handler);
    };
  }

  /** Handles a PUBLISH from the server. Throws MqttError on a protocol violation. */
  receivePublish(conn: Connection, packet: PublishPacket): void {
    if (this.aliases !== undefined) {
      this.aliases.resolve(packet);
    } else if (packet.properties?.topicAlias !== undefined) {
      // [MQTT-3.3.2-10] we announced no aliases, so none is acceptable.
      throw new MqttError(ReasonCode.TopicAliasInvalid, 'topic alias received, none allowed');
    }
    if (packet.topic.length === 0) throw MqttError.protocol('PUBLISH without a topic name');
    const packetId = packet.packetId ?? 0;
    switch (packet.qos) {
      case 0:
        this.deliver(packet);
        return;
      case 1:
        this.deliver(packet);
        conn.send({ type: 'puback', packetId });
        return;
      case 2: {
        // Delivered on first receipt, the identifier held until PUBREL: a redelivered PUBLISH (DUP) is
        // acknowledged again but not delivered twice.
        const held = this.qos2 ?? new Set<number>();
        this.qos2 = held;
        if (!held.has(packetId)) {
          held.add(packetId);
          this.deliver(packet);
        }
        conn.send({ type: 'pubrec', packetId });
        return;
      }
    }
  }

  /** Completes an inbound QoS 2 exchange: the identifier may carry a new message again. */
  receivePubrel(conn: Connection, packetId: number): void {
    const known = this.qos2?.delete(packetId) ?? false;
    if (known || this.version < 5) conn.send({ type: 'pubcomp', packetId });
    else conn.send({ type: 'pubcomp', packetId, reasonCode: ReasonCode.PacketIdentifierNotFound });
  }

  /** Ends every subscription's iteration. */
  closeAll(): void {
    for (const subscription of this.subscriptions) subscription.close();
    this.subscriptions.clear();
  }

  private deliver(message: Message): void {
    const handlers = this.handlers;
    for (let i = 0; i < handlers.length; i++) {
      try {
        (handlers[i] as (m: Message) => void)(message);
      } catch (error) {
        this.onError(error instanceof Error ? error : new Error(String(error)));
      }
    }
    if (this.subscriptions.size === 0) return;
    for (const subscription of this.subscriptions) {
      if (subscription.matches(message.topic)) subscription.push(message);
    }
  }
}
