/**
 * Writing packets to a stream. A PUBLISH goes out as its small header Buffer followed by the payload
 * Buffer by reference, corked so that both leave in one system call (writev) without a copy.
 */
import { encode, encodePublish } from './encode.js';
import type { Packet, ProtocolVersionNumber } from './types.js';

/** The part of a Writable (net.Socket, tls.TLSSocket, a WebSocket stream) the writer needs. */
export interface CorkableWritable {
  write(chunk: Buffer): boolean;
  cork(): void;
  uncork(): void;
}

/**
 * Encode `packet` for `version` and write it to `stream`. Returns the stream's last write() result:
 * false asks the caller to wait for 'drain'. Throws MqttError (before writing anything) when the
 * packet cannot be encoded.
 */
export function writePacket(
  stream: CorkableWritable,
  packet: Packet,
  version: ProtocolVersionNumber,
): boolean {
  if (packet.type !== 'publish') return stream.write(encode(packet, version));
  const { header, payload } = encodePublish(packet, version);
  if (payload.length === 0) return stream.write(header);
  stream.cork();
  try {
    stream.write(header);
    return stream.write(payload);
  } finally {
    stream.uncork();
  }
}
