/**
 * One network connection of a client: the transport, the packet parser, write coalescing and keep alive.
 * Session state (packet identifiers, subscriptions, retries) lives in the client and outlives connections.
 */
import { encode, encodePublish, MqttError, PacketParser } from '../packets/index.js';
import { ReasonCode } from '../packets/reason-codes.js';
import type { Packet, ProtocolVersionNumber, PublishPacket } from '../packets/types.js';
import type { Transport } from './transport.js';
import type { PacketObserver } from './types.js';

/** What a connection reports to its client. */
export interface ConnectionEvents {
  /** A packet arrived. Throwing an MqttError closes the connection with that reason code. */
  packet(packet: Packet): void;
  /** The transport accepts writes again after `send` returned false. */
  drain(): void;
  /** The connection is gone; called once, asynchronously. `reason` is absent for a clean close. */
  closed(reason: Error | undefined): void;
}

/**
 * Test-only observers of the packets a connection sends and receives; unlike the public `onPacket`
 * observer they may drop the connection, and `afterInbound` runs once the client processed a packet.
 */
export interface PacketHooks {
  outbound?(packet: Packet): void;
  inbound?(packet: Packet): void;
  /** After the client processed an inbound packet. */
  afterInbound?(packet: Packet): void;
}

const PINGREQ: Packet = Object.freeze({ type: 'pingreq' });

export class Connection {
  private readonly parser: PacketParser;
  /** True while writes are corked until the end of the current tick. */
  private corked = false;
  /** No more packets in or out; set before the transport has finished closing. */
  private closed = false;
  private finished = false;
  private closeReason: Error | undefined;
  private readonly closeWaiters: (() => void)[] = [];
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private endTimer: NodeJS.Timeout | undefined;
  private sentSinceTick = false;
  private receivedSinceTick = false;
  private awaitingPingResponse = false;

  private readonly flush = (): void => {
    if (!this.corked) return;
    this.corked = false;
    this.transport.uncork();
  };

  private readonly onPacket = (packet: Packet): void => {
    if (this.closed) return;
    if (this.observer !== undefined) this.observer('in', packet);
    this.hooks.inbound?.(packet);
    // A hook may have dropped the connection: the packet is then lost, as on a real network failure.
    if (this.closed) return;
    this.events.packet(packet);
    this.hooks.afterInbound?.(packet);
  };

  private readonly keepaliveTick = (): void => {
    if (this.awaitingPingResponse) {
      // Any packet from the server since the PINGREQ shows it is alive, not only the PINGRESP.
      if (!this.receivedSinceTick) {
        this.fail(
          new MqttError(ReasonCode.KeepAliveTimeout, 'no PINGRESP from the server within the keep alive'),
        );
        return;
      }
      this.awaitingPingResponse = false;
    }
    this.receivedSinceTick = false;
    if (!this.sentSinceTick) {
      // [MQTT-3.1.2-20] (3.1.1: [MQTT-3.1.2-23]) nothing else was sent: PINGREQ keeps the connection alive.
      this.send(PINGREQ);
      this.awaitingPingResponse = true;
    }
    this.sentSinceTick = false;
  };

  constructor(
    readonly transport: Transport,
    readonly version: ProtocolVersionNumber,
    maximumPacketSize: number | undefined,
    private readonly events: ConnectionEvents,
    private readonly hooks: PacketHooks,
    private readonly observer: PacketObserver | undefined,
  ) {
    this.parser = new PacketParser({ protocolVersion: version, maximumPacketSize });
    transport.on('data', (chunk) => this.receive(chunk));
    transport.on('drain', () => {
      if (!this.closed) this.events.drain();
    });
    transport.on('error', (error) => {
      this.closeReason ??= error;
    });
    transport.on('close', () => this.finish());
  }

  /** True until the connection starts closing. */
  get isOpen(): boolean {
    return !this.closed;
  }

  /** Bytes written and not yet handed to the network. */
  get writableLength(): number {
    return this.transport.writableLength;
  }

  /**
   * Writes a packet. Writes of one tick are corked and flushed together on the next tick, so a burst of
   * publishes becomes few syscalls / frames. Returns false when the caller should wait for drain.
   */
  send(packet: Packet): boolean {
    if (this.closed) return false;
    this.beginWrite(packet);
    const ok = this.transport.write(encode(packet, this.version));
    // After the write: an observer that sends in turn (a reply to what it saw) must not overtake it.
    if (this.observer !== undefined) this.observer('out', packet);
    return ok;
  }

  /**
   * Writes a PUBLISH: header and payload separately, the payload by reference. Throws MqttError 0x95 without
   * writing anything when the packet exceeds `maximumPacketSize` [MQTT-3.2.2-15].
   */
  sendPublish(packet: PublishPacket, maximumPacketSize: number): boolean {
    if (this.closed) return false;
    const { header, payload } = encodePublish(packet, this.version);
    const size = header.length + payload.length;
    if (size > maximumPacketSize) {
      throw new MqttError(
        ReasonCode.PacketTooLarge,
        `PUBLISH of ${size} bytes exceeds the server's maximum packet size ${maximumPacketSize}`,
      );
    }
    this.beginWrite(packet);
    let ok = this.transport.write(header);
    if (payload.length > 0) ok = this.transport.write(payload);
    if (this.observer !== undefined) this.observer('out', packet);
    return ok;
  }

  /** Starts sending PINGREQ when idle; the interval is half the keep alive so no gap exceeds it. */
  startKeepalive(seconds: number): void {
    if (seconds <= 0 || this.closed) return;
    clearInterval(this.keepaliveTimer);
    this.keepaliveTimer = setInterval(this.keepaliveTick, seconds * 500);
    this.keepaliveTimer.unref();
  }

  /**
   * Closes because of a protocol violation or failure: for an MqttError on v5 a DISCONNECT with its
   * reason code goes out first (spec 4.13), then the connection closes.
   */
  fail(error: Error): void {
    if (this.closed) return;
    if (error instanceof MqttError && this.version === 5 && error.reasonCode >= 0x80) {
      this.send({ type: 'disconnect', reasonCode: error.reasonCode });
      this.flush();
      this.closeReason ??= error;
      this.end(1000).catch(() => undefined);
      return;
    }
    this.destroy(error);
  }

  /** Closes at once, discarding unsent bytes. */
  destroy(reason?: Error): void {
    if (this.finished) return;
    this.closeReason ??= reason;
    this.closed = true;
    this.transport.destroy();
    // The transport reports 'close' asynchronously; finishing on the next tick in any case keeps the
    // client's close handling out of whatever call stack destroyed the connection.
    process.nextTick(() => this.finish());
  }

  /**
   * Sends `last` (DISCONNECT) if given, flushes, closes the write side and resolves once the transport has
   * closed, destroying it after `timeoutMs`.
   */
  end(timeoutMs: number, last?: Packet): Promise<void> {
    if (this.finished) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.closeWaiters.push(resolve));
    if (!this.closed) {
      if (last !== undefined) this.send(last);
      this.flush();
      this.closed = true;
      clearInterval(this.keepaliveTimer);
      this.transport.end();
      this.endTimer = setTimeout(() => this.destroy(), timeoutMs);
    }
    return done;
  }

  private beginWrite(packet: Packet): void {
    if (!this.corked) {
      this.corked = true;
      this.transport.cork();
      process.nextTick(this.flush);
    }
    this.sentSinceTick = true;
    this.hooks.outbound?.(packet);
  }

  private receive(chunk: Buffer): void {
    if (this.closed) return;
    this.receivedSinceTick = true;
    try {
      this.parser.push(chunk, this.onPacket);
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.closed = true;
    clearInterval(this.keepaliveTimer);
    clearTimeout(this.endTimer);
    this.events.closed(this.closeReason);
    for (const waiter of this.closeWaiters.splice(0)) waiter();
  }
}
