import { randomBytes } from 'node:crypto';
import { MqttError } from '../packets/errors.js';
import { isValidTopicName } from '../packets/index.js';
import { ReasonCode } from '../packets/reason-codes.js';
import type { ConnackPacket, ConnectPacket, Properties } from '../packets/types.js';
import type { Connection } from './connection.js';
import { ownBytes } from './message.js';

const NEVER_EXPIRES = 0xffffffff;

/**
 * CONNECT: validate the client identifier, authenticate (hooks, possibly async or an AUTH exchange),
 * take over an existing connection of the same client, resume or start the session, answer CONNACK.
 */
export function handleConnect(conn: Connection, packet: ConnectPacket): Promise<void> | undefined {
  const broker = conn.broker;
  conn.connect = packet;
  conn.protocolVersion = packet.protocolVersion;
  conn.username = packet.username;
  const v5 = packet.protocolVersion === 5;
  let clientId = packet.clientId;
  if (clientId.length === 0) {
    if (packet.protocolVersion === 3) {
      // MQTT 3.1 (3.1 spec, CONNECT payload): the client identifier must be 1 to 23 characters.
      throw new MqttError(ReasonCode.ClientIdentifierNotValid, 'MQTT 3.1 requires a client identifier');
    }
    if (!packet.clean && packet.protocolVersion === 4) {
      // (3.1.1: [MQTT-3.1.3-8]) An empty ClientId with CleanSession 0 is refused with return code 0x02.
      throw new MqttError(
        ReasonCode.ClientIdentifierNotValid,
        'empty client identifier requires clean session',
      );
    }
    // [MQTT-3.1.3-6] [MQTT-3.1.3-7] The server assigns a unique identifier (v5: returned in CONNACK).
    clientId = `${broker.options.assignedClientIdPrefix}${randomBytes(8).toString('hex')}`;
    conn.assignedClientId = clientId;
  } else if (packet.protocolVersion === 3 && clientId.length > 23 && !broker.options.allowLongV31ClientIds) {
    throw new MqttError(
      ReasonCode.ClientIdentifierNotValid,
      'MQTT 3.1 client identifiers are at most 23 characters',
    );
  }
  conn.clientId = clientId;
  broker.checkConnectionLimits(conn);
  // The will lives as long as the connection: it must not pin the chunk the CONNECT arrived in.
  conn.will =
    packet.will === undefined ? undefined : { ...packet.will, payload: ownBytes(packet.will.payload) };
  if (v5) {
    const p = packet.properties;
    // [MQTT-3.3.4-9] Receive Maximum of the client bounds our QoS 1/2 sends in flight.
    conn.sendQuota = p?.receiveMaximum ?? 65_535;
    if (p?.maximumPacketSize !== undefined) conn.clientMaximumPacketSize = p.maximumPacketSize;
    conn.clientTopicAliasMaximum = p?.topicAliasMaximum ?? 0;
    conn.problemInformation = p?.requestProblemInformation !== 0;
  } else {
    conn.sendQuota = broker.options.receiveMaximum;
  }
  if (packet.will !== undefined && !isValidTopicName(packet.will.topic)) {
    // The will is published like a PUBLISH, so its topic follows the topic name rules (spec 3.1.3.3, 4.7).
    throw new MqttError(ReasonCode.TopicNameInvalid, 'will topic is not a valid topic name');
  }
  if (packet.will !== undefined && packet.will.qos > broker.options.maximumQoS) {
    // [MQTT-3.2.2-12] A will QoS above Maximum QoS is refused with 0x9B.
    throw new MqttError(ReasonCode.QoSNotSupported, 'will QoS above the maximum QoS');
  }
  if (packet.will?.retain === true && !broker.options.retainAvailable) {
    // [MQTT-3.2.2-13] A retained will when retain is not available is refused with 0x9A.
    throw new MqttError(ReasonCode.RetainNotSupported, 'retained will not supported');
  }
  const method = packet.properties?.authenticationMethod;
  if (v5 && method !== undefined) {
    return broker.auth.startConnectAuth(conn, packet, method).then((properties) => {
      if (properties !== undefined) completeConnect(conn, packet, properties);
    });
  }
  const verdict = broker.authenticate(conn, packet);
  if (verdict === true) {
    completeConnect(conn, packet, undefined);
    return undefined;
  }
  if (verdict === false) throw authFailure(conn, packet);
  return verdict.then((ok) => {
    if (!ok) throw authFailure(conn, packet);
    completeConnect(conn, packet, undefined);
  });
}

function authFailure(conn: Connection, packet: ConnectPacket): MqttError {
  const code =
    packet.username !== undefined || packet.password !== undefined
      ? ReasonCode.BadUserNameOrPassword
      : ReasonCode.NotAuthorized;
  return new MqttError(code, `client ${conn.clientId} not authorized`);
}

/** Authentication passed: attach the session and send CONNACK. Extra CONNACK properties come from AUTH. */
export function completeConnect(
  conn: Connection,
  packet: ConnectPacket,
  authProperties: Properties | undefined,
): void {
  if (conn.state !== 'connecting') return;
  const broker = conn.broker;
  const options = broker.options;
  const v5 = packet.protocolVersion === 5;
  // v3: Clean Session 0 means the session never expires; v5: the Session Expiry Interval says. [MQTT-3.1.2-23]
  const requestedExpiry = v5
    ? (packet.properties?.sessionExpiryInterval ?? 0)
    : packet.clean
      ? 0
      : NEVER_EXPIRES;
  const expiry = broker.capExpiry(requestedExpiry);
  const { session, sessionPresent } = broker.attachSession(conn, packet.clean, expiry);
  let keepalive = packet.keepalive;
  if (options.serverKeepAlive !== undefined && v5) keepalive = options.serverKeepAlive;
  conn.keepaliveMs = keepalive * 1000;
  const connack: ConnackPacket = { type: 'connack', sessionPresent, reasonCode: ReasonCode.Success };
  if (v5) {
    const properties: Properties = {
      receiveMaximum: options.receiveMaximum,
      topicAliasMaximum: options.topicAliasMaximum,
      retainAvailable: options.retainAvailable ? 1 : 0,
      wildcardSubscriptionAvailable: options.wildcardSubscriptionAvailable ? 1 : 0,
      subscriptionIdentifiersAvailable: options.subscriptionIdentifiersAvailable ? 1 : 0,
      sharedSubscriptionAvailable: options.sharedSubscriptionAvailable ? 1 : 0,
      ...authProperties,
    };
    // [MQTT-3.2.2-9] Maximum QoS is sent only when the server does not support QoS 2.
    if (options.maximumQoS < 2) properties.maximumQoS = options.maximumQoS;
    if (options.maximumPacketSize < 268_435_460) properties.maximumPacketSize = options.maximumPacketSize;
    if (conn.assignedClientId !== undefined) properties.assignedClientIdentifier = conn.assignedClientId;
    // [MQTT-3.2.2-21] Server Keep Alive overrides the client's value.
    if (options.serverKeepAlive !== undefined) properties.serverKeepAlive = options.serverKeepAlive;
    if (expiry !== requestedExpiry) properties.sessionExpiryInterval = expiry;
    if (packet.properties?.requestResponseInformation === 1 && options.responseInformation !== undefined) {
      properties.responseInformation = options.responseInformation.replaceAll('%c', conn.clientId);
    }
    connack.properties = properties;
  }
  conn.state = 'connected';
  conn.send(connack);
  broker.onSessionEstablished(conn, session, sessionPresent);
}
