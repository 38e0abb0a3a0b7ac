import type { Message } from '../broker/message.js';
import type { RemoteTarget } from '../broker/routing.js';
import { encodeMessageAfter, measureMessage, readMessage, writeMeasured } from './message-codec.js';

/**
 * Frames: how messages travel to another node. A node's batch is a run of frames, each the message plus
 * what it is for on that node (its non-shared subscribers, the shared groups the publishing node chose it
 * for).
 */

/** Bytes before the message in a frame with no shared group: length, subscribers flag, group count. */
const PLAIN_FRAME_HEADER = 4 + 1 + 2;

/**
 * A whole frame for the non-shared subscribers of one node, the message encoded in the same buffer: what
 * `encodeFrame(true, [], encodeMessage(message))` gives, concatenated, in one allocation.
 */
export function encodeSubscribersFrame(message: Message): Buffer {
  const out = encodeMessageAfter(message, PLAIN_FRAME_HEADER);
  writePlainHeader(out, 0, out.length - 4);
  return out;
}

function writePlainHeader(out: Buffer, at: number, length: number): void {
  out.writeUInt32BE(length, at);
  out[at + 4] = 1;
  out[at + 5] = 0;
  out[at + 6] = 0;
}

/** The smallest buffer a batch starts with. */
const BATCH_START = 2048;
/** The largest buffer a batch starts with. */
const BATCH_MAX_START = 1 << 20;

/**
 * The frames for one node gathered in one growing buffer, each written in place (no buffer per message,
 * no copy to join them). `take` hands the frames over and starts a new buffer, sized after the last one.
 */
export class FrameBatch {
  private buffer: Buffer | undefined;
  private used = 0;
  private lastSize = BATCH_START;
  /** Frames since the last `take`. */
  frames = 0;

  get empty(): boolean {
    return this.used === 0;
  }

  /** A frame for the node's non-shared subscribers: what `encodeSubscribersFrame` gives. */
  addSubscribers(message: Message): void {
    const size = PLAIN_FRAME_HEADER + measureMessage(message);
    const at = this.reserve(size);
    const out = this.buffer as Buffer;
    writePlainHeader(out, at, size - 4);
    writeMeasured(message, out, at + PLAIN_FRAME_HEADER);
    this.frames++;
  }

  /** A frame in parts (`encodeFrame`'s header and message). */
  add(part: Buffer, rest?: Buffer): void {
    const size = part.length + (rest === undefined ? 0 : rest.length);
    const at = this.reserve(size);
    const out = this.buffer as Buffer;
    part.copy(out, at);
    if (rest !== undefined) rest.copy(out, at + part.length);
    this.frames++;
  }

  /** The frames so far, in a buffer this batch no longer writes into; the batch is empty after. */
  take(): Buffer {
    const taken = (this.buffer ?? Buffer.alloc(0)).subarray(0, this.used);
    // Sized for the usual batch, not for one huge message.
    this.lastSize = Math.min(Math.max(BATCH_START, this.used), BATCH_MAX_START);
    this.buffer = undefined;
    this.used = 0;
    this.frames = 0;
    return taken;
  }

  /** Room for `size` more bytes; returns where they go. */
  private reserve(size: number): number {
    const at = this.used;
    const buffer = this.buffer;
    if (buffer === undefined) {
      this.buffer = Buffer.allocUnsafe(Math.max(this.lastSize + (this.lastSize >> 2), size));
    } else if (at + size > buffer.length) {
      const grown = Buffer.allocUnsafe(Math.max(buffer.length * 2, at + size));
      buffer.copy(grown, 0, 0, at);
      this.buffer = grown;
    }
    this.used = at + size;
    return at;
  }
}

/**
 * One message in a node's batch: its length, whether it goes to the node's non-shared subscribers, the
 * shared groups the publishing node chose that node for, then the encoded message (shared by every frame).
 */
export function encodeFrame(
  subscribers: boolean,
  shared: readonly SharedChoice[],
  message: Buffer,
): Buffer[] {
  let headerSize = 4 + 1 + 2;
  const names: Buffer[] = [];
  for (const choice of shared) {
    const group = Buffer.from(choice.group);
    const filter = Buffer.from(choice.filter);
    names.push(group, filter);
    headerSize += 4 + group.length + filter.length;
  }
  const header = Buffer.allocUnsafe(headerSize);
  let at = header.writeUInt32BE(headerSize - 4 + message.length, 0);
  at = header.writeUInt8(subscribers ? 1 : 0, at);
  at = header.writeUInt16BE(shared.length, at);
  for (const name of names) {
    at = header.writeUInt16BE(name.length, at);
    at += name.copy(header, at);
  }
  return [header, message];
}

/** A shared group chosen for a node: `group` and `filter` of `$share/{group}/{filter}`. */
export interface SharedChoice {
  readonly group: string;
  readonly filter: string;
}

/** The target of a frame for the node's non-shared subscribers only (the common case), shared by all. */
export const SUBSCRIBERS_ONLY: RemoteTarget = Object.freeze({ subscribers: true, shared: Object.freeze([]) });

/**
 * Every frame of a batch, in order, to `visit`. A frame for the non-shared subscribers only gets
 * {@link SUBSCRIBERS_ONLY} as its target: no object per message beyond the message itself.
 */
export function visitFrames(batch: Buffer, visit: (message: Message, target: RemoteTarget) => void): void {
  visitFramesFrom(batch, 0, (message, target) => {
    visit(message, target);
    return true;
  });
}

/**
 * The frames of a batch from byte offset `from` (0, or what an earlier call returned), in order, to `visit`,
 * until it returns false. Returns where the next frame begins (the batch's length when none is left).
 */
export function visitFramesFrom(
  batch: Buffer,
  from: number,
  visit: (message: Message, target: RemoteTarget) => boolean,
): number {
  let at = from;
  while (at < batch.length) {
    const end = at + 4 + batch.readUInt32BE(at);
    const subscribers = batch[at + 4] === 1;
    const count = batch.readUInt16BE(at + 5);
    at += 7;
    let target = SUBSCRIBERS_ONLY;
    if (count > 0 || !subscribers) {
      const shared: SharedChoice[] = [];
      for (let i = 0; i < count; i++) {
        const groupLength = batch.readUInt16BE(at);
        const group = batch.toString('utf8', at + 2, at + 2 + groupLength);
        at += 2 + groupLength;
        const filterLength = batch.readUInt16BE(at);
        const filter = batch.toString('utf8', at + 2, at + 2 + filterLength);
        at += 2 + filterLength;
        shared.push({ group, filter });
      }
      target = { subscribers, shared };
    }
    const message = readMessage(batch, at);
    at = end;
    if (!visit(message, target)) return at;
  }
  return at;
}

/** Every frame of a batch, in order, as a list. */
export function decodeFrames(batch: Buffer): { message: Message; target: RemoteTarget }[] {
  const frames: { message: Message; target: RemoteTarget }[] = [];
  visitFrames(batch, (message, target) => frames.push({ message, target }));
  return frames;
}
