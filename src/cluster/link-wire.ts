import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * The wire of the nodes' direct links (`node-links.ts`): frames of `u32 length, u8 type, body`, and the
 * handshake that opens a link.
 *
 * Handshake, mutual, without the secret ever crossing the wire (as Erlang distribution's cookie challenge):
 * 1. the listening node sends CHALLENGE: 16 fresh random bytes `s`;
 * 2. the connecting node answers HELLO: `from \n to \n c \n proof` (`c` its own 16 fresh bytes in hex,
 *    `proof` = HMAC-SHA256(secret, `hello \n s \n c \n from \n to`) in hex);
 * 3. the listening node checks the proof and that it is `to`, and answers WELCOME: HMAC-SHA256(secret,
 *    `welcome \n s \n c \n from \n to`) in hex, which the connecting node checks before it sends anything.
 * A HELLO is good for one challenge only (a recorded one replayed elsewhere fails), and a node that does not
 * know the secret is never sent a message. The same handshake runs on plain TCP and inside TLS
 * (`link-sockets.ts`); on plain TCP, what follows is not encrypted: across machines, links belong on a
 * private network or use TLS (see docs/cluster.md).
 */
export const HELLO = 1;
export const WELCOME = 2;
export const QOS0 = 3;
export const INBOX = 4;
export const CHALLENGE = 5;

const NONCE_BYTES = 16;

export function frame(type: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + body.length);
  out.writeUInt32BE(1 + body.length, 0);
  out[4] = type;
  body.copy(out, 5);
  return out;
}

/** A fresh challenge (the listening node's CHALLENGE body). */
export function newChallenge(): Buffer {
  return randomBytes(NONCE_BYTES);
}

function proof(
  secret: string,
  role: 'hello' | 'welcome',
  challenge: Buffer,
  nonce: string,
  from: string,
  to: string,
): string {
  return createHmac('sha256', secret)
    .update(`${role}\n${challenge.toString('hex')}\n${nonce}\n${from}\n${to}`)
    .digest('hex');
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A connection being opened, as the connecting node sees it: its HELLO, and the WELCOME it expects. */
export interface Hello {
  readonly body: Buffer;
  /** Whether a WELCOME body proves the other end knows the secret. */
  welcomes(body: Buffer): boolean;
}

/** The HELLO of node `from` to node `to`, answering `challenge`. */
export function hello(secret: string, challenge: Buffer, from: string, to: string): Hello {
  const nonce = randomBytes(NONCE_BYTES).toString('hex');
  const body = Buffer.from(`${from}\n${to}\n${nonce}\n${proof(secret, 'hello', challenge, nonce, from, to)}`);
  const expected = proof(secret, 'welcome', challenge, nonce, from, to);
  return { body, welcomes: (welcome) => same(welcome.toString('latin1'), expected) };
}

/**
 * The listening node `self` checks a HELLO against the challenge it sent: the sender and the WELCOME body to
 * answer, or undefined (a wrong proof, meant for another node, malformed).
 */
export function checkHello(
  secret: string,
  challenge: Buffer,
  self: string,
  body: Buffer,
): { from: string; welcome: Buffer } | undefined {
  const [from, to, nonce, given, extra] = body.toString('utf8').split('\n');
  if (from === undefined || from.length === 0 || to !== self || nonce === undefined || given === undefined)
    return undefined;
  if (extra !== undefined || !same(given, proof(secret, 'hello', challenge, nonce, from, to)))
    return undefined;
  return { from, welcome: Buffer.from(proof(secret, 'welcome', challenge, nonce, from, to)) };
}

/**
 * Splits a byte stream into frames; the handler returns false to stop (the link is then closed). The
 * chunks of a frame not whole yet are kept apart and joined once, when it is.
 */
export class FrameReader {
  private readonly pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Length of the frame being gathered (with its 4-byte prefix), once its prefix arrived. */
  private needed = 0;
  /** Why the last `push` returned false. */
  failure: string | undefined;

  constructor(private readonly handle: (type: number, body: Buffer) => boolean) {}

  /** False: a frame was malformed, too big, or refused (or its handler threw). */
  push(chunk: Buffer, limit: number): boolean {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes < Math.max(4, this.needed)) return true;
    let data = this.pending.length === 1 ? chunk : Buffer.concat(this.pending, this.pendingBytes);
    this.pending.length = 0;
    this.pendingBytes = 0;
    this.needed = 0;
    while (data.length >= 4) {
      const length = data.readUInt32BE(0);
      if (length < 1 || length > limit) {
        this.failure = `a frame of ${length} bytes`;
        return false;
      }
      if (data.length < 4 + length) {
        this.needed = 4 + length;
        break;
      }
      // A body stays valid after this call: frames are decoded into messages that keep slices of it.
      try {
        if (!this.handle(data[4] as number, data.subarray(5, 4 + length))) {
          this.failure = `a frame of type ${data[4]} refused`;
          return false;
        }
      } catch (err) {
        this.failure = `a frame of type ${data[4]} failed: ${(err as Error).message}`;
        return false;
      }
      data = data.subarray(4 + length);
    }
    if (data.length > 0) {
      this.pending.push(data);
      this.pendingBytes = data.length;
    }
    return true;
  }
}
