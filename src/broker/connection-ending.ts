/**
 * How a network connection ends (cold paths of `connection.ts`): the v5 DISCONNECT a server-initiated
 * disconnect sends first, the answer to a protocol error, and what follows closing (the stream ended, the
 * hooks told, the session detached).
 */
import type { Duplex } from 'node:stream';
import { MqttError } from '../packets/errors.js';
import { encode } from '../packets/index.js';
import { ReasonCode, ReasonCodesByPacket } from '../packets/reason-codes.js';
import type { DisconnectPacket } from '../packets/types.js';
import { refuseConnect } from './connect-flow.js';
import type { DisconnectInfo } from './hooks.js';
import type { BudgetedLink } from './memory-budget.js';
import type { ProtocolPeer } from './protocol-peer.js';

const DISCONNECT_CODES: ReadonlySet<number> = new Set(ReasonCodesByPacket.disconnect);

/** A network connection as its ending sees it (`Connection` is one). */
export interface EndingConnection extends ProtocolPeer, BudgetedLink {
  readonly stream: Duplex;
}

/**
 * The DISCONNECT a v5 client gets before the server closes its connection (the caller checks the version
 * and that the connection is established).
 */
export function sendDisconnect(
  conn: ProtocolPeer,
  reasonCode: number,
  reasonString: string | undefined,
): void {
  // A code DISCONNECT cannot carry (0x84 from a second CONNECT's protocol level, say) is a Protocol
  // Error there [MQTT-3.1.0-2].
  const code = DISCONNECT_CODES.has(reasonCode) ? reasonCode : ReasonCode.ProtocolError;
  const packet: DisconnectPacket = { type: 'disconnect', reasonCode: code };
  try {
    if (reasonString !== undefined && conn.problemInformation) {
      packet.properties = { reasonString };
      // [MQTT-3.14.2-3] The Reason String is dropped when it would push DISCONNECT over the client's
      // Maximum Packet Size, so the reason code still gets through.
      if (encode(packet, 5).length > conn.clientMaximumPacketSize) delete packet.properties;
    }
    conn.send(packet);
  } catch (err) {
    // Ending a connection must not fail on its last packet (an encode hook, a reason string the codec
    // refuses): the connection closes without it.
    logUnexpectedError(conn, err);
  }
}

/** A protocol violation or decoding error: answer with its reason code (v5) and close. */
export function answerProtocolError(conn: ProtocolPeer, err: unknown): void {
  const error = err instanceof MqttError ? err : undefined;
  if (error === undefined) {
    logUnexpectedError(conn, err);
    conn.disconnect(ReasonCode.UnspecifiedError);
    return;
  }
  if (conn.state === 'connecting') {
    refuseConnect(conn, error);
    return;
  }
  conn.disconnect(error.reasonCode, error.message);
}

/** An error no handler expected, logged with the client it came from. */
export function logUnexpectedError(conn: ProtocolPeer, err: unknown): void {
  conn.services.logger.error({ err, clientId: conn.clientId }, 'unexpected error while handling a packet');
}

/**
 * The rest of closing, once the connection is marked closed and its pending bytes are flushed: end the
 * socket, then settle the session and will. `info` is why it ended, as the connection recorded it.
 */
export function finishClose(
  conn: EndingConnection,
  wasConnected: boolean,
  info: DisconnectInfo | undefined,
): void {
  const services = conn.services;
  const stream = conn.stream;
  stream.end();
  // A stream paused behind an async hook must read on, or the peer's end would never be seen (a socket
  // reading into the shared buffer stops reading at all while paused). What arrives now is ignored.
  if (stream.isPaused()) stream.resume();
  services.memory.forget(conn);
  // A socket that does not finish closing in time is destroyed.
  setTimeout(() => stream.destroy(), 2000).unref();
  services.connectionClosed(conn);
  const session = conn.session;
  if (!wasConnected || session === undefined) return;
  services.admission.disconnected(conn.listener);
  const reported = info ?? { reasonCode: 0, by: 'network' };
  try {
    for (const hook of services.hooks.on.onDisconnect) hook.onDisconnect(conn, reported);
  } catch (err) {
    // This runs from socket events: a hook that throws here must not take the process down.
    services.hooks.reportError(err, 'onDisconnect');
  }
  services.logger.debug(
    { clientId: conn.clientId, reasonCode: reported.reasonCode, by: reported.by },
    'client disconnected',
  );
  if (session.muted) services.router.unmute(session);
  try {
    services.sessions.detach(conn, session);
  } catch (err) {
    logUnexpectedError(conn, err);
  }
}
