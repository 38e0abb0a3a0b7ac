import { encodePublish } from '../packets/encode.js';
import { fixedHeaderLength, writeFixedHeader } from '../packets/fixed-header.js';
import { utf8Length, varintLength, writeUtf8 } from '../packets/primitives.js';
import { propertiesLength } from '../packets/properties.js';
import type { Properties, QoS } from '../packets/types.js';
import type { Message } from './message.js';

/** How a v5 subscriber names the topic: in full, in full while setting an alias, or by an alias set before. */
export type AliasUse = 'none' | 'set' | 'use';

/** A v5 PUBLISH header with the places a subscriber patches: its packet id and its topic alias. */
export interface V5Header {
  readonly header: Buffer;
  /** Offset of the packet identifier (-1 at QoS 0). */
  readonly packetIdAt: number;
  /** Offset of the Topic Alias value (-1 without one). */
  readonly aliasAt: number;
}

/**
 * The PUBLISH headers (fixed header, topic, packet id slot, empty v5 properties) of the message being fanned
 * out, one per (version, QoS, retain, dup), made on first use and shared by every subscriber that needs the
 * same one; each patches its own packet id into its copy of the bytes. Handed down by the router to the
 * links, so a link never reaches back up for it.
 */
export class SharedPublishHeaders {
  /** Headers by key (version, QoS, retain, dup), each valid only for the message in the same slot of `owners`. */
  private readonly cache: (Buffer | undefined)[] = new Array(32).fill(undefined);
  private readonly owners: (Message | undefined)[] = new Array(32).fill(undefined);
  /** v5 headers with properties, by shape (flags, alias use, subscription ids, expiry left), for `v5Message`. */
  private readonly v5Cache = new Map<string, V5Header>();
  private v5Message: Message | undefined;

  /**
   * The v5 header of `message` for subscribers of one shape: the message's own properties, the expiry it has
   * left, these subscription identifiers, and a Topic Alias slot when `alias` is not `none` (with an empty
   * topic for `use`). Every subscriber of the same shape shares it and patches its packet id and alias.
   */
  getV5(
    message: Message,
    qos: QoS,
    retain: boolean,
    dup: boolean,
    subscriptionIds: readonly number[] | undefined,
    alias: AliasUse,
    expiryLeft: number | undefined,
  ): V5Header {
    if (message !== this.v5Message) {
      this.v5Message = message;
      this.v5Cache.clear();
    }
    const key = `${qos}${retain ? 1 : 0}${dup ? 1 : 0}${alias}${expiryLeft ?? ''}|${subscriptionIds?.join(',') ?? ''}`;
    let entry = this.v5Cache.get(key);
    if (entry === undefined) {
      entry = writeV5Header(message, qos, retain, dup, subscriptionIds, alias, expiryLeft);
      this.v5Cache.set(key, entry);
    }
    return entry;
  }

  /** The header for `message`; 1 is written in the packet identifier slot as a valid placeholder. */
  get(message: Message, v5: boolean, qos: QoS, retain: boolean, dup: boolean): Buffer {
    // No reset per message: a slot written for another message is simply not this message's.
    const key = (v5 ? 16 : 0) | (qos << 2) | (retain ? 2 : 0) | (dup ? 1 : 0);
    if (this.owners[key] === message) return this.cache[key] as Buffer;
    const header = writeHeader(message, v5, qos, retain, dup);
    this.cache[key] = header;
    this.owners[key] = message;
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

/**
 * Encode the v5 header through the codec (so its checks hold), with 1 as the placeholder packet id and alias,
 * and find where those two go: properties are written in identifier order, so the alias (0x23) follows every
 * property with a lower identifier.
 */
function writeV5Header(
  message: Message,
  qos: QoS,
  retain: boolean,
  dup: boolean,
  subscriptionIds: readonly number[] | undefined,
  alias: AliasUse,
  expiryLeft: number | undefined,
): V5Header {
  const before: Properties = message.properties === undefined ? {} : { ...message.properties };
  delete before.userProperties;
  if (expiryLeft !== undefined) before.messageExpiryInterval = expiryLeft;
  if (subscriptionIds !== undefined) before.subscriptionIdentifiers = [...subscriptionIds];
  const properties: Properties = { ...before };
  if (message.properties?.userProperties !== undefined)
    properties.userProperties = message.properties.userProperties;
  if (alias !== 'none') properties.topicAlias = 1;
  const topic = alias === 'use' ? '' : message.topic;
  const { header } = encodePublish(
    {
      type: 'publish',
      topic,
      payload: message.payload,
      qos,
      retain,
      dup,
      ...(qos > 0 ? { packetId: 1 } : {}),
      ...(Object.keys(properties).length > 0 ? { properties } : {}),
    },
    5,
  );
  const propertiesContent = propertiesLength(properties, 'publish');
  const variableLength =
    2 +
    utf8Length(topic, 'topic name') +
    (qos > 0 ? 2 : 0) +
    varintLength(propertiesContent) +
    propertiesContent;
  const start = fixedHeaderLength(variableLength + message.payload.length);
  const topicEnd = start + 2 + utf8Length(topic, 'topic name');
  const packetIdAt = qos > 0 ? topicEnd : -1;
  const propertiesAt = topicEnd + (qos > 0 ? 2 : 0) + varintLength(propertiesContent);
  const aliasAt = alias === 'none' ? -1 : propertiesAt + propertiesLength(before, 'publish') + 1;
  return { header, packetIdAt, aliasAt };
}
