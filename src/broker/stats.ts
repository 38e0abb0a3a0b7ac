import type { DropReason } from '../hooks/types.js';
import type { PacketTypeName, QoS } from '../packets/types.js';

/** The broker's counters: plain fields bumped on the hot path, read by $SYS, metrics and tests. */
export class BrokerStats {
  readonly startedAt = Date.now();
  bytesReceived = 0;
  bytesSent = 0;
  clientsConnected = 0;
  clientsMaximum = 0;
  connectionsTotal = 0;
  /** PUBLISH packets received, by QoS. */
  readonly publishIn: [number, number, number] = [0, 0, 0];
  /** PUBLISH packets sent, by QoS. */
  readonly publishOut: [number, number, number] = [0, 0, 0];
  /** PUBLISH payload bytes received, by QoS (topic, properties and framing not included). */
  readonly publishPayloadBytesIn: [number, number, number] = [0, 0, 0];
  /** PUBLISH payload bytes sent, by QoS: one count per delivery, so a fan-out to n clients counts n times. */
  readonly publishPayloadBytesOut: [number, number, number] = [0, 0, 0];
  readonly packetsIn: Partial<Record<PacketTypeName, number>> = {};
  readonly packetsOut: Partial<Record<PacketTypeName, number>> = {};
  readonly dropped: Record<DropReason, number> = {
    'queue-full': 0,
    'slow-client': 0,
    expired: 0,
    'packet-too-large': 0,
    'no-subscribers': 0,
    'offline-qos0': 0,
    rejected: 0,
  };

  countPacketIn(type: PacketTypeName): void {
    this.packetsIn[type] = (this.packetsIn[type] ?? 0) + 1;
  }

  countPacketOut(type: PacketTypeName): void {
    this.packetsOut[type] = (this.packetsOut[type] ?? 0) + 1;
  }

  countPublishIn(qos: QoS, payloadBytes: number): void {
    this.publishIn[qos]++;
    this.publishPayloadBytesIn[qos] += payloadBytes;
  }

  countPublishOut(qos: QoS, payloadBytes: number): void {
    this.publishOut[qos]++;
    this.publishPayloadBytesOut[qos] += payloadBytes;
  }

  /** PUBLISH payload bytes received, all QoS levels together. */
  get publishBytesIn(): number {
    const [q0, q1, q2] = this.publishPayloadBytesIn;
    return q0 + q1 + q2;
  }

  /** PUBLISH payload bytes sent, all QoS levels together. */
  get publishBytesOut(): number {
    const [q0, q1, q2] = this.publishPayloadBytesOut;
    return q0 + q1 + q2;
  }

  get messagesReceived(): number {
    return this.publishIn[0] + this.publishIn[1] + this.publishIn[2];
  }

  get messagesSent(): number {
    return this.publishOut[0] + this.publishOut[1] + this.publishOut[2];
  }

  get droppedTotal(): number {
    let total = 0;
    for (const value of Object.values(this.dropped)) total += value;
    return total;
  }
}
