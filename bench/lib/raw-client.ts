/**
 * A minimal MQTT 3.1.1 client on a raw socket for the load generator. The handshake (CONNACK, SUBACK)
 * goes through the project's PacketParser; once the load starts the stream is only scanned: packet
 * boundaries from the fixed header, and for PUBLISH just the 8-byte timestamp and 4-byte publisher index
 * at the start of the payload, so the generator spends as little CPU as possible per message.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { encode, type Packet, PacketParser, type QoS } from '../../src/packets/index.js';

/** Receives what the scanner finds; called once per data chunk, not per packet, where possible. */
export interface ScanSink {
  /** One delivered PUBLISH: its send timestamp (performance.now() ms), its publisher, the chunk's arrival time. */
  message(stampMs: number, publisher: number, nowMs: number): void;
  /** Completed QoS 1/2 flows (PUBACK, or PUBCOMP) received in one chunk by a publishing client. */
  acks(client: RawClient, count: number): void;
}

/** Most PUBACKs we batch into one write before flushing early. */
const ACK_BATCH = 4096;
/** First bytes of the 4-byte acknowledgements: PUBACK, PUBREC, PUBREL (flags 0010), PUBCOMP. */
const PUBACK = 0x40;
const PUBREC = 0x50;
const PUBREL = 0x62;
const PUBCOMP = 0x70;

/** One benchmark connection. */
export class RawClient {
  readonly socket: net.Socket;
  /** Slot of the publisher this client drives, or -1 for a pure subscriber. */
  publisherIndex = -1;
  /** True once the broker closed or reset the connection without being asked to. */
  lost = false;
  private closing = false;
  private readonly parser: PacketParser;
  /** MQTT 5: every PUBLISH carries a property list to step over. */
  private readonly v5: boolean;
  private waiting: ((packet: Packet) => void) | undefined;
  private failed: ((err: Error) => void) | undefined;
  private sink: ScanSink | undefined;
  /** Bytes of a packet cut by a chunk boundary, prepended to the next chunk. */
  private pending: Buffer | undefined;
  private readonly ackScratch = Buffer.allocUnsafe(ACK_BATCH * 4);

  private constructor(socket: net.Socket, version: 4 | 5) {
    this.socket = socket;
    this.v5 = version === 5;
    this.parser = new PacketParser({ protocolVersion: version });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.failed?.(err));
    socket.on('close', () => {
      if (!this.closing) this.lost = true;
      this.failed?.(new Error('connection closed by broker'));
    });
  }

  /**
   * Open a TCP connection and complete CONNECT/CONNACK: a clean session, or (`persistent`) one the broker
   * keeps (Clean Session 0), which a persistent store must write to disk.
   */
  static async connect(
    port: number,
    clientId: string,
    timeoutMs: number,
    persistent = false,
    v5?: { readonly topicAliasMaximum?: number },
  ): Promise<RawClient> {
    const socket = net.connect({ host: '127.0.0.1', port });
    const version = v5 === undefined ? 4 : 5;
    const client = new RawClient(socket, version);
    await client.request(
      encode(
        {
          type: 'connect',
          protocolName: 'MQTT',
          protocolVersion: version,
          clean: !persistent,
          keepalive: 0,
          clientId,
          // As MQTT.js sends them when an application sets them (gateways do, to save bytes).
          ...(v5 === undefined
            ? {}
            : { properties: { receiveMaximum: 65_535, topicAliasMaximum: v5.topicAliasMaximum ?? 0 } }),
        },
        version,
      ),
      timeoutMs,
      (packet) => {
        if (packet.type !== 'connack') throw new Error(`expected CONNACK, got ${packet.type}`);
        if (packet.reasonCode !== 0) throw new Error(`CONNACK refused with ${packet.reasonCode}`);
      },
    );
    return client;
  }

  /** Subscribe one filter and wait for a successful SUBACK. */
  async subscribe(topicFilter: string, qos: QoS, timeoutMs: number): Promise<void> {
    await this.request(
      encode({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter, qos }] }, this.v5 ? 5 : 4),
      timeoutMs,
      (packet) => {
        if (packet.type !== 'suback') throw new Error(`expected SUBACK, got ${packet.type}`);
        const code = packet.reasonCodes[0];
        if (code === undefined || code >= 0x80) throw new Error(`subscription refused (${code})`);
      },
    );
  }

  /** From now on, scan incoming bytes cheaply and report to `sink`. */
  startScanning(sink: ScanSink): void {
    this.sink = sink;
  }

  /** Send DISCONNECT and close; never throws. */
  close(): void {
    this.failed = undefined;
    this.closing = true;
    if (this.socket.destroyed) return;
    this.socket.end(encode({ type: 'disconnect' }, this.v5 ? 5 : 4));
    this.socket.destroySoon();
  }

  private request(bytes: Buffer, timeoutMs: number, check: (packet: Packet) => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error('handshake timed out')), timeoutMs);
      const finish = (err?: Error): void => {
        clearTimeout(timer);
        this.waiting = undefined;
        this.failed = undefined;
        if (err === undefined) resolve();
        else {
          this.socket.destroy();
          reject(err);
        }
      };
      this.failed = finish;
      this.waiting = (packet) => {
        try {
          check(packet);
          finish();
        } catch (err) {
          finish(err as Error);
        }
      };
      this.socket.write(bytes);
    });
  }

  private onData(chunk: Buffer): void {
    if (this.sink === undefined) {
      try {
        this.parser.push(chunk, (packet) => this.waiting?.(packet));
      } catch (err) {
        // A broker that does not speak this version (Aedes answers a v5 CONNECT with a v3 CONNACK 0x01):
        // the handshake fails with what was wrong, the benchmark goes on.
        const reason = err instanceof Error ? err.message : String(err);
        this.failed?.(new Error(`unreadable answer from the broker: ${reason}`));
        this.socket.destroy();
      }
      return;
    }
    this.scan(chunk, this.sink);
  }

  /**
   * Walk whole packets in the chunk. Only v3.1.1 is spoken, so a PUBLISH body is topic, optional packet
   * identifier, payload: no properties to skip.
   */
  private scan(chunk: Buffer, sink: ScanSink): void {
    let buf = chunk;
    if (this.pending !== undefined) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = undefined;
    }
    const end = buf.length;
    const nowMs = performance.now();
    const acks = this.ackScratch;
    let ackBytes = 0;
    let pubacks = 0;
    let pos = 0;
    while (pos + 2 <= end) {
      const first = buf[pos] as number;
      let length = 0;
      let multiplier = 1;
      let at = pos + 1;
      let complete = false;
      while (at < end && at <= pos + 4) {
        const byte = buf[at++] as number;
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if (byte < 0x80) {
          complete = true;
          break;
        }
      }
      if (!complete) {
        if (at > pos + 4) throw new Error('malformed remaining length from broker');
        break;
      }
      const bodyEnd = at + length;
      if (bodyEnd > end) break;
      const type = first >> 4;
      // The answer to this packet, if any: PUBACK/PUBREC for a QoS 1/2 PUBLISH, PUBREL for a PUBREC, PUBCOMP
      // for a PUBREL; each carries the packet identifier of what it answers.
      let answer = 0;
      let idAt = at;
      if (type === 3) {
        let payload = at + 2 + buf.readUInt16BE(at);
        const qos = (first >> 1) & 3;
        if (qos > 0) {
          answer = qos === 1 ? PUBACK : PUBREC;
          idAt = payload;
          payload += 2;
        }
        if (this.v5) {
          // Step over the property list (its length is a variable byte integer).
          let propertiesLength = 0;
          let shift = 1;
          for (;;) {
            const byte = buf[payload++] as number;
            propertiesLength += (byte & 0x7f) * shift;
            shift *= 128;
            if (byte < 0x80) break;
          }
          payload += propertiesLength;
        }
        sink.message(buf.readDoubleLE(payload), buf.readUInt32LE(payload + 8), nowMs);
      } else if (type === 4 || type === 7) {
        pubacks++;
      } else if (type === 5) {
        answer = PUBREL;
      } else if (type === 6) {
        answer = PUBCOMP;
      }
      if (answer !== 0) {
        acks[ackBytes] = answer;
        acks[ackBytes + 1] = 2;
        acks[ackBytes + 2] = buf[idAt] as number;
        acks[ackBytes + 3] = buf[idAt + 1] as number;
        ackBytes += 4;
        if (ackBytes === acks.length) {
          this.socket.write(Buffer.from(acks.subarray(0, ackBytes)));
          ackBytes = 0;
        }
      }
      pos = bodyEnd;
    }
    if (pos < end) this.pending = Buffer.from(buf.subarray(pos));
    if (ackBytes > 0) this.socket.write(Buffer.from(acks.subarray(0, ackBytes)));
    if (pubacks > 0) sink.acks(this, pubacks);
  }
}
