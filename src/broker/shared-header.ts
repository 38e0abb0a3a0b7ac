import { fixedHeaderLength, writeFixedHeader } from '../packets/fixed-header.js';
import { utf8Length, writeUtf8 } from '../packets/primitives.js';
import type { QoS } from '../packets/types.js';
import type { Message } from './message.js';

/**
 * The PUBLISH headers (fixed header, topic, packet id slot, empty v5 properties) of the message being fanned
 * out, one per (version, QoS, retain, dup), made on first use and shared by every subscriber that needs the
 * same one; each patches its own packet id into its copy of the bytes. Handed down by the router to the
 * links, so a link never reaches back up for it.
 */
export class SharedPublishHeaders {
  private message: Message | undefined;
  private readonly cache: (Buffer | undefined)[] = new Array(32).fill(undefined);

  /** The header for `message`; 1 is written in the packet identifier slot as a valid placeholder. */
  get(message: Message, v5: boolean, qos: QoS, retain: boolean, dup: boolean): Buffer {
    if (message !== this.message) {
      this.message = message;
      this.cache.fill(undefined);
    }
    const key = (v5 ? 16 : 0) | (qos << 2) | (retain ? 2 : 0) | (dup ? 1 : 0);
    let header = this.cache[key];
    if (header === undefined) {
      header = writeHeader(message, v5, qos, retain, dup);
      this.cache[key] = header;
    }
    return header;
  }
}

/**
 * Every topic routed was checked on the way in (decoder, will at CONNECT, inline publish), so the header is
 * written directly, without encodePublish's packet object, checks and measuring.
 */
function writeHeader(message: Message, v5: boolean, qos: QoS, retain: boolean, dup: boolean): Buffer {
  const topic = message.topic;
  const variableLength = 2 + utf8Length(topic, 'topic name') + (qos > 0 ? 2 : 0) + (v5 ? 1 : 0);
  const remainingLength = variableLength + message.payload.length;
  const header = Buffer.allocUnsafe(fixedHeaderLength(remainingLength) + variableLength);
  const first = 0x30 | (dup ? 8 : 0) | (qos << 1) | (retain ? 1 : 0);
  let offset = writeUtf8(header, writeFixedHeader(header, first, remainingLength), topic);
  if (qos > 0) {
    header[offset++] = 0;
    header[offset++] = 1;
  }
  if (v5) header[offset] = 0; // property length 0
  return header;
}
