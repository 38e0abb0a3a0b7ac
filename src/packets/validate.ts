/**
 * Value checks shared by the decoder and the encoder: packet identifiers and MQTT 5 reason codes
 * per packet type.
 */
import { MqttError } from './errors.js';
import { ReasonCodesByPacket } from './reason-codes.js';

/** Packet types that carry an MQTT 5 reason code. */
export type ReasonCodePacket = keyof typeof ReasonCodesByPacket;

/** Byte-indexed membership tables built once from ReasonCodesByPacket. */
const allowedReasonCodes: Readonly<Record<ReasonCodePacket, Uint8Array>> = (() => {
  const tables = {} as Record<ReasonCodePacket, Uint8Array>;
  for (const name of Object.keys(ReasonCodesByPacket) as ReasonCodePacket[]) {
    const table = new Uint8Array(256);
    for (const code of ReasonCodesByPacket[name]) table[code] = 1;
    tables[name] = table;
  }
  return tables;
})();

/** True when `code` is one of the MQTT 5 reason codes defined for `packet`. */
export function isReasonCodeAllowed(packet: ReasonCodePacket, code: number): boolean {
  return allowedReasonCodes[packet][code] === 1;
}

/**
 * Refuse an MQTT 5 reason code that the spec does not list for the packet (CONNACK [MQTT-3.2.2-8],
 * PUBACK [MQTT-3.4.2-1], PUBREC [MQTT-3.5.2-1], PUBREL [MQTT-3.6.2-1], PUBCOMP [MQTT-3.7.2-1],
 * SUBACK [MQTT-3.9.3-2], UNSUBACK [MQTT-3.11.3-2], DISCONNECT [MQTT-3.14.2-1], AUTH [MQTT-3.15.2-1]).
 * These rules bind the sender; a receiver seeing an unlisted code has a well-formed packet carrying a
 * forbidden value, which is a Protocol Error (0x82) rather than a Malformed Packet.
 */
export function checkReasonCode(packet: ReasonCodePacket, code: number): void {
  if (allowedReasonCodes[packet][code] !== 1) {
    throw MqttError.protocol(
      `reason code 0x${code.toString(16).padStart(2, '0')} is not allowed in ${packet}`,
    );
  }
}

/**
 * Refuse packet identifier 0 in a received packet ([MQTT-2.2.1-3], 3.1.1 [MQTT-2.3.1-1]: SUBSCRIBE,
 * UNSUBSCRIBE and PUBLISH with QoS > 0 carry a non-zero identifier; acknowledgements echo it
 * [MQTT-2.2.1-5] [MQTT-2.2.1-6]). Treated as 0x81 Malformed Packet: 0 is not a valid field value.
 */
export function checkReceivedPacketId(packetId: number): void {
  if (packetId === 0) throw MqttError.malformed('packet identifier 0');
}

/** Refuse to encode a packet identifier outside 1..65535. */
export function checkPacketIdToEncode(packetId: number | undefined, packet: string): number {
  if (packetId === undefined || !Number.isInteger(packetId) || packetId < 1 || packetId > 0xffff) {
    throw MqttError.malformed(`${packet} needs a packet identifier in 1..65535, got ${packetId}`);
  }
  return packetId;
}

/** Refuse to encode a QoS other than 0, 1 or 2. */
export function checkQoSToEncode(qos: number, field: string): void {
  if (qos !== 0 && qos !== 1 && qos !== 2)
    throw MqttError.malformed(`${field} must be 0, 1 or 2, got ${qos}`);
}

/** Refuse to encode a value that is not a byte (a reason code). */
export function checkByte(value: number, field: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xff) {
    throw MqttError.malformed(`${field} must be a byte, got ${value}`);
  }
}
