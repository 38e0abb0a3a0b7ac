import type { PacketTypeName, QoS } from '../packets/types.js';
import type { ConnectRefuseReason, DropReason, RefuseReason, SubscribeRefuseReason } from './hooks.js';

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
    'encode-hook': 0,
  };
  /** PUBLISH packets from clients refused (not delivered), by reason; each counted once, whatever its QoS. */
  readonly refused: Record<RefuseReason, number> = {
    'sys-topic': 0,
    'topic-levels': 0,
    'store-unavailable': 0,
    hook: 0,
    'not-authorized': 0,
  };
  /** Subscription filters from clients refused (a failure code in their SUBACK), by reason. */
  readonly subscribeRefused: Record<SubscribeRefuseReason, number> = {
    'invalid-filter': 0,
    'topic-levels': 0,
    'not-supported': 0,
    hook: 0,
    'not-authorized': 0,
    quota: 0,
    'store-unavailable': 0,
  };
  /** Connections refused before they were established, by reason. */
  readonly connectRefused: Record<ConnectRefuseReason, number> = {
    'not-authorized': 0,
    'client-id': 0,
    'protocol-version': 0,
    limits: 0,
    will: 0,
    malformed: 0,
    'connect-timeout': 0,
    other: 0,
  };
  /** Hooks that threw where the broker went on regardless, by event. */
  readonly hookErrors: Record<string, number> = {};
  /** Store commits that returned, and those that failed. */
  commits = 0;
  commitFailures = 0;
  /** Changes written by the commits that returned (rows per commit = commitRows / commits). */
  commitRows = 0;
  /** The latest commit latencies (ms), a ring for percentiles. */
  private readonly commitLatency = new Float64Array(1024);

  recordCommit(ms: number, rows: number): void {
    this.commitLatency[this.commits % this.commitLatency.length] = ms;
    this.commitRows += rows;
    this.commits++;
  }

  /** A percentile (0..100) of the latest commit latencies, in ms; 0 before the first commit. */
  commitLatencyPercentile(p: number): number {
    const n = Math.min(this.commits, this.commitLatency.length);
    if (n === 0) return 0;
    const sorted = this.commitLatency.slice(0, n).sort();
    return sorted[Math.min(n - 1, Math.ceil((p / 100) * n) - 1)] as number;
  }

  countHookError(event: string): void {
    this.hookErrors[event] = (this.hookErrors[event] ?? 0) + 1;
  }

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
    return sum(this.dropped);
  }

  get refusedTotal(): number {
    return sum(this.refused);
  }

  get connectRefusedTotal(): number {
    return sum(this.connectRefused);
  }

  get subscribeRefusedTotal(): number {
    return sum(this.subscribeRefused);
  }
}

/** The sum of a record of counts. */
function sum(counts: Readonly<Record<string, number>>): number {
  let total = 0;
  for (const value of Object.values(counts)) total += value;
  return total;
}
