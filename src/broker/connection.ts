import type { Duplex } from 'node:stream';
import { decode, encode, PacketParser } from '../packets/index.js';
import { ReasonCode } from '../packets/reason-codes.js';
import type { ConnectPacket, Packet, QoS, WillMessage } from '../packets/types.js';
import { ConnectionBits } from './connection-bits.js';
import { answerProtocolError, finishClose, sendDisconnect } from './connection-ending.js';
import { fromTicks, listenToStream, ticksNow } from './connection-extras.js';
import type { EngineServices } from './engine-services.js';
import type { HeldAck, TurnTarget } from './held-acks.js';
import type { DropReason } from './hooks.js';
import { HELD_ACKS_FLOOR, PRESSURE_FLOOR } from './memory-budget.js';
import type { Message } from './message.js';
import { appendShortAck, appendSuccessAck, EARLY_FLUSH_BYTES, OutboundWriter } from './outbound-writer.js';
import { dispatchPacket } from './packet-dispatch.js';
import type { ConnectionFacts } from './port.js';
import type { ProtocolPeer } from './protocol-peer.js';
import { writePublish } from './publish-writer.js';
import type { Session } from './session.js';
import type { SharedPublishHeaders } from './shared-header.js';

/**
 * One network connection: parses bytes into packets, runs the protocol for them against the engine's
 * services, and writes replies through a coalescing writer. Packets are handled strictly in order; when a
 * handler returns a promise (an async hook, a commit to wait for), later packets wait for it.
 */
export class Connection extends ConnectionBits implements ProtocolPeer, TurnTarget {
  readonly services: EngineServices;
  readonly stream: Duplex;
  readonly facts: ConnectionFacts;
  clientId = '';
  username: string | undefined;
  session: Session | undefined;
  connect: ConnectPacket | undefined;
  will: WillMessage | undefined;
  keepaliveMs = 0;
  /** When the last bytes came, in clock ticks (see `ticksNow`). */
  private activityTick = ticksNow();
  private readonly openedTick = ticksNow();
  sendQuota = 65_535;
  clientMaximumPacketSize = 268_435_460;
  clientTopicAliasMaximum = 0;
  /**
   * Made at the first byte (so undefined also means nothing was received yet), dropped again by `trim` while
   * the connection idles between whole packets.
   */
  private parserOrNone: PacketParser | undefined;
  /** Made on first send, dropped by `trim` while it holds nothing. */
  private writerOrNone: OutboundWriter | undefined;

  /** The client ended the connection with DISCONNECT: remember its reason for the hooks, then close. */
  closeByClient(reasonCode: number): void {
    this.more().disconnectInfo = { reasonCode, by: 'client' };
    this.close();
  }

  constructor(services: EngineServices, stream: Duplex, facts: ConnectionFacts) {
    super();
    this.services = services;
    this.stream = stream;
    this.facts = facts;
    listenToStream(stream, this);
  }

  get kind(): 'network' {
    return 'network';
  }

  /** When the last bytes came (ms since epoch, to a clock tick), for keep alive. */
  get lastActivity(): number {
    return fromTicks(this.activityTick);
  }

  /** When the stream was accepted (ms since epoch, to a clock tick). */
  get openedAt(): number {
    return fromTicks(this.openedTick);
  }

  /** Where this turn's bytes for the client are staged. */
  get writer(): OutboundWriter {
    this.writerOrNone ??= new OutboundWriter();
    return this.writerOrNone;
  }

  /** Let go of the parser and writer while they hold nothing (an idle connection, from the sweep). */
  trim(): void {
    if (this.writerOrNone?.idle === true) this.writerOrNone = undefined;
    if (this.parserOrNone?.idle === true && this.state === 'connected') this.parserOrNone = undefined;
  }

  get remoteAddress(): string | undefined {
    return this.facts.remoteAddress;
  }
  get remotePort(): number | undefined {
    return this.facts.remotePort;
  }
  get listener(): string {
    return this.facts.listener;
  }
  get inline(): boolean {
    return this.facts.inline === true;
  }

  /**
   * Process `packet` exactly as if it had just been parsed from this connection's stream: same hooks, same
   * ordering behind a packet still waiting for an async hook, same protocol errors (`broker.injectPacket`).
   */
  inject(packet: Packet): void {
    if (this.state === 'closed' || this.state === 'closing') return;
    this.activityTick = ticksNow();
    // Through the codec and back, so an injected packet meets every check a received one does.
    const version = packet.type === 'connect' ? packet.protocolVersion : this.protocolVersion;
    let checked: Packet;
    try {
      checked = decode(encode(packet, version), version);
    } catch (err) {
      this.onProtocolError(err);
      return;
    }
    this.onPacket(checked);
  }

  /** Bytes from the stream (called by the shared stream listeners). */
  onData(chunk: Buffer): void {
    if (this.state === 'closed' || this.state === 'closing') return;
    this.activityTick = ticksNow();
    this.services.stats.bytesReceived += chunk.length;
    let parser = this.parserOrNone;
    if (parser === undefined) {
      if (chunk.length === 0) return;
      // [MQTT-3.1.0-1] A stream whose first byte is not a CONNECT header is closed at once, not left to time out.
      if (this.state === 'connecting' && (chunk[0] as number) >> 4 !== 1) {
        this.services.stats.connectRefused.malformed++;
        this.close();
        return;
      }
      parser = new PacketParser({
        protocolVersion: this.protocolVersion,
        maximumPacketSize: this.services.options.maximumPacketSize,
      });
      this.parserOrNone = parser;
    }
    const turn = this.services.turn;
    turn.chunkBegins();
    try {
      parser.push(chunk, this.onPacket, this);
    } catch (err) {
      this.onProtocolError(err);
    }
    turn.chunkDone();
  }

  private onPacket(packet: Packet): void {
    // [MQTT-3.1.4-6] (3.1.1: [MQTT-3.1.4-5]) Packets that shared a chunk with the one that closed the
    // connection (a refused CONNECT, a DISCONNECT, a protocol error) are not processed.
    if (this.state === 'closed' || this.state === 'closing') return;
    this.services.stats.countPacketIn(packet.type);
    if (this.busy) {
      const extras = this.more();
      extras.backlog ??= [];
      extras.backlog.push(packet);
      return;
    }
    this.run(packet);
  }

  /** Handle one packet; when it goes async, hold the rest until it settles. */
  private run(packet: Packet): void {
    let pending: Promise<void> | undefined;
    try {
      pending = dispatchPacket(this, packet);
    } catch (err) {
      this.onProtocolError(err);
      return;
    }
    if (pending === undefined) return;
    this.awaitHandler(pending);
  }

  /** A handler went async: later packets wait. Not in `run`, whose every call would make their context. */
  private awaitHandler(pending: Promise<void>): void {
    this.busy = true;
    this.stream.pause();
    pending.then(
      () => this.resumeAfterAsync(),
      (err: unknown) => {
        this.busy = false;
        this.onProtocolError(err);
      },
    );
  }

  private resumeAfterAsync(): void {
    this.busy = false;
    const backlog = this.extras?.backlog;
    while (backlog !== undefined && !this.busy && backlog.length > 0 && this.state !== 'closed') {
      if (this.state === 'closing') break;
      this.run(backlog.shift() as Packet);
    }
    if (!this.busy && !this.readsHeld && this.state !== 'closed') this.stream.resume();
  }

  // ---- SessionLink: what the session engine asks of the live connection ----

  /**
   * A slow reader: over its own write limit, or, while all slow readers together are over the broker's
   * memory budget, holding more than PRESSURE_FLOOR.
   */
  congested(): boolean {
    const backlog = this.backlogBytes();
    const memory = this.services.memory;
    memory.track(this, backlog);
    return backlog > this.services.options.maxWriteBuffer || (backlog > PRESSURE_FLOOR && memory.pressure);
  }

  sendPublish(
    message: Message,
    qos: QoS,
    retain: boolean,
    subscriptionIds: readonly number[] | undefined,
    packetId: number,
    dup: boolean,
    headers: SharedPublishHeaders,
  ): DropReason | undefined {
    const hooks = this.services.hooks;
    const refused = writePublish(this, hooks, message, qos, retain, subscriptionIds, packetId, dup, headers);
    if (refused !== undefined) return refused;
    this.services.stats.countPublishOut(qos, message.payload.length);
    this.scheduleWrite();
    return undefined;
  }

  sendPubrel(packetId: number): void {
    this.sendAck('pubrel', packetId);
  }

  /** A Success acknowledgement: its 4-byte form without a packet object, when no hook may see it. */
  private sendAck(kind: HeldAck, packetId: number): void {
    if (this.state === 'closed') return;
    if (this.services.hooks.on.onPacketEncode.length > 0 || !appendSuccessAck(this.writer, kind, packetId)) {
      this.send({ type: kind, packetId });
      return;
    }
    this.services.stats.countPacketOut(kind);
    this.scheduleWrite();
  }

  /** Encode and queue any packet for this turn's flush. */
  send(input: Packet): void {
    if (this.state === 'closed') return;
    let packet: Packet | undefined = input;
    const encodeHooks = this.services.hooks.on.onPacketEncode;
    // Acknowledgements in their 4-byte form, directly, when no hook may see or change the packet.
    if (encodeHooks.length === 0 && appendShortAck(this.writer, input, this.protocolVersion)) {
      this.services.stats.countPacketOut(input.type);
      this.scheduleWrite();
      return;
    }
    for (const hook of encodeHooks) {
      packet = hook.onPacketEncode(this, packet);
      if (packet === undefined) return;
    }
    this.writer.append(encode(packet, this.protocolVersion));
    this.services.stats.countPacketOut(packet.type);
    this.scheduleWrite();
  }

  /**
   * Acknowledge now, or once the commit holding the acknowledged state returned. A client is not read while
   * more of its acknowledgements wait than the Receive Maximum (a v3 client has no such limit, and while a
   * cluster's Redis is away commits wait for it), or than HELD_ACKS_FLOOR while the broker is over its
   * memory budget; it is read again once half of them left. What it sends meanwhile waits in its socket.
   */
  acknowledge(kind: HeldAck, packetId: number, bytes = 0): void {
    const turn = this.services.turn;
    if (!turn.acksWait) {
      this.sendAck(kind, packetId);
      return;
    }
    turn.holdAck(this, kind, packetId, bytes);
    this.addHeldAck(1);
    if (!this.readsHeld && this.tooManyHeld(1)) {
      this.readsHeld = true;
      this.stream.pause();
    }
  }

  /** More acknowledgements wait than this client may have (`share` 1), or half of that (0.5). */
  private tooManyHeld(share: number): boolean {
    const held = this.heldAcks;
    return (
      held > this.services.options.receiveMaximum * share ||
      (held > HELD_ACKS_FLOOR * share && this.services.memory.pressure)
    );
  }

  releaseAck(kind: HeldAck, packetId: number): void {
    this.ackLeft();
    if (this.state === 'connected') this.sendAck(kind, packetId);
  }

  /** One held acknowledgement left (sent or refused): read again once half of the limit's worth left. */
  private ackLeft(): void {
    this.addHeldAck(-1);
    if (!this.readsHeld || this.tooManyHeld(0.5)) return;
    this.readsHeld = false;
    if (this.busy || this.state === 'closed') return;
    // The client was silent because we did not read it: its keep alive counts from now.
    this.activityTick = ticksNow();
    this.stream.resume();
  }

  refuseAck(kind: HeldAck, packetId: number): void {
    this.ackLeft();
    if (this.state !== 'connected') return;
    if (kind === 'pubcomp' || kind === 'pubrel') {
      // The state changed in memory; its record follows when the store commits again.
      this.sendAck(kind, packetId);
    } else if (this.protocolVersion === 5) {
      this.send({ type: kind, packetId, reasonCode: ReasonCode.QuotaExceeded });
    } else {
      // v3 has no way to refuse a PUBLISH: without the acknowledgement the client sends it again later.
      this.disconnect(ReasonCode.QuotaExceeded);
    }
  }

  /**
   * Bytes handed to the socket that the peer has not taken yet, with what the kernel holds for a reader
   * that stalled (kernel-send-queues.ts). This turn's batch is not counted: it is bounded by
   * EARLY_FLUSH_BYTES, and counting it would call a fast reader slow whenever a big input chunk fans out.
   */
  backlogBytes(): number {
    return this.stream.writableLength + this.kernelQueued;
  }

  flushWrites(): number {
    const writer = this.writerOrNone;
    if (writer === undefined) return 0;
    const bytes = writer.flush(this.stream);
    if (bytes > 0) this.services.memory.track(this, this.backlogBytes());
    return bytes;
  }

  /** Flush with the turn's other writes, or now when this turn's batch is already large. */
  private scheduleWrite(): void {
    const writer = this.writer;
    if (writer.pendingBytes >= EARLY_FLUSH_BYTES) {
      this.services.stats.bytesSent += writer.flush(this.stream);
      this.services.lookAtKernel();
    } else this.services.turn.scheduleFlush(this);
  }

  /** The stream's write buffer drained: send what waited. */
  onDrain(): void {
    this.congestedSince = 0;
    if (this.session?.muted === true) this.services.router.unmute(this.session);
    if (this.session !== undefined && this.state === 'connected') this.services.outbound.drain(this.session);
  }

  // ---- ending ----

  /**
   * Server-initiated disconnect: v5 clients get DISCONNECT with the reason code first. [MQTT-3.14.2-1]
   * The will is published unless the client sent a normal DISCONNECT. [MQTT-3.1.2-8]
   */
  disconnect(reasonCode: number, reasonString?: string): void {
    if (this.state === 'closed' || this.state === 'closing') return;
    if (this.protocolVersion === 5 && this.state === 'connected')
      sendDisconnect(this, reasonCode, reasonString);
    this.more().disconnectInfo = { reasonCode, by: 'server' };
    this.close();
  }

  /** A protocol violation or decoding error: answer with its reason code (v5) and close. */
  onProtocolError(err: unknown): void {
    answerProtocolError(this, err);
  }

  /** The stream ended, closed or failed. */
  onNetworkEnd(err: Error | undefined): void {
    if (this.state === 'closed') return;
    if (this.extras?.disconnectInfo === undefined) {
      this.more().disconnectInfo = {
        reasonCode: err === undefined ? 0 : ReasonCode.UnspecifiedError,
        by: 'network',
        ...(err === undefined ? {} : { error: err }),
      };
    }
    this.close();
  }

  /** Flush what is pending, end the socket, then settle the session and will. */
  close(): void {
    if (this.state === 'closed') return;
    const wasConnected = this.state === 'connected';
    this.state = 'closed';
    if (this.writerOrNone !== undefined)
      this.services.stats.bytesSent += this.writerOrNone.flush(this.stream);
    finishClose(this, wasConnected, this.extras?.disconnectInfo);
  }
}
