import type { Duplex } from 'node:stream';
import type { ClientInfo, DisconnectInfo } from '../hooks/types.js';
import { MqttError } from '../packets/errors.js';
import { decode, encode, encodePublish, PacketParser } from '../packets/index.js';
import { ReasonCode } from '../packets/reason-codes.js';
import type {
  ConnectPacket,
  DisconnectPacket,
  Packet,
  Properties,
  ProtocolVersionNumber,
  PublishPacket,
  QoS,
  WillMessage,
} from '../packets/types.js';
import type { Broker } from './broker.js';
import { handleConnect } from './connect-flow.js';
import { handleInboundPublish, handlePubrel } from './inbound-publish.js';
import type { Message } from './message.js';
import { remainingExpirySeconds } from './message.js';
import { COPY_LIMIT, EARLY_FLUSH_BYTES, OutboundWriter } from './outbound-writer.js';
import type { Session, SessionLink } from './session.js';
import { handleSubscribe, handleUnsubscribe } from './subscribe-flow.js';

/** Facts about a connection that the listener knows and the core does not (it imports no transport). */
export interface ConnectionFacts {
  readonly listener: string;
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  /** The TLS peer certificate, when the listener is TLS and the client presented one. */
  readonly peerCertificate?: unknown;
  /** WebSocket upgrade request headers. */
  readonly headers?: Readonly<Record<string, string | string[] | undefined>>;
  /** True for in-process clients made with `broker.createClient` (reported to hooks as `ClientInfo.inline`). */
  readonly inline?: boolean;
}

type ConnectionState = 'connecting' | 'connected' | 'closing' | 'closed';

/** First byte of each acknowledgement: packet type, and the fixed flags 0b0010 for PUBREL ([MQTT-3.6.1-1]). */
const ACK_FIRST_BYTE = { puback: 0x40, pubrec: 0x50, pubrel: 0x62, pubcomp: 0x70 } as const;

/**
 * One network connection: parses bytes into packets, runs the protocol for them against the broker,
 * and writes replies through a coalescing writer. Packets are handled strictly in order; when a
 * handler returns a promise (an async hook), later packets wait for it.
 */
export class Connection implements ClientInfo, SessionLink {
  readonly broker: Broker;
  readonly stream: Duplex;
  readonly facts: ConnectionFacts;
  readonly parser: PacketParser;
  readonly writer: OutboundWriter;
  state: ConnectionState = 'connecting';
  clientId = '';
  username: string | undefined;
  protocolVersion: ProtocolVersionNumber = 4;
  session: Session | undefined;
  connect: ConnectPacket | undefined;
  /** Set when the server assigned the client identifier (returned in v5 CONNACK). */
  assignedClientId: string | undefined;
  /** The v5 Authentication Method this connection authenticated (or is authenticating) with. */
  authMethod: string | undefined;
  /** The will of this connection, cleared by a normal DISCONNECT. */
  will: WillMessage | undefined;
  /** Keep alive in effect, in ms (0: none); enforced at 1.5 times. [MQTT-3.1.2-22] */
  keepaliveMs = 0;
  lastActivity = Date.now();
  readonly openedAt = Date.now();
  /** Since when the write backlog has been over the limit (0: it is not). */
  congestedSince = 0;
  /** The client's Receive Maximum (v5) or the broker's default window for v3. */
  sendQuota = 65_535;
  /** The client's Maximum Packet Size (v5); we never send more. [MQTT-3.1.2-24] */
  clientMaximumPacketSize = 268_435_460;
  /** Inbound topic aliases (v5): alias -> topic name. */
  readonly inboundAliases = new Map<number, string>();
  /** Outbound topic aliases assigned by the broker (v5): topic -> alias. */
  readonly outboundAliases = new Map<string, number>();
  clientTopicAliasMaximum = 0;
  /** Whether the client allows reason strings and user properties on acks (v5 Request Problem Information). */
  problemInformation = true;
  private backlog: Packet[] = [];
  private receivedAny = false;
  /** Made once per connection, so parsing a chunk allocates no callback. */
  private readonly packetHandler = (packet: Packet): void => this.onPacket(packet);
  private busy = false;
  private disconnectInfo: DisconnectInfo | undefined;

  constructor(broker: Broker, stream: Duplex, facts: ConnectionFacts) {
    this.broker = broker;
    this.stream = stream;
    this.facts = facts;
    this.parser = new PacketParser({ maximumPacketSize: broker.options.maximumPacketSize });
    this.writer = new OutboundWriter(stream);
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('error', (err: Error) => this.onNetworkEnd(err));
    stream.on('close', () => this.onNetworkEnd(undefined));
    stream.on('end', () => this.onNetworkEnd(undefined));
    stream.on('drain', () => this.onDrain());
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
    this.lastActivity = Date.now();
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

  private onData(chunk: Buffer): void {
    if (this.state === 'closed' || this.state === 'closing') return;
    this.lastActivity = Date.now();
    this.broker.stats.bytesReceived += chunk.length;
    // [MQTT-3.1.0-1] A stream whose first byte is not a CONNECT header is closed at once, not left to time out.
    if (!this.receivedAny && chunk.length > 0) {
      this.receivedAny = true;
      if ((chunk[0] as number) >> 4 !== 1) {
        this.close();
        return;
      }
    }
    try {
      this.parser.push(chunk, this.packetHandler);
    } catch (err) {
      this.onProtocolError(err);
    }
  }

  private onPacket(packet: Packet): void {
    // [MQTT-3.1.4-6] (3.1.1: [MQTT-3.1.4-5]) Packets that shared a chunk with the one that closed the
    // connection (a refused CONNECT, a DISCONNECT, a protocol error) are not processed.
    if (this.state === 'closed' || this.state === 'closing') return;
    this.broker.stats.countPacketIn(packet.type);
    if (this.busy) {
      this.backlog.push(packet);
      return;
    }
    this.run(packet);
  }

  /** Handle one packet; when it goes async, hold the rest until it settles. */
  private run(packet: Packet): void {
    let pending: Promise<void> | undefined;
    try {
      pending = this.dispatch(packet);
    } catch (err) {
      this.onProtocolError(err);
      return;
    }
    if (pending === undefined) return;
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
    while (!this.busy && this.backlog.length > 0 && this.state !== 'closed' && this.state !== 'closing') {
      this.run(this.backlog.shift() as Packet);
    }
    if (!this.busy && this.state !== 'closed') this.stream.resume();
  }

  /** Route one packet to its handler. Returns a promise only when a handler went async. */
  private dispatch(input: Packet): Promise<void> | undefined {
    let packet: Packet | undefined = input;
    const readHooks = this.broker.hooks.on.onPacketRead;
    if (readHooks.length > 0) {
      for (const hook of readHooks) {
        packet = hook.onPacketRead(this, packet);
        if (packet === undefined) return undefined;
      }
    }
    if (this.state === 'connecting') {
      // [MQTT-3.1.0-1] The first packet sent from the Client to the Server MUST be a CONNECT packet.
      if (packet.type === 'auth' && this.authMethod !== undefined)
        return this.broker.auth.onAuthPacket(this, packet);
      if (packet.type !== 'connect' || this.connect !== undefined) {
        throw MqttError.protocol(`expected CONNECT as the first packet, got ${packet.type.toUpperCase()}`);
      }
      return handleConnect(this, packet);
    }
    switch (packet.type) {
      case 'publish':
        return handleInboundPublish(this, packet);
      case 'puback':
        this.onPuback(packet.packetId);
        return undefined;
      case 'pubrec':
        this.onPubrec(packet.packetId, packet.reasonCode ?? 0);
        return undefined;
      case 'pubrel':
        handlePubrel(this, packet.packetId);
        return undefined;
      case 'pubcomp':
        this.onPubcomp(packet.packetId);
        return undefined;
      case 'subscribe':
        return handleSubscribe(this, packet);
      case 'unsubscribe':
        handleUnsubscribe(this, packet);
        return undefined;
      case 'pingreq':
        this.send({ type: 'pingresp' });
        return undefined;
      case 'disconnect':
        this.onClientDisconnect(packet);
        return undefined;
      case 'connect':
        // [MQTT-3.1.0-2] A second CONNECT packet is a Protocol Error.
        throw MqttError.protocol('second CONNECT on one connection');
      case 'auth':
        return this.broker.auth.onAuthPacket(this, packet);
      default:
        // (spec 2.1.2, no statement id) CONNACK, SUBACK, UNSUBACK, PINGRESP are sent only by a server.
        throw MqttError.protocol(`a client must not send ${packet.type.toUpperCase()}`);
    }
  }

  // ---- QoS flows towards the client ----

  private onPuback(packetId: number): void {
    const session = this.session;
    const out = session?.inflight.get(packetId);
    // (spec 4.3.2, no statement id) An acknowledgement for an unknown packet identifier is ignored.
    if (session === undefined || out === undefined || out.qos !== 1) return;
    session.inflight.delete(packetId);
    this.broker.qosComplete(session, packetId);
    this.broker.drainSession(session);
  }

  private onPubrec(packetId: number, reasonCode: number): void {
    const session = this.session;
    const out = session?.inflight.get(packetId);
    if (session === undefined || out === undefined || out.qos !== 2) {
      // (spec 3.6.2.1, no statement id) Unknown identifier: answer PUBREL 0x92 in v5 so the client can finish its flow.
      if (this.protocolVersion === 5) {
        this.send({ type: 'pubrel', packetId, reasonCode: ReasonCode.PacketIdentifierNotFound });
      } else {
        this.send({ type: 'pubrel', packetId });
      }
      return;
    }
    if (reasonCode >= 0x80) {
      // [MQTT-4.4.0-2] A PUBREC with an error reason code ends the QoS 2 flow: acknowledged, never re-sent.
      session.inflight.delete(packetId);
      this.broker.qosComplete(session, packetId);
      this.broker.drainSession(session);
      return;
    }
    // [MQTT-4.3.3-4] After PUBREC the sender MUST send PUBREL with the same packet identifier.
    out.state = 'pubrel';
    this.sendPubrel(packetId);
  }

  private onPubcomp(packetId: number): void {
    const session = this.session;
    const out = session?.inflight.get(packetId);
    if (session === undefined || out === undefined || out.state !== 'pubrel') return;
    session.inflight.delete(packetId);
    this.broker.qosComplete(session, packetId);
    this.broker.drainSession(session);
  }

  private onClientDisconnect(packet: DisconnectPacket): void {
    const reasonCode = packet.reasonCode ?? 0;
    const session = this.session;
    const newExpiry = packet.properties?.sessionExpiryInterval;
    if (session !== undefined && newExpiry !== undefined) {
      // [MQTT-3.14.2-2] Session Expiry 0 at CONNECT may not become non-zero at DISCONNECT.
      if (session.expiryInterval === 0 && newExpiry !== 0) {
        throw MqttError.protocol('session expiry interval changed from 0 at DISCONNECT');
      }
      session.expiryInterval = this.broker.capExpiry(newExpiry);
      this.broker.sessionChanged(session);
    }
    // [MQTT-3.14.4-3] On a normal DISCONNECT the will is discarded; v5 reason 0x04 asks for it.
    if (reasonCode !== ReasonCode.DisconnectWithWillMessage) this.will = undefined;
    this.disconnectInfo = { reasonCode, by: 'client' };
    this.close();
  }

  // ---- SessionLink: what the session engine asks of the live connection ----

  congested(): boolean {
    return this.writer.backlog > this.broker.options.maxWriteBuffer;
  }

  sendPublish(
    message: Message,
    qos: QoS,
    retain: boolean,
    subscriptionIds: readonly number[] | undefined,
    packetId: number,
    dup: boolean,
  ): boolean {
    const broker = this.broker;
    const v5 = this.protocolVersion === 5;
    // Per-subscriber properties (expiry left, subscription ids, topic alias) or encode hooks need a packet
    // of their own; everything else shares one header per message, with the packet id patched in.
    const shared =
      broker.hooks.on.onPacketEncode.length === 0 &&
      (!v5 ||
        (message.properties === undefined &&
          message.expiresAt === undefined &&
          subscriptionIds === undefined &&
          this.clientTopicAliasMaximum === 0));
    if (!shared)
      return this.sendPublishPacket(message, qos, retain, subscriptionIds, packetId, dup, Date.now());
    const header = broker.publishHeader(message, v5, qos, retain, dup);
    const templatePacketIdAt = qos > 0 ? header.length - (v5 ? 3 : 2) : -1;
    // [MQTT-3.1.2-25] A packet larger than the client's Maximum Packet Size is not sent to it.
    if (header.length + message.payload.length > this.clientMaximumPacketSize) return false;
    // A header too large to be staged would go out by reference and could not be patched: encode a copy.
    if (templatePacketIdAt >= 0 && header.length >= COPY_LIMIT) {
      return this.sendPublishPacket(message, qos, retain, subscriptionIds, packetId, dup, Date.now());
    }
    const at = this.writer.append(header);
    if (templatePacketIdAt >= 0) this.writer.patchUint16(at + templatePacketIdAt, packetId);
    if (message.payload.length > 0) this.writer.append(message.payload);
    this.afterWrite(qos, message.payload.length);
    return true;
  }

  private sendPublishPacket(
    message: Message,
    qos: QoS,
    retain: boolean,
    subscriptionIds: readonly number[] | undefined,
    packetId: number,
    dup: boolean,
    now: number,
  ): boolean {
    let properties: Properties | undefined;
    if (this.protocolVersion === 5) {
      properties = message.properties === undefined ? {} : { ...message.properties };
      // [MQTT-3.3.2-6] The Message Expiry Interval sent on is the time left.
      const remaining = remainingExpirySeconds(message, now);
      if (remaining !== undefined) properties.messageExpiryInterval = remaining;
      // [MQTT-3.3.4-3] Every matching subscription's identifier goes with the message.
      if (subscriptionIds !== undefined) properties.subscriptionIdentifiers = [...subscriptionIds];
    }
    let topic = message.topic;
    if (properties !== undefined && this.clientTopicAliasMaximum > 0) {
      const alias = this.outboundAliases.get(topic);
      if (alias !== undefined) {
        properties.topicAlias = alias;
        topic = '';
      } else if (this.outboundAliases.size < this.clientTopicAliasMaximum) {
        // [MQTT-3.3.2-11] [MQTT-3.1.2-26] Aliases the broker assigns never exceed the client's Topic Alias Maximum.
        const next = this.outboundAliases.size + 1;
        this.outboundAliases.set(topic, next);
        properties.topicAlias = next;
      }
    }
    if (properties !== undefined && Object.keys(properties).length === 0) properties = undefined;
    let packet: PublishPacket | undefined = {
      type: 'publish',
      topic,
      payload: message.payload,
      qos,
      retain,
      dup,
    };
    if (qos > 0) packet.packetId = packetId;
    if (properties !== undefined) packet.properties = properties;
    const encodeHooks = this.broker.hooks.on.onPacketEncode;
    for (const hook of encodeHooks) {
      const changed = hook.onPacketEncode(this, packet);
      if (changed === undefined || changed.type !== 'publish') return false;
      packet = changed;
    }
    const encoded = encodePublish(packet, this.protocolVersion);
    if (encoded.header.length + encoded.payload.length > this.clientMaximumPacketSize) {
      if (properties?.topicAlias !== undefined && topic !== '') this.outboundAliases.delete(topic);
      return false;
    }
    this.writer.append(encoded.header);
    if (encoded.payload.length > 0) this.writer.append(encoded.payload);
    this.afterWrite(qos, encoded.payload.length);
    return true;
  }

  sendPubrel(packetId: number): void {
    this.send({ type: 'pubrel', packetId });
  }

  /** Encode and queue any packet for this turn's flush. */
  send(input: Packet): void {
    if (this.state === 'closed') return;
    let packet: Packet | undefined = input;
    const encodeHooks = this.broker.hooks.on.onPacketEncode;
    // Every QoS 1/2 message costs one or two acknowledgements: stage their 4 bytes directly when no hook
    // may see or change the packet. Anything encode() would refuse or write longer takes the full path.
    if (
      encodeHooks.length === 0 &&
      (input.type === 'puback' ||
        input.type === 'pubrec' ||
        input.type === 'pubrel' ||
        input.type === 'pubcomp')
    ) {
      const packetId = input.packetId;
      if (
        (packetId & 0xffff) === packetId &&
        packetId !== 0 &&
        // v5 may drop the reason code and property length when the reason is Success and there are no
        // properties (3.4.2.1); v3 acknowledgements are always this form.
        (this.protocolVersion !== 5 || ((input.reasonCode ?? 0) === 0 && input.properties === undefined))
      ) {
        this.writer.appendAck(ACK_FIRST_BYTE[input.type], packetId);
        this.broker.stats.countPacketOut(input.type);
        this.scheduleWrite();
        return;
      }
    }
    for (const hook of encodeHooks) {
      packet = hook.onPacketEncode(this, packet);
      if (packet === undefined) return;
    }
    this.writer.append(encode(packet, this.protocolVersion));
    this.broker.stats.countPacketOut(packet.type);
    this.scheduleWrite();
  }

  private afterWrite(qos: QoS, payloadBytes: number): void {
    this.broker.stats.countPublishOut(qos, payloadBytes);
    this.scheduleWrite();
  }

  /** Flush with the turn's other writes, or now when this turn's batch is already large. */
  private scheduleWrite(): void {
    if (this.writer.pendingBytes >= EARLY_FLUSH_BYTES) this.broker.stats.bytesSent += this.writer.flush();
    else this.broker.scheduleFlush(this);
  }

  private onDrain(): void {
    this.congestedSince = 0;
    if (this.session !== undefined && this.state === 'connected') this.broker.drainSession(this.session);
  }

  // ---- ending ----

  /**
   * Server-initiated disconnect: v5 clients get DISCONNECT with the reason code first. [MQTT-3.14.2-1]
   * The will is published unless the client sent a normal DISCONNECT. [MQTT-3.1.2-8]
   */
  disconnect(reasonCode: number, reasonString?: string): void {
    if (this.state === 'closed' || this.state === 'closing') return;
    if (this.protocolVersion === 5 && this.state === 'connected') {
      const packet: DisconnectPacket = { type: 'disconnect', reasonCode };
      if (reasonString !== undefined && this.problemInformation) {
        packet.properties = { reasonString };
        // [MQTT-3.14.2-3] The Reason String is dropped when it would push DISCONNECT over the client's
        // Maximum Packet Size, so the reason code still gets through.
        if (encode(packet, 5).length > this.clientMaximumPacketSize) delete packet.properties;
      }
      this.send(packet);
    }
    this.disconnectInfo = { reasonCode, by: 'server' };
    this.close();
  }

  /** A protocol violation or decoding error: answer with its reason code (v5) and close. */
  onProtocolError(err: unknown): void {
    const error = err instanceof MqttError ? err : undefined;
    if (error === undefined) {
      this.broker.logError(err, this);
      this.disconnect(ReasonCode.UnspecifiedError);
      return;
    }
    if (this.state === 'connecting') {
      this.broker.refuseConnect(this, error);
      return;
    }
    this.disconnect(error.reasonCode, error.message);
  }

  private onNetworkEnd(err: Error | undefined): void {
    if (this.state === 'closed') return;
    if (this.disconnectInfo === undefined) {
      this.disconnectInfo = {
        reasonCode: err === undefined ? 0 : ReasonCode.UnspecifiedError,
        by: 'network',
        ...(err === undefined ? {} : { error: err }),
      };
    }
    this.close();
  }

  /** Flush what is pending, end the socket and let the broker settle the session and will. */
  close(): void {
    if (this.state === 'closed') return;
    const wasConnected = this.state === 'connected';
    this.state = 'closed';
    this.broker.stats.bytesSent += this.writer.flush();
    this.stream.end();
    // A socket that does not finish closing in time is destroyed.
    setTimeout(() => this.stream.destroy(), 2000).unref();
    try {
      this.broker.onConnectionClosed(
        this,
        wasConnected,
        this.disconnectInfo ?? { reasonCode: 0, by: 'network' },
      );
    } catch (err) {
      // This runs from socket events: a hook or will that throws here must not take the process down.
      this.broker.logError(err, this);
    }
  }
}
