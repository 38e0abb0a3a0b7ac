import { MqttError } from '../packets/errors.js';
import { ReasonCode } from '../packets/reason-codes.js';
import type { DisconnectPacket, Packet } from '../packets/types.js';
import { handleAuthPacket, handleConnect } from './connect-flow.js';
import { handleInboundPublish, handlePubrel } from './inbound-publish.js';
import type { ProtocolPeer } from './protocol-peer.js';
import type { Session } from './session.js';
import { handleSubscribe, handleUnsubscribe } from './subscribe-flow.js';

/** Route one packet to its handler. Returns a promise only when a handler went async. */
export function dispatchPacket(conn: ProtocolPeer, input: Packet): Promise<void> | undefined {
  let packet: Packet | undefined = input;
  const readHooks = conn.services.hooks.on.onPacketRead;
  if (readHooks.length > 0) {
    for (const hook of readHooks) {
      packet = hook.onPacketRead(conn, packet);
      if (packet === undefined) {
        // A PUBLISH a hook drops is not delivered: refused by a hook, as an `onPublish` reject is counted.
        if (input.type === 'publish' && conn.state !== 'connecting') conn.services.stats.refused.hook++;
        return undefined;
      }
    }
  }
  if (conn.state === 'connecting') {
    // [MQTT-3.1.0-1] The first packet sent from the Client to the Server MUST be a CONNECT packet.
    if (packet.type === 'auth' && conn.authMethod !== undefined) return handleAuthPacket(conn, packet);
    if (packet.type !== 'connect' || conn.connect !== undefined) {
      throw MqttError.protocol(`expected CONNECT as the first packet, got ${packet.type.toUpperCase()}`);
    }
    return handleConnect(conn, packet);
  }
  const session = conn.session as Session;
  const outbound = conn.services.outbound;
  switch (packet.type) {
    case 'publish':
      return handleInboundPublish(conn, packet);
    case 'puback':
      outbound.puback(session, packet.packetId);
      return undefined;
    case 'pubrec': {
      const outcome = outbound.pubrec(session, packet.packetId, packet.reasonCode ?? 0);
      if (outcome === 'release') conn.acknowledge('pubrel', packet.packetId);
      else if (outcome === 'unknown') {
        // (spec 3.6.2.1, no statement id) Unknown identifier: answer PUBREL 0x92 in v5 so the client can finish.
        conn.send(
          conn.protocolVersion === 5
            ? { type: 'pubrel', packetId: packet.packetId, reasonCode: ReasonCode.PacketIdentifierNotFound }
            : { type: 'pubrel', packetId: packet.packetId },
        );
      }
      return undefined;
    }
    case 'pubrel':
      handlePubrel(conn, packet.packetId);
      return undefined;
    case 'pubcomp':
      outbound.pubcomp(session, packet.packetId);
      return undefined;
    case 'subscribe':
      return handleSubscribe(conn, packet);
    case 'unsubscribe':
      handleUnsubscribe(conn, packet);
      return undefined;
    case 'pingreq':
      conn.send({ type: 'pingresp' });
      return undefined;
    case 'disconnect':
      onClientDisconnect(conn, packet);
      return undefined;
    case 'connect':
      // [MQTT-3.1.0-2] A second CONNECT packet is a Protocol Error.
      throw MqttError.protocol('second CONNECT on one connection');
    case 'auth':
      return handleAuthPacket(conn, packet);
    default:
      // (spec 2.1.2, no statement id) CONNACK, SUBACK, UNSUBACK, PINGRESP are sent only by a server.
      throw MqttError.protocol(`a client must not send ${packet.type.toUpperCase()}`);
  }
}

/** DISCONNECT from the client: a new session expiry, the will kept or discarded, then close. */
function onClientDisconnect(conn: ProtocolPeer, packet: DisconnectPacket): void {
  const reasonCode = packet.reasonCode ?? 0;
  const session = conn.session;
  const newExpiry = packet.properties?.sessionExpiryInterval;
  if (session !== undefined && newExpiry !== undefined) {
    // [MQTT-3.14.2-2] Session Expiry 0 at CONNECT may not become non-zero at DISCONNECT.
    if (session.expiryInterval === 0 && newExpiry !== 0) {
      throw MqttError.protocol('session expiry interval changed from 0 at DISCONNECT');
    }
    const cap = conn.services.options.maximumSessionExpiryInterval;
    conn.services.sessions.expiryChanged(session, cap !== undefined && newExpiry > cap ? cap : newExpiry);
  }
  // [MQTT-3.14.4-3] On a normal DISCONNECT the will is discarded; v5 reason 0x04 asks for it.
  if (reasonCode !== ReasonCode.DisconnectWithWillMessage) conn.will = undefined;
  conn.closeByClient(reasonCode);
}
