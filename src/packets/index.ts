/**
 * The MQTT packet codec: encode and decode of every MQTT 3.1, 3.1.1 and 5.0 control packet, a stream
 * parser, a stream writer and the topic rules.
 */
export { decode } from './decode.js';
export { type EncodedPublish, encode, encodePublish } from './encode.js';
export * from './errors.js';
export { PacketParser, type ParserOptions } from './parser.js';
export { encodeVarint, varintLength } from './primitives.js';
export * from './reason-codes.js';
export {
  hasMoreLevelsThan,
  isValidTopicFilter,
  isValidTopicName,
  parseSharedFilter,
  type SharedFilter,
} from './topic.js';
export * from './types.js';
export { type CorkableWritable, writePacket } from './writer.js';
