/**
 * mosquitto's wording for MQTT reason codes and refused connections, which `starling pub` and
 * `starling sub` print as `mosquitto_pub` and `mosquitto_sub` do.
 */
import { MqttError } from '../packets/errors.js';
import type { ProtocolVersionNumber } from '../packets/types.js';

/** mosquitto's text for MQTT 3.x CONNACK return codes. */
const V3_CONNACK_TEXT: Readonly<Record<number, string>> = {
  1: 'Connection Refused: unacceptable protocol version.',
  2: 'Connection Refused: identifier rejected.',
  3: 'Connection Refused: broker unavailable.',
  4: 'Connection Refused: bad user name or password.',
  5: 'Connection Refused: not authorised.',
};

/** MQTT 5 reason codes as the 3.x CONNACK return code they replace (the inverse of the client's mapping). */
const V5_TO_V3_CONNACK: Readonly<Record<number, number>> = {
  132: 1,
  133: 2,
  136: 3,
  134: 4,
  135: 5,
};

/** mosquitto's text for MQTT 5 reason codes (`mosquitto_reason_string`). */
const V5_REASON_TEXT: Readonly<Record<number, string>> = {
  0: 'Success',
  16: 'No matching subscribers',
  128: 'Unspecified error',
  129: 'Malformed packet',
  130: 'Protocol error',
  131: 'Implementation specific error',
  132: 'Unsupported protocol version',
  133: 'Client identifier not valid',
  134: 'Bad username or password',
  135: 'Not authorized',
  136: 'Server unavailable',
  137: 'Server busy',
  138: 'Banned',
  139: 'Server shutting down',
  140: 'Bad authentication method',
  141: 'Keep alive timeout',
  142: 'Session taken over',
  143: 'Topic filter invalid',
  144: 'Topic name invalid',
  147: 'Receive maximum exceeded',
  148: 'Topic alias invalid',
  149: 'Packet too large',
  150: 'Message rate too high',
  151: 'Quota exceeded',
  152: 'Administrative action',
  153: 'Payload format invalid',
  154: 'Retain not supported',
  155: 'QoS not supported',
  156: 'Use another server',
  157: 'Server moved',
  158: 'Shared subscriptions not supported',
  159: 'Connection rate exceeded',
  160: 'Maximum connect time',
  161: 'Subscription identifiers not supported',
  162: 'Wildcard subscriptions not supported',
};

/** The text mosquitto prints for an MQTT 5 reason code. */
export function reasonText(code: number): string {
  return V5_REASON_TEXT[code] ?? 'Unknown reason';
}

/** A failed connection: what the tools print, the exit code, and the CONNACK code of a refusal. */
export interface ConnectFailure {
  /** "Connection error: ..." for a refusal, "Error: ..." for a network failure. */
  line: string;
  /** The CONNACK return/reason code, or undefined when no CONNACK came (the connection failed). */
  connackCode: number | undefined;
  exitCode: number;
}

/** Classifies why `connect()` failed, in mosquitto's words and exit codes. */
export function connectFailure(error: unknown, version: ProtocolVersionNumber): ConnectFailure {
  if (error instanceof MqttError && error.message.startsWith('connection refused by the server')) {
    if (version === 5) {
      return {
        line: `Connection error: ${reasonText(error.reasonCode)}`,
        connackCode: error.reasonCode,
        exitCode: error.reasonCode,
      };
    }
    const code = V5_TO_V3_CONNACK[error.reasonCode] ?? 3;
    return {
      line: `Connection error: ${V3_CONNACK_TEXT[code] ?? 'Connection Refused: unknown reason.'}`,
      connackCode: code,
      exitCode: code,
    };
  }
  const errno = (error as NodeJS.ErrnoException | undefined)?.code;
  const text =
    errno === 'ECONNREFUSED'
      ? 'Connection refused'
      : errno === 'ENOTFOUND' || errno === 'EAI_AGAIN'
        ? 'Temporary failure in name resolution'
        : error instanceof Error
          ? error.message
          : String(error);
  return { line: `Error: ${text}`, connackCode: undefined, exitCode: 1 };
}
