/**
 * MQTT 5 enhanced authentication (spec 4.12): the AUTH exchange during CONNECT and re-authentication.
 */
import { MqttError } from '../packets/errors.js';
import { ReasonCode } from '../packets/reason-codes.js';
import type { AuthPacket, Properties } from '../packets/types.js';
import type { Connection } from './connection.js';
import type { AuthChallenge, AuthHandler } from './types.js';

export class EnhancedAuth {
  private pending: { resolve(): void; reject(error: Error): void } | undefined;

  constructor(
    private readonly method: string,
    private readonly handler: AuthHandler | undefined,
    private readonly initialData: Buffer | undefined,
  ) {}

  /**
   * Handles an AUTH from the server: a challenge is answered through the handler; a success completes a
   * re-authentication. Throws MqttError (Protocol Error) for an AUTH that fits neither.
   */
  receive(conn: Connection, packet: AuthPacket, handshaking: boolean): void {
    // Spec 4.12: the whole exchange uses the method of the CONNECT.
    if (packet.properties?.authenticationMethod !== this.method) {
      throw MqttError.protocol('AUTH with a different authentication method');
    }
    const code = packet.reasonCode ?? 0;
    if (code === ReasonCode.ContinueAuthentication) {
      this.answer(conn, packet.properties.authenticationData);
      return;
    }
    const pending = this.pending;
    if (code === ReasonCode.Success && !handshaking && pending !== undefined) {
      this.pending = undefined;
      pending.resolve();
      return;
    }
    throw MqttError.protocol(`unexpected AUTH reason code 0x${code.toString(16)}`);
  }

  /** Starts a re-authentication (AUTH 0x19); resolves on the server's AUTH 0x00. */
  reauthenticate(conn: Connection, data: Buffer | undefined): Promise<void> {
    if (this.pending !== undefined)
      return Promise.reject(MqttError.protocol('a re-authentication is in progress'));
    return new Promise<void>((resolve, reject) => {
      this.pending = { resolve, reject };
      const properties: Properties = { authenticationMethod: this.method };
      const initial = data ?? this.initialData;
      if (initial !== undefined) properties.authenticationData = initial;
      conn.send({ type: 'auth', reasonCode: ReasonCode.ReAuthenticate, properties });
    });
  }

  /** Rejects a re-authentication in progress (the connection is gone). */
  abort(error: Error): void {
    const pending = this.pending;
    this.pending = undefined;
    pending?.reject(error);
  }

  private answer(conn: Connection, data: Buffer | undefined): void {
    const handler = this.handler;
    if (handler === undefined) {
      conn.fail(new MqttError(ReasonCode.UnspecifiedError, 'authentication challenge but no auth handler'));
      return;
    }
    const challenge: AuthChallenge = { method: this.method, reasonCode: ReasonCode.ContinueAuthentication };
    if (data !== undefined) challenge.data = data;
    handler(challenge).then(
      (answer) => {
        if (!conn.isOpen) return;
        const properties: Properties = { authenticationMethod: this.method };
        if (answer !== undefined) properties.authenticationData = answer;
        conn.send({ type: 'auth', reasonCode: ReasonCode.ContinueAuthentication, properties });
      },
      (error: unknown) => {
        conn.fail(new MqttError(ReasonCode.UnspecifiedError, 'auth handler failed', { cause: error }));
      },
    );
  }
}
