import type { Server, Socket } from 'node:net';
import { hostname } from 'node:os';
import type { NodeRecord } from './backend.js';
import { type LinkSockets, linkFailure, linkSockets } from './link-sockets.js';
import {
  CHALLENGE,
  checkHello,
  FrameReader,
  frame,
  HELLO,
  type Hello,
  hello,
  INBOX,
  newChallenge,
  QOS0,
  WELCOME,
} from './link-wire.js';

/**
 * Direct TCP links between the nodes of a cluster, beside the backend: QoS 0 batches go over them instead of
 * the backend's pub/sub, and each inbox append (QoS 1/2) is also sent over them as a copy ahead of the
 * append, which the receiver may deliver at once (see `InboxProcessor.fast`); the append in the backend
 * stays what is acknowledged, replayed and checkpointed. Each hop through Redis costs 1-3 ms of p99 on a
 * small machine; a link costs a fraction of that. A link is only an optimisation: when a node has none to
 * another (not announced yet, refused, broken), everything goes through the backend as before; one backed up
 * drops QoS 0 (see LinkSend) and leaves the QoS 1/2 copies to their appends.
 *
 * Wire and handshake: `link-wire.ts` (a mutual challenge on the secret every node reads from the backend;
 * the secret itself never crosses). Then QOS0 (a batch of frames) and INBOX (`u16 stamp length, stamp, u16
 * previous length, previous stamp, batch`) flow one way, from the connecting node. The sockets are plain
 * TCP or mutual TLS (`link-sockets.ts`); the rest is the same for both.
 */
/** The largest frame accepted; a bigger one closes the link (a batch is one turn's messages for a node). */
const MAX_FRAME = 1 << 30;
/** Bytes waiting in a link's socket beyond which it takes no more (see LinkSend, `ready`). */
const MAX_PENDING = 8 * 1024 * 1024;
/** A connection that has not said HELLO (or, connecting, been welcomed) in this long is closed. */
const HELLO_TIMEOUT_MS = 5000;
/** Wait after a failed connection before trying the same node again. */
const RETRY_MS = 1000;
/**
 * QoS 0 keeps going through the backend this long after a link is welcomed, so that what is still on its
 * way through Redis pub/sub is not overtaken by the link (a publisher's messages on a topic keep their order
 * [MQTT-4.6.0-5]).
 */
const QOS0_SETTLE_MS = 100;
const NOT_WELCOMED = `no WELCOME within ${HELLO_TIMEOUT_MS / 1000} s`;

/** What became of a QoS 0 batch offered to a link. */
export type LinkSend =
  /** Sent over the link. */
  | 'sent'
  /** No link ready (none yet, broken, just welcomed): the backend carries it. */
  | 'none'
  /**
   * The link is more than MAX_PENDING behind: the batch is dropped (QoS 0), not sent around it through the
   * backend, where it would overtake what the link still holds.
   */
  | 'full';

/** What arrives over the links, from the node that sent it. */
export interface LinkHandlers {
  qos0(from: string, batch: Buffer): void;
  inbox(from: string, stamp: string, previous: string, batch: Buffer): void;
  /**
   * A node's link was closed for a frame that could not be handled (`from`: the node, once known), or a
   * node's link cannot be used (`reason` says why).
   */
  refused(from: string | undefined, reason: string): void;
}

/** Where a node's link listens: `host`, `host:port` or `[v6]:port`; port 0 (the default) picks a free one. */
export function parseLinkAddress(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(text.trim());
  const host = match?.[1] ?? match?.[2];
  const port = match?.[3] === undefined ? 0 : Number(match[3]);
  if (host === undefined || port > 65535)
    throw new RangeError(`cluster link '${text}': not HOST, HOST:PORT or [IPv6]:PORT`);
  return { host, port };
}

/** One outgoing link, to one node. */
interface OutLink {
  readonly address: string;
  readonly socket: Socket;
  ready: boolean;
  /** When it was welcomed (performance.now()). */
  readyAt: number;
  /** Closed on purpose (the node left or moved): not a failure to wait after. */
  dropped: boolean;
}

export class NodeLinks {
  /** This node's link address as the others reach it (`host:port`), once listening. */
  address: string | undefined;
  /** Frames sent and received over the links (QoS 0 batches and inbox copies). */
  framesSent = 0;
  framesReceived = 0;
  private server: Server | undefined;
  private readonly out = new Map<string, OutLink>();
  private readonly addresses = new Map<string, string>();
  private readonly retryAt = new Map<string, number>();
  private readonly incoming = new Set<Socket>();
  /** Nodes whose unreachable (loopback, other machine) link address was reported. */
  private readonly warned = new Set<string>();
  /** Nodes whose link failed its handshake since it last opened, reported once (not at each retry). */
  private readonly failing = new Set<string>();
  private closed = false;
  /** This machine's host name, as the nodes put it in the registry. */
  private readonly host: string;
  private readonly sockets: LinkSockets;

  constructor(
    private readonly self: string,
    private readonly secret: () => string,
    private readonly handlers: LinkHandlers,
    options: { readonly host?: string; readonly sockets?: LinkSockets } = {},
  ) {
    this.host = options.host ?? hostname();
    this.sockets = options.sockets ?? linkSockets();
  }

  /** Whether the links are TLS (`link-sockets.ts`). */
  get tls(): boolean {
    return this.sockets.tls;
  }

  /** Listen for the other nodes' links. `exclusive`: workers of one `--workers` group each get their own port. */
  async listen(host: string, port: number): Promise<string> {
    const server = this.sockets.server((socket) => this.accept(socket));
    // Every connection, from its start (with TLS, one still in its handshake, not yet handed to `accept`),
    // is closed with the links.
    server.on('connection', (socket: Socket) => this.track(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) =>
        reject(new Error(`cluster link: cannot listen on ${host}:${port}: ${err.message}`, { cause: err })),
      );
      server.listen({ host, port, exclusive: true }, () => {
        server.removeAllListeners('error');
        resolve();
      });
    });
    server.on('error', () => undefined);
    const bound = server.address();
    if (bound === null || typeof bound === 'string') throw new Error('cluster link: no address');
    this.address =
      bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`;
    return this.address;
  }

  /**
   * The registry as last read: the link addresses of the live nodes. Links to nodes gone or moved close;
   * links to nodes not linked yet open.
   */
  update(records: readonly NodeRecord[]): void {
    const seen = new Set<string>();
    for (const record of records) {
      const link = record.info?.link;
      if (record.id === this.self || !record.alive || link === undefined || !isAddress(link)) continue;
      // A loopback address of a node on another machine is not that node: said once, and not tried.
      const host = record.info?.host;
      if (host !== undefined && host !== this.host && isLoopback(link)) {
        if (!this.warned.has(record.id)) {
          this.warned.add(record.id);
          this.handlers.refused(
            record.id,
            `its link listens on ${link}, a loopback address, and it runs on ${host}: give it --cluster-link with an address this host (${this.host}) reaches; its messages go through Redis meanwhile`,
          );
        }
        continue;
      }
      seen.add(record.id);
      this.addresses.set(record.id, link);
    }
    for (const node of [...this.addresses.keys()])
      if (!seen.has(node)) {
        this.addresses.delete(node);
        this.failing.delete(node);
      }
    for (const [node, link] of this.out) if (this.addresses.get(node) !== link.address) this.drop(node, link);
    // Linked before the first message, rather than on it.
    for (const node of this.addresses.keys()) if (!this.out.has(node)) this.open(node);
  }

  /** Whether a link to `node` takes frames now. */
  ready(node: string): boolean {
    const link = this.out.get(node);
    return link?.ready === true && link.socket.writableLength < MAX_PENDING;
  }

  /** Offer a QoS 0 batch for `node` to its link (see LinkSend). */
  sendQos0(node: string, batch: Buffer): LinkSend {
    const link = this.linkTo(node);
    if (link === undefined || performance.now() - link.readyAt < QOS0_SETTLE_MS) return 'none';
    if (link.socket.writableLength >= MAX_PENDING) return 'full';
    this.send(link, QOS0, undefined, batch);
    return 'sent';
  }

  /** Send a copy of an inbox append ahead of it; false when there is no link ready. */
  sendInbox(node: string, stamp: string, previous: string, batch: Buffer): boolean {
    const link = this.linkTo(node);
    if (link === undefined || link.socket.writableLength >= MAX_PENDING) return false;
    const stampBytes = Buffer.from(stamp);
    const previousBytes = Buffer.from(previous);
    const head = Buffer.allocUnsafe(4 + stampBytes.length + previousBytes.length);
    head.writeUInt16BE(stampBytes.length, 0);
    stampBytes.copy(head, 2);
    head.writeUInt16BE(previousBytes.length, 2 + stampBytes.length);
    previousBytes.copy(head, 4 + stampBytes.length);
    this.send(link, INBOX, head, batch);
    return true;
  }

  /** Forget a node's link (it left or was taken over). */
  forget(node: string): void {
    this.addresses.delete(node);
    this.failing.delete(node);
    const link = this.out.get(node);
    if (link !== undefined) this.drop(node, link);
  }

  close(): void {
    this.closed = true;
    for (const [node, link] of this.out) this.drop(node, link);
    for (const socket of this.incoming) socket.destroy();
    this.server?.close();
  }

  /** The welcomed link to `node`, if any; when there is none, one is opened (for later frames). */
  private linkTo(node: string): OutLink | undefined {
    const link = this.out.get(node);
    if (link === undefined) this.open(node);
    return link?.ready === true ? link : undefined;
  }

  /** One frame on `link`. */
  private send(link: OutLink, type: number, head: Buffer | undefined, body: Buffer): void {
    const header = Buffer.allocUnsafe(5);
    header.writeUInt32BE(1 + (head?.length ?? 0) + body.length, 0);
    header[4] = type;
    const socket = link.socket;
    socket.cork();
    socket.write(header);
    if (head !== undefined) socket.write(head);
    socket.write(body);
    socket.uncork();
    this.framesSent++;
  }

  /** Connect to `node` when its address is known and no attempt failed lately. */
  private open(node: string): void {
    const address = this.addresses.get(node);
    if (address === undefined || this.closed || (this.retryAt.get(node) ?? 0) > Date.now()) return;
    const { host, port } = parseLinkAddress(address);
    const socket = this.sockets.connect(host, port);
    socket.setNoDelay(true);
    const link: OutLink = { address, socket, ready: false, readyAt: 0, dropped: false };
    this.out.set(node, link);
    // Why a connection made (TCP) was not welcomed; nothing for one refused (a node stopping or gone).
    let connected = false;
    let heard = false;
    let unproved = false;
    let failure: Error | string = 'closed before WELCOME';
    socket.once('connect', () => {
      connected = true;
    });
    // Not welcomed in time (something else listens there, a node hung): given up, tried again later.
    const timer = setTimeout(() => {
      failure = NOT_WELCOMED;
      socket.destroy();
    }, HELLO_TIMEOUT_MS);
    timer.unref();
    // The listening node sends CHALLENGE, then (to the right HELLO) WELCOME, and nothing else.
    let sent: Hello | undefined;
    const reader = new FrameReader((type, body) => {
      if (sent === undefined && type === CHALLENGE) {
        sent = hello(this.secret(), body, this.self, node);
        socket.write(frame(HELLO, sent.body));
        return true;
      }
      if (sent === undefined || link.ready || type !== WELCOME) return false;
      unproved = !sent.welcomes(body);
      if (unproved) return false;
      clearTimeout(timer);
      link.ready = true;
      link.readyAt = performance.now();
      this.failing.delete(node);
      return true;
    });
    socket.on('data', (chunk: Buffer) => {
      heard = true;
      if (reader.push(chunk, 1024)) return;
      failure = unproved ? 'its WELCOME does not prove the cluster secret' : (reader.failure ?? 'refused');
      socket.destroy();
    });
    socket.on('error', (err) => {
      failure = err;
    });
    socket.on('close', () => {
      clearTimeout(timer);
      if (!link.ready && !link.dropped) {
        this.retryAt.set(node, Date.now() + RETRY_MS);
        if (connected && !this.closed) this.handshakeFailed(node, address, failure, heard);
      }
      if (this.out.get(node) === link) this.out.delete(node);
    });
  }

  /**
   * A connection to `node`'s link was made but not welcomed: said once, until a link to it opens again
   * (the next attempts, each second, would only say it again).
   */
  private handshakeFailed(node: string, address: string, failure: Error | string, heard: boolean): void {
    if (this.failing.has(node)) return;
    this.failing.add(node);
    const why = linkFailure(failure, heard, this.sockets.tls);
    this.handlers.refused(node, `its link at ${address} failed (${why}); its messages go through Redis`);
  }

  private drop(node: string, link: OutLink): void {
    this.out.delete(node);
    link.dropped = true;
    link.socket.destroy();
  }

  /** A node connecting here: a CHALLENGE to it, its HELLO first, then its frames. */
  private accept(socket: Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.track(socket);
    socket.setNoDelay(true);
    let from: string | undefined;
    const timer = setTimeout(() => socket.destroy(), HELLO_TIMEOUT_MS);
    timer.unref();
    const challenge = newChallenge();
    socket.write(frame(CHALLENGE, challenge));
    const reader = new FrameReader((type, body) => {
      if (from === undefined) {
        const welcomed = type === HELLO ? checkHello(this.secret(), challenge, this.self, body) : undefined;
        if (welcomed === undefined) return false;
        from = welcomed.from;
        clearTimeout(timer);
        socket.write(frame(WELCOME, welcomed.welcome));
        return true;
      }
      this.framesReceived++;
      if (type === QOS0) this.handlers.qos0(from, body);
      else if (type === INBOX) {
        const stampLength = body.readUInt16BE(0);
        const previousAt = 2 + stampLength;
        const previousLength = body.readUInt16BE(previousAt);
        const batchAt = previousAt + 2 + previousLength;
        this.handlers.inbox(
          from,
          body.toString('utf8', 2, previousAt),
          body.toString('utf8', previousAt + 2, batchAt),
          body.subarray(batchAt),
        );
      } else return false;
      return true;
    });
    socket.on('data', (chunk: Buffer) => {
      if (reader.push(chunk, from === undefined ? 1024 : MAX_FRAME)) return;
      // A stranger is only closed; a node's bad frame is news (a bug, or a mismatched version).
      if (from !== undefined) this.handlers.refused(from, reader.failure ?? 'refused');
      socket.destroy();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => clearTimeout(timer));
  }

  /** An incoming connection, closed with the links. */
  private track(socket: Socket): void {
    if (this.incoming.has(socket)) return;
    this.incoming.add(socket);
    socket.once('close', () => this.incoming.delete(socket));
  }
}

/** Whether a registry's link address can be parsed (anything else is not tried). */
function isAddress(address: string): boolean {
  try {
    parseLinkAddress(address);
    return true;
  } catch {
    return false;
  }
}

/** Whether a link address (`host:port`) is on the loopback interface. */
function isLoopback(address: string): boolean {
  const { host } = parseLinkAddress(address);
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
