import { ReasonCode, type ReasonCodeName, reasonCodeText } from './reason-codes.js';

/**
 * The one error class of the codec and the broker. It carries the MQTT 5 reason code the connection
 * answers with (0x81 Malformed Packet, 0x82 Protocol Error, 0x95 Packet too large, ...), so the
 * connection layer never has to guess: it sends exactly `reasonCode` (mapped for v3) and closes.
 */
export class MqttError extends Error {
  /** The MQTT 5 reason code byte the server answers with. */
  readonly reasonCode: number;
  /** A stable name for the reason code, e.g. `MalformedPacket`. */
  readonly code: string;
  /** For 0x84 Unsupported Protocol Version: the protocol level the CONNECT carried. */
  readonly protocolLevel: number | undefined;

  constructor(reasonCode: number, message: string, options?: { cause?: unknown; protocolLevel?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MqttError';
    this.reasonCode = reasonCode;
    this.code = reasonCodeName(reasonCode);
    this.protocolLevel = options?.protocolLevel;
  }

  /** A Malformed Packet (0x81) error. */
  static malformed(message: string): MqttError {
    return new MqttError(ReasonCode.MalformedPacket, message);
  }

  /** A Protocol Error (0x82). */
  static protocol(message: string): MqttError {
    return new MqttError(ReasonCode.ProtocolError, message);
  }

  override toString(): string {
    return `MqttError [${this.code} 0x${this.reasonCode.toString(16).padStart(2, '0')} ${reasonCodeText(this.reasonCode)}]: ${this.message}`;
  }
}

function reasonCodeName(code: number): string {
  // Prefer the error meaning of a byte value; the first key with that value wins otherwise.
  for (const [name, value] of Object.entries(ReasonCode) as [ReasonCodeName, number][]) {
    if (value === code) return name;
  }
  return 'UnknownReasonCode';
}

/** True for an MqttError (also across module copies, checked by shape). */
export function isMqttError(err: unknown): err is MqttError {
  return err instanceof MqttError;
}
