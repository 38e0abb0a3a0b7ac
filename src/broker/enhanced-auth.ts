import type { AuthStep } from '../hooks/types.js';
import { MqttError } from '../packets/errors.js';
import { ReasonCode } from '../packets/reason-codes.js';
import type { AuthPacket, ConnectPacket, Properties } from '../packets/types.js';
import type { Broker } from './broker.js';
import { completeConnect } from './connect-flow.js';
import type { Connection } from './connection.js';

/**
 * MQTT 5 enhanced authentication (spec 4.12): the AUTH exchange at connect and re-authentication,
 * driven by the first `onAuthPacket` hook that answers.
 */
export class EnhancedAuth {
  constructor(private readonly broker: Broker) {}

  /** CONNECT carried an Authentication Method: resolves to CONNACK properties, or undefined while continuing. */
  async startConnectAuth(
    conn: Connection,
    packet: ConnectPacket,
    method: string,
  ): Promise<Properties | undefined> {
    conn.authMethod = method;
    const step = await this.step(conn, method, packet.properties?.authenticationData, false);
    return this.applyConnectStep(conn, method, step);
  }

  /** An AUTH packet from the client, during connect or for re-authentication. */
  onAuthPacket(conn: Connection, packet: AuthPacket): Promise<void> {
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
      return this.step(conn, method, data, false).then((step) => {
        const properties = this.applyConnectStep(conn, method, step);
        if (properties !== undefined && conn.connect !== undefined)
          completeConnect(conn, conn.connect, properties);
      });
    }
    if (reasonCode !== ReasonCode.ReAuthenticate && reasonCode !== ReasonCode.ContinueAuthentication) {
      throw MqttError.protocol('unexpected AUTH reason code');
    }
    return this.step(conn, method, data, true).then((step) => {
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

  private applyConnectStep(conn: Connection, method: string, step: AuthStep): Properties | undefined {
    if (step.action === 'fail') throw new MqttError(step.reasonCode, 'authentication failed');
    if (step.action === 'continue') {
      conn.send(authPacket(ReasonCode.ContinueAuthentication, method, step.data));
      return undefined;
    }
    const properties: Properties = { authenticationMethod: method };
    if (step.data !== undefined) properties.authenticationData = step.data;
    return properties;
  }

  private async step(
    conn: Connection,
    method: string,
    data: Buffer | undefined,
    reauth: boolean,
  ): Promise<AuthStep> {
    for (const hook of this.broker.hooks.on.onAuthPacket) {
      const step = await hook.onAuthPacket(conn, method, data, reauth);
      if (step !== undefined) return step;
    }
    // [MQTT-4.12.0-1] A method no hook supports: 0x8C Bad authentication method.
    return { action: 'fail', reasonCode: ReasonCode.BadAuthenticationMethod };
  }
}

function authPacket(reasonCode: number, method: string, data: Buffer | undefined): AuthPacket {
  const properties: Properties = { authenticationMethod: method };
  if (data !== undefined) properties.authenticationData = data;
  return { type: 'auth', reasonCode, properties };
}
