/**
 * What the end of a turn holds back until a commit returns: the acknowledgements, with the connections they
 * go to, in the order they were held.
 */

/**
 * The packets that wait for the commit holding their state: acknowledgements of inbound PUBLISH and PUBREL,
 * and our PUBREL (once sent, the PUBLISH must never be sent again [MQTT-4.3.3-5], so the PUBREC stage is
 * stored first).
 */
export type HeldAck = 'puback' | 'pubrec' | 'pubcomp' | 'pubrel';

/** A connection as the end of a turn sees it: something to flush, and acknowledgements to release. */
export interface TurnTarget {
  /** Hand this turn's writes to the socket; returns the bytes written. */
  flushWrites(): number;
  /** The commit holding the acknowledged state returned: send the acknowledgement. */
  releaseAck(kind: HeldAck, packetId: number): void;
  /** The commit failed: refuse instead (v5: reason 0x97; v3 has no refusal, so the connection is closed). */
  refuseAck(kind: HeldAck, packetId: number): void;
  /** True while this target sits in the flush list. */
  flushScheduled: boolean;
  /** Written once already in this turn (by `chunkDone`): later writes of the turn wait for its end. */
  flushedEarly: boolean;
}

/**
 * Acknowledgements waiting for one commit, in the order they were held. A batch is reused once settled
 * (`clear`): its arrays keep their room, so a busy broker does not grow three arrays from nothing for
 * every commit.
 */
export class HeldBatch {
  private readonly targets: (TurnTarget | undefined)[] = [];
  private readonly kinds: HeldAck[] = [];
  private readonly ids: number[] = [];
  private count = 0;
  /** Bytes of the messages acknowledged (what they hold in memory until the commit). */
  bytes = 0;

  get empty(): boolean {
    return this.count === 0;
  }

  get size(): number {
    return this.count;
  }

  add(target: TurnTarget, kind: HeldAck, packetId: number, bytes: number): void {
    const i = this.count++;
    this.targets[i] = target;
    this.kinds[i] = kind;
    this.ids[i] = packetId;
    this.bytes += bytes;
  }

  /** Take `later`'s acknowledgements after this batch's own. */
  append(later: HeldBatch): void {
    for (let i = 0; i < later.count; i++) {
      this.add(later.targets[i] as TurnTarget, later.kinds[i] as HeldAck, later.ids[i] as number, 0);
    }
    this.bytes += later.bytes;
  }

  /** Empty it for reuse, letting go of the connections. */
  clear(): void {
    this.targets.fill(undefined, 0, this.count);
    this.count = 0;
    this.bytes = 0;
  }

  /**
   * Write what each connection of this batch has now, unless it was written once already in this turn
   * (its later writes wait for the turn's end, as `chunkDone`'s do). Returns the bytes written.
   */
  flushTargets(): number {
    let bytes = 0;
    for (let i = 0; i < this.count; i++) {
      const target = this.targets[i] as TurnTarget;
      if (target.flushedEarly || !target.flushScheduled) continue;
      target.flushedEarly = true;
      bytes += target.flushWrites();
    }
    return bytes;
  }

  /** Send each acknowledgement (committed), or refuse it. */
  settle(committed: boolean): void {
    for (let i = 0; i < this.count; i++) {
      const target = this.targets[i] as TurnTarget;
      if (committed) target.releaseAck(this.kinds[i] as HeldAck, this.ids[i] as number);
      else target.refuseAck(this.kinds[i] as HeldAck, this.ids[i] as number);
    }
  }
}
