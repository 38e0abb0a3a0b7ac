import { MqttError } from '../packets/errors.js';
import { hasMoreLevelsThan } from '../packets/index.js';
import { ReasonCode } from '../packets/reason-codes.js';
import type { PublishPacket } from '../packets/types.js';
import type { PublishVerdict, RefuseReason } from './hooks.js';
import { createMessage } from './message.js';
import type { ProtocolPeer } from './protocol-peer.js';

/**
 * A PUBLISH from a client: resolve its topic alias, enforce the server's limits, run publish hooks and
 * the ACL, route it, and acknowledge per its QoS. Returns a promise only when a hook went async.
 */
export function handleInboundPublish(conn: ProtocolPeer, input: PublishPacket): Promise<void> | undefined {
  const services = conn.services;
  const options = services.options;
  const session = conn.session!;
  let packet = input;
  if (conn.protocolVersion === 5) {
    const responseTopic = packet.properties?.responseTopic;
    // [MQTT-3.3.2-14] A Response Topic is a topic name: wildcards in it are a Protocol Error.
    if (responseTopic !== undefined && (responseTopic.includes('+') || responseTopic.includes('#'))) {
      throw MqttError.protocol('response topic with wildcards');
    }
    // [MQTT-3.3.4-6] Subscription Identifiers go from server to client only.
    if (packet.properties?.subscriptionIdentifiers !== undefined) {
      throw MqttError.protocol('subscription identifier in a PUBLISH from a client');
    }
    const alias = packet.properties?.topicAlias;
    if (alias !== undefined) {
      // [MQTT-3.3.2-9] [MQTT-3.3.2-10] An alias of 0 or above our Topic Alias Maximum: DISCONNECT 0x94.
      if (alias === 0 || alias > options.topicAliasMaximum) {
        throw new MqttError(ReasonCode.TopicAliasInvalid, `topic alias ${alias} out of range`);
      }
      if (packet.topic.length === 0) {
        const topic = conn.inboundAlias(alias);
        // (spec 3.3.4, no statement id) An alias never set on this connection is a Protocol Error.
        if (topic === undefined) throw MqttError.protocol(`topic alias ${alias} is not set`);
        packet = { ...packet, topic };
      } else {
        conn.setInboundAlias(alias, packet.topic);
      }
    }
  }
  if (packet.topic.length === 0) throw MqttError.protocol('PUBLISH without topic name');
  if (packet.qos > options.maximumQoS) {
    // [MQTT-3.2.2-11] A QoS above Maximum QoS: DISCONNECT 0x9B.
    throw new MqttError(ReasonCode.QoSNotSupported, `QoS ${packet.qos} not supported`);
  }
  if (packet.retain && !options.retainAvailable) {
    // [MQTT-3.2.2-14] RETAIN when retain is not available: DISCONNECT 0x9A.
    throw new MqttError(ReasonCode.RetainNotSupported, 'retain not supported');
  }
  services.stats.countPublishIn(packet.qos, packet.payload.length);
  if (packet.qos === 2) {
    const packetId = packet.packetId!;
    if (session.inboundQos2.has(packetId)) {
      // [MQTT-4.3.3-9] A re-sent QoS 2 PUBLISH is acknowledged again but not delivered twice.
      conn.acknowledge('pubrec', packetId);
      return undefined;
    }
    // [MQTT-3.3.4-7] More unacknowledged QoS 2 messages than our Receive Maximum: DISCONNECT 0x93.
    if (conn.protocolVersion === 5 && session.inboundQos2.size >= options.receiveMaximum) {
      throw new MqttError(ReasonCode.ReceiveMaximumExceeded, 'receive maximum exceeded');
    }
  }
  if (packet.topic === '$SYS' || packet.topic.startsWith('$SYS/')) {
    // Spec 4.7.2 (no statement id): '$' topics belong to the server; only the broker writes `$SYS/`,
    // whatever the hooks or ACL say, so clients cannot forge broker statistics.
    refusePublish(conn, packet, ReasonCode.NotAuthorized, 'sys-topic');
    return undefined;
  }
  if (hasMoreLevelsThan(packet.topic, options.maxTopicLevels)) {
    // Deeper than maxTopicLevels: refused as Mosquitto does past 200 levels (not a spec rule).
    services.logger.debug({ clientId: session.clientId }, 'PUBLISH refused: too many topic levels');
    refusePublish(conn, packet, ReasonCode.TopicNameInvalid, 'topic-levels');
    return undefined;
  }
  if (packet.qos > 0 && services.turn.refusing) {
    // The store cannot commit (disk full, ...) or is low on space: nothing that would need it is acknowledged.
    storeUnavailable(conn, packet);
    return undefined;
  }
  const hooks = services.hooks.on.onPublish;
  if (hooks.length === 0) {
    return authorizeAndRoute(conn, packet);
  }
  return runPublishHooks(conn, packet, 0);
}

/** Chain the publish hooks: each sees the previous one's packet; the first reject stops the chain. */
function runPublishHooks(conn: ProtocolPeer, packet: PublishPacket, from: number): Promise<void> | undefined {
  const hooks = conn.services.hooks.on.onPublish;
  for (let i = from; i < hooks.length; i++) {
    const verdict = (hooks[i] as (typeof hooks)[number]).onPublish(conn, packet);
    if (verdict instanceof Promise) {
      return verdict.then((v) => {
        const next = applyVerdict(conn, packet, v);
        if (next === undefined) return undefined;
        return runPublishHooks(conn, next, i + 1);
      });
    }
    const next = applyVerdict(conn, packet, verdict);
    if (next === undefined) return undefined;
    packet = next;
  }
  return authorizeAndRoute(conn, packet);
}

function applyVerdict(
  conn: ProtocolPeer,
  packet: PublishPacket,
  verdict: PublishVerdict,
): PublishPacket | undefined {
  if (verdict.action === 'continue') return verdict.packet ?? packet;
  refusePublish(conn, packet, verdict.reasonCode, 'hook');
  return undefined;
}

function authorizeAndRoute(conn: ProtocolPeer, packet: PublishPacket): Promise<void> | undefined {
  const allowed = conn.services.access.authorize(conn, packet.topic, 'write');
  if (allowed === true) {
    acceptPublish(conn, packet);
    return undefined;
  }
  if (allowed === false) {
    refusePublish(conn, packet, ReasonCode.NotAuthorized, 'not-authorized');
    return undefined;
  }
  return allowed.then((ok) => {
    if (ok) acceptPublish(conn, packet);
    else refusePublish(conn, packet, ReasonCode.NotAuthorized, 'not-authorized');
  });
}

/**
 * A refused PUBLISH: v5 acknowledges it with the reason code; v3 has no way to say no, so QoS 1/2 are
 * acknowledged as usual and the message is discarded (as Mosquitto does). [MQTT-3.3.5-2] Counted by `reason`.
 */
function refusePublish(
  conn: ProtocolPeer,
  packet: PublishPacket,
  reasonCode: number,
  reason: RefuseReason,
): void {
  conn.services.stats.refused[reason]++;
  const v5 = conn.protocolVersion === 5;
  if (packet.qos === 1) {
    conn.send(
      v5
        ? { type: 'puback', packetId: packet.packetId!, reasonCode }
        : { type: 'puback', packetId: packet.packetId! },
    );
  } else if (packet.qos === 2) {
    conn.send(
      v5
        ? { type: 'pubrec', packetId: packet.packetId!, reasonCode }
        : { type: 'pubrec', packetId: packet.packetId! },
    );
    // v3 still expects a PUBREL flow for this identifier.
    if (!v5) conn.session!.addInboundQos2(packet.packetId!);
  }
}

/** A QoS 1/2 PUBLISH while the store fails or is low on space: v5 PUBACK/PUBREC 0x97 Quota exceeded; v3 cannot refuse, so it is closed. */
function storeUnavailable(conn: ProtocolPeer, packet: PublishPacket): void {
  conn.services.stats.refused['store-unavailable']++;
  if (conn.protocolVersion !== 5) {
    conn.disconnect(ReasonCode.QuotaExceeded);
    return;
  }
  const packetId = packet.packetId!;
  conn.send({ type: packet.qos === 1 ? 'puback' : 'pubrec', packetId, reasonCode: ReasonCode.QuotaExceeded });
}

function acceptPublish(conn: ProtocolPeer, packet: PublishPacket): void {
  const services = conn.services;
  const message = createMessage(
    packet.topic,
    packet.payload,
    packet.qos,
    packet.retain,
    packet.properties,
    conn.clientId,
    Date.now(),
  );
  services.pipeline.publish(message, conn);
  // What the message holds in memory while its acknowledgement waits for a commit (the memory budget's).
  const bytes = packet.payload.length + packet.topic.length;
  if (packet.qos === 1) {
    // [MQTT-4.3.2-2] PUBACK after taking ownership of the message (with a store: once it is committed).
    conn.acknowledge('puback', packet.packetId!, bytes);
  } else if (packet.qos === 2) {
    // [MQTT-4.3.3-8] Hold the packet identifier until PUBREL; answer PUBREC.
    const session = conn.session!;
    session.addInboundQos2(packet.packetId!);
    services.durable.inboundQos2Added(session, packet.packetId!);
    conn.acknowledge('pubrec', packet.packetId!, bytes);
  }
}

/** PUBREL: release the QoS 2 packet identifier and answer PUBCOMP (0x92 in v5 when unknown). */
export function handlePubrel(conn: ProtocolPeer, packetId: number): void {
  const session = conn.session!;
  // [MQTT-4.3.3-11] After PUBREL the identifier may be reused; PUBCOMP completes the flow.
  const known = session.deleteInboundQos2(packetId);
  if (!known) {
    conn.send(
      conn.protocolVersion === 5
        ? { type: 'pubcomp', packetId, reasonCode: ReasonCode.PacketIdentifierNotFound }
        : { type: 'pubcomp', packetId },
    );
    return;
  }
  conn.services.durable.inboundQos2Released(session, packetId);
  conn.acknowledge('pubcomp', packetId);
}
