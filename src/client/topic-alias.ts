/**
 * MQTT 5 topic aliases (spec 3.3.2.3.4), which live only as long as one network connection
 * [MQTT-3.3.2-7]: a fresh instance is made for every connection.
 */
import { MqttError } from '../packets/errors.js';
import { ReasonCode } from '../packets/reason-codes.js';
import type { Properties, PublishPacket } from '../packets/types.js';

/** Aliases we send: topics get aliases 1..maximum in first-use order, kept for the connection's lifetime. */
export class OutboundTopicAliases {
  private readonly byTopic = new Map<string, number>();
  /** One shared `{ topicAlias }` object per alias, so aliased publishes without properties allocate nothing. */
  private readonly aliasProperties: Properties[] = [];

  /** @param maximum the server's Topic Alias Maximum; we never exceed it [MQTT-3.2.2-17] [MQTT-3.3.2-9]. */
  constructor(private readonly maximum: number) {}

  /**
   * The alias for `topic`: positive when the server already knows it (send an empty topic name), negative
   * for a free alias to introduce (send the topic name with it, then `commit`), 0 when none is left.
   */
  lookup(topic: string): number {
    const known = this.byTopic.get(topic);
    if (known !== undefined) return known;
    if (this.byTopic.size >= this.maximum) return 0;
    return -(this.byTopic.size + 1);
  }

  /** Records that the server has been sent `topic` with `alias` (only once the PUBLISH was written). */
  commit(topic: string, alias: number): void {
    this.byTopic.set(topic, alias);
    this.aliasProperties[alias] = { topicAlias: alias };
  }

  /** The properties carrying `alias`, merged with the publish's own properties if it has any. */
  properties(alias: number, own: Properties | undefined): Properties {
    if (own === undefined) return this.aliasProperties[alias] ?? { topicAlias: alias };
    return { ...own, topicAlias: alias };
  }
}

/** Aliases the server sends us, up to the Topic Alias Maximum we announced. */
export class InboundTopicAliases {
  private readonly topics: (string | undefined)[] = [];

  constructor(private readonly maximum: number) {}

  /**
   * Records or applies the topic alias of an inbound PUBLISH, filling in its topic name. Throws MqttError
   * 0x94 for an alias out of range and 0x82 for an alias never mapped on this connection.
   */
  resolve(packet: PublishPacket): void {
    const alias = packet.properties?.topicAlias;
    if (alias === undefined) return;
    // [MQTT-3.3.2-8] alias 0 is not permitted; [MQTT-3.3.2-10] we accept 1..the maximum we sent.
    if (alias === 0 || alias > this.maximum) {
      throw new MqttError(ReasonCode.TopicAliasInvalid, `topic alias ${alias} outside 1..${this.maximum}`);
    }
    if (packet.topic.length > 0) {
      this.topics[alias] = packet.topic;
      return;
    }
    const topic = this.topics[alias];
    if (topic === undefined) throw MqttError.protocol(`topic alias ${alias} used before it was mapped`);
    packet.topic = topic;
  }
}
