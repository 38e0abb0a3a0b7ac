import { randomBytes } from 'node:crypto';
import { MqttError } from '../packets/errors.js';
import { encode, hasMoreLevelsThan, isValidTopicName } from '../packets/index.js';
import { ReasonCode, toV3ConnackCode } from '../packets/reason-codes.js';
import type { AuthPacket, ConnackPacket, ConnectPacket, Properties } from '../packets/types.js';
import type { AuthStep, ConnectRefuseReason } from './hooks.js';
import { ownBytes } from './message.js';
import type { ProtocolPeer } from './protocol-peer.js';
import { restoreClaimed } from './restore.js';
import type { Session } from './session.js';

const NEVER_EXPIRES = 0xffffffff;

/**
 * CONNECT: validate the client identifier, authenticate (hooks, possibly async or an AUTH exchange),
 * take over an existing connection of the same client, resume or start the session, answer CONNACK.
 */
export function handleConnect(conn: ProtocolPeer, packet: ConnectPacket): Promise<void> | undefined {
  const services = conn.services;
  const options = services.options;
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
    clientId = `${options.assignedClientIdPrefix}${randomBytes(8).toString('hex')}`;
    conn.assignedClientId = clientId;
  } else if (packet.protocolVersion === 3 && clientId.length > 23 && !options.allowLongV31ClientIds) {
    throw new MqttError(
      ReasonCode.ClientIdentifierNotValid,
      'MQTT 3.1 client identifiers are at most 23 characters',
    );
  }
  conn.clientId = clientId;
  services.admission.check(conn);
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
    conn.sendQuota = options.receiveMaximum;
  }
  if (packet.will !== undefined && !isValidTopicName(packet.will.topic)) {
    // The will is published like a PUBLISH, so its topic follows the topic name rules (spec 3.1.3.3, 4.7).
    throw new MqttError(ReasonCode.TopicNameInvalid, 'will topic is not a valid topic name');
  }
  if (packet.will !== undefined && hasMoreLevelsThan(packet.will.topic, options.maxTopicLevels)) {
    throw new MqttError(
      ReasonCode.TopicNameInvalid,
      `will topic has more than ${options.maxTopicLevels} levels`,
    );
  }
  if (packet.will !== undefined && packet.will.qos > options.maximumQoS) {
    // [MQTT-3.2.2-12] A will QoS above Maximum QoS is refused with 0x9B.
    throw new MqttError(ReasonCode.QoSNotSupported, 'will QoS above the maximum QoS');
  }
  if (packet.will?.retain === true && !options.retainAvailable) {
    // [MQTT-3.2.2-13] A retained will when retain is not available is refused with 0x9A.
    throw new MqttError(ReasonCode.RetainNotSupported, 'retained will not supported');
  }
  const method = packet.properties?.authenticationMethod;
  if (v5 && method !== undefined) {
    return startConnectAuth(conn, packet, method).then((properties) =>
      properties === undefined ? undefined : completeConnect(conn, packet, properties),
    );
  }
  const verdict = services.access.authenticate(conn, packet);
  if (verdict === true) return completeConnect(conn, packet, undefined);
  if (verdict === false) throw authFailure(conn, packet);
  return verdict.then((ok) => {
    if (!ok) throw authFailure(conn, packet);
    return completeConnect(conn, packet, undefined);
  });
}

function authFailure(conn: ProtocolPeer, packet: ConnectPacket): MqttError {
  const code =
    packet.username !== undefined || packet.password !== undefined
      ? ReasonCode.BadUserNameOrPassword
      : ReasonCode.NotAuthorized;
  return new MqttError(code, `client ${conn.clientId} not authorized`);
}

/**
 * Authentication passed: check the will's topic, attach the session and send CONNACK. Extra CONNACK
 * properties come from AUTH.
 */
export function completeConnect(
  conn: ProtocolPeer,
  packet: ConnectPacket,
  authProperties: Properties | undefined,
): Promise<void> | undefined {
  if (conn.state !== 'connecting') return undefined;
  const will = packet.will;
  if (will === undefined) return claimAndAttach(conn, packet, authProperties);
  // A will its client may not publish is refused with the CONNECT (0x87, v3: 0x05), as Mosquitto and
  // VerneMQ do, rather than accepted and dropped when it falls due. (Checked again then: an ACL may change.)
  const allowed = conn.services.access.authorize(conn, will.topic, 'write');
  if (allowed === true) return claimAndAttach(conn, packet, authProperties);
  if (allowed === false) throw willRefused(conn, will.topic);
  return allowed.then((ok) => {
    if (!ok) throw willRefused(conn, will.topic);
    return conn.state === 'connecting' ? claimAndAttach(conn, packet, authProperties) : undefined;
  });
}

function willRefused(conn: ProtocolPeer, topic: string): MqttError {
  return new MqttError(
    ReasonCode.NotAuthorized,
    `client ${conn.clientId} may not publish its will to ${topic}`,
  );
}

function claimAndAttach(
  conn: ProtocolPeer,
  packet: ConnectPacket,
  authProperties: Properties | undefined,
): Promise<void> | undefined {
  // A store shared by a cluster: take the session over first, from whichever node held it.
  const claimed = conn.services.durable.claim(conn.clientId, packet.clean);
  if (claimed !== undefined) {
    return claimed.then(
      (state) => {
        // The session is this broker's now, even when its client left during the take-over: a stored one
        // is kept here (offline then, its queued messages with it); an ownership with nothing to hold goes.
        const connecting = conn.state === 'connecting';
        try {
          if (state !== undefined) restoreClaimed(state, conn.services);
        } finally {
          conn.services.durable.claimSettled(conn.clientId, connecting || state !== undefined);
        }
        if (!connecting) return undefined;
        return attachWhenCommitted(conn, packet, authProperties);
      },
      (err: unknown) => {
        throw new MqttError(ReasonCode.ServerUnavailable, `cannot take over the session: ${String(err)}`);
      },
    );
  }
  return attachWhenCommitted(conn, packet, authProperties);
}

function attachWhenCommitted(
  conn: ProtocolPeer,
  packet: ConnectPacket,
  authProperties: Properties | undefined,
): Promise<void> | undefined {
  // A session resumed is answered with Session Present only once its stored state is committed (with a
  // persistent store): wait for the commit before attaching, so nothing reaches the client before CONNACK.
  const resuming = !packet.clean && conn.services.sessions.get(conn.clientId) !== undefined;
  const committed = resuming ? conn.services.turn.barrier() : undefined;
  if (committed === undefined) {
    attachAndAnswer(conn, packet, authProperties);
    return undefined;
  }
  return committed.then(() => attachAndAnswer(conn, packet, authProperties));
}

function attachAndAnswer(
  conn: ProtocolPeer,
  packet: ConnectPacket,
  authProperties: Properties | undefined,
): void {
  if (conn.state !== 'connecting') return;
  const services = conn.services;
  const options = services.options;
  const v5 = packet.protocolVersion === 5;
  // v3: Clean Session 0 means the session never expires; v5: the Session Expiry Interval says. [MQTT-3.1.2-23]
  const requestedExpiry = v5
    ? (packet.properties?.sessionExpiryInterval ?? 0)
    : packet.clean
      ? 0
      : NEVER_EXPIRES;
  const expiry = capExpiry(options.maximumSessionExpiryInterval, requestedExpiry);
  const { session, sessionPresent } = services.sessions.attach(conn, packet.clean, expiry);
  conn.session = session;
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
  established(conn, session, sessionPresent);
}

/** CONNACK was sent: count the client, tell the hooks, resume the session's flows. */
function established(conn: ProtocolPeer, session: Session, sessionPresent: boolean): void {
  const services = conn.services;
  services.admission.connected(conn.listener);
  for (const hook of services.hooks.on.onConnect) hook.onConnect(conn, conn.connect!);
  // The CONNECT packet has served (hooks, enhanced auth): an idle connection does not keep it.
  conn.connect = undefined;
  if (sessionPresent) services.outbound.resume(session);
  for (const hook of services.hooks.on.onSessionEstablished) hook.onSessionEstablished(conn, sessionPresent);
  services.logger.debug(
    { clientId: conn.clientId, listener: conn.listener, sessionPresent },
    'client connected',
  );
}

/** A CONNECT that cannot be accepted: CONNACK with the reason (v3: the mapped return code), then close. */
export function refuseConnect(conn: ProtocolPeer, error: MqttError): void {
  let code = error.reasonCode;
  let version = conn.protocolVersion;
  if (code === ReasonCode.UnsupportedProtocolVersion) {
    // [MQTT-3.1.2-2] Unsupported level: CONNACK 0x84 (v5) or return code 0x01 (v3), then close.
    version = (error.protocolLevel ?? 4) >= 5 ? 5 : 4;
  } else if (conn.connect === undefined) {
    // [MQTT-3.1.4-1] A CONNECT that does not parse: close without CONNACK.
    conn.services.stats.connectRefused.malformed++;
    conn.close();
    return;
  }
  conn.services.stats.connectRefused[connectRefusal(code)]++;
  if (version !== 5) {
    const v3 = toV3ConnackCode(code);
    if (v3 === undefined) {
      conn.close();
      return;
    }
    code = v3;
  }
  conn.protocolVersion = version;
  conn.writer.append(encode({ type: 'connack', sessionPresent: false, reasonCode: code }, version));
  conn.close();
}

/** What a CONNECT refused with `code` counts as. */
function connectRefusal(code: number): ConnectRefuseReason {
  switch (code) {
    case ReasonCode.BadUserNameOrPassword:
    case ReasonCode.NotAuthorized:
    case ReasonCode.BadAuthenticationMethod:
      return 'not-authorized';
    case ReasonCode.ClientIdentifierNotValid:
      return 'client-id';
    case ReasonCode.UnsupportedProtocolVersion:
      return 'protocol-version';
    case ReasonCode.QuotaExceeded:
    case ReasonCode.ServerBusy:
    case ReasonCode.ConnectionRateExceeded:
      return 'limits';
    case ReasonCode.TopicNameInvalid:
    case ReasonCode.QoSNotSupported:
    case ReasonCode.RetainNotSupported:
      return 'will';
    default:
      return 'other';
  }
}

/** Cap a requested Session Expiry Interval at the configured maximum. */
export function capExpiry(cap: number | undefined, requested: number): number {
  return cap !== undefined && requested > cap ? cap : requested;
}

// ---- MQTT 5 enhanced authentication (spec 4.12), driven by the first `onAuthPacket` hook that answers ----

/** CONNECT carried an Authentication Method: resolves to CONNACK properties, or undefined while continuing. */
async function startConnectAuth(
  conn: ProtocolPeer,
  packet: ConnectPacket,
  method: string,
): Promise<Properties | undefined> {
  conn.authMethod = method;
  const step = await authStep(conn, method, packet.properties?.authenticationData, false);
  return applyConnectStep(conn, method, step);
}

/** An AUTH packet from the client, during connect or for re-authentication. */
export function handleAuthPacket(conn: ProtocolPeer, packet: AuthPacket): Promise<void> {
  const method = packet.properties?.authenticationMethod;
  const reasonCode = packet.reasonCode ?? 0;
  // [MQTT-4.12.0-1] [MQTT-4.12.1-1] The method must be the one the connection started with.
  if (conn.authMethod === undefined || method !== conn.authMethod) {
    throw MqttError.protocol('AUTH without the authentication method of this connection');
  }
  const data = packet.properties?.authenticationData;
  if (conn.state === 'connecting') {
    if (reasonCode !== ReasonCode.ContinueAuthentication)
      throw MqttError.protocol('unexpected AUTH reason code');
    return authStep(conn, method, data, false).then((step) => {
      const properties = applyConnectStep(conn, method, step);
      if (properties !== undefined && conn.connect !== undefined)
        return completeConnect(conn, conn.connect, properties);
      return undefined;
    });
  }
  if (reasonCode !== ReasonCode.ReAuthenticate && reasonCode !== ReasonCode.ContinueAuthentication) {
    throw MqttError.protocol('unexpected AUTH reason code');
  }
  return authStep(conn, method, data, true).then((step) => {
    if (step.action === 'continue') {
      conn.send(authPacket(ReasonCode.ContinueAuthentication, method, step.data));
    } else if (step.action === 'success') {
      conn.send(authPacket(ReasonCode.Success, method, step.data));
    } else {
      // [MQTT-4.12.1-2] A failed re-authentication ends the connection with DISCONNECT.
      conn.disconnect(step.reasonCode);
    }
  });
}

function applyConnectStep(conn: ProtocolPeer, method: string, step: AuthStep): Properties | undefined {
  if (step.action === 'fail') throw new MqttError(step.reasonCode, 'authentication failed');
  if (step.action === 'continue') {
    conn.send(authPacket(ReasonCode.ContinueAuthentication, method, step.data));
    return undefined;
  }
  const properties: Properties = { authenticationMethod: method };
  if (step.data !== undefined) properties.authenticationData = step.data;
  return properties;
}

async function authStep(
  conn: ProtocolPeer,
  method: string,
  data: Buffer | undefined,
  reauth: boolean,
): Promise<AuthStep> {
  for (const hook of conn.services.hooks.on.onAuthPacket) {
    const step = await hook.onAuthPacket(conn, method, data, reauth);
    if (step !== undefined) return step;
  }
  // [MQTT-4.12.0-1] A method no hook supports: 0x8C Bad authentication method.
  return { action: 'fail', reasonCode: ReasonCode.BadAuthenticationMethod };
}

function authPacket(reasonCode: number, method: string, data: Buffer | undefined): AuthPacket {
  const properties: Properties = { authenticationMethod: method };
  if (data !== undefined) properties.authenticationData = data;
  return { type: 'auth', reasonCode, properties };
}
