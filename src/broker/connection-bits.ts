/**
 * A connection's state, protocol version and flags packed into one small integer: the base class of
 * `Connection` that holds the field and its accessors.
 */
import type { ProtocolVersionNumber } from '../packets/types.js';
import { WithExtras } from './connection-extras.js';
import type { ConnectionState } from './protocol-peer.js';

/** `ConnectionBits.bits`: the state's index in STATES (low two bits), the protocol version, then flags. */
const STATES: readonly ConnectionState[] = ['connecting', 'connected', 'closing', 'closed'];
const STATE_MASK = 3;
const VERSION_SHIFT = 2;
const PROBLEM_INFORMATION = 1 << 5;
const FLUSH_SCHEDULED = 1 << 6;
const FLUSHED_EARLY = 1 << 7;
const BUSY = 1 << 8;
const READS_HELD = 1 << 9;
/** Above the flags: how many acknowledgements of this client's packets wait for a commit. */
const HELD_SHIFT = 10;
const HELD_ONE = 1 << HELD_SHIFT;
/** Connecting, protocol version 4 until CONNECT says otherwise, problem information on. */
const INITIAL_BITS = (4 << VERSION_SHIFT) | PROBLEM_INFORMATION;

/** The part of a connection kept in `bits`: a base class, as WithExtras is for the rarely used state. */
export abstract class ConnectionBits extends WithExtras {
  /**
   * The state, protocol version and flags in one small integer (see the accessors below): one field in
   * every connection where six would cost 40 bytes more.
   */
  private bits = INITIAL_BITS;

  get state(): ConnectionState {
    return STATES[this.bits & STATE_MASK] as ConnectionState;
  }
  set state(state: ConnectionState) {
    this.bits = (this.bits & ~STATE_MASK) | STATES.indexOf(state);
  }
  get protocolVersion(): ProtocolVersionNumber {
    return ((this.bits >> VERSION_SHIFT) & 7) as ProtocolVersionNumber;
  }
  set protocolVersion(version: ProtocolVersionNumber) {
    this.bits = (this.bits & ~(7 << VERSION_SHIFT)) | (version << VERSION_SHIFT);
  }
  /** v5 Request Problem Information (true unless the client asked for 0). */
  get problemInformation(): boolean {
    return (this.bits & PROBLEM_INFORMATION) !== 0;
  }
  set problemInformation(on: boolean) {
    this.setBit(PROBLEM_INFORMATION, on);
  }
  get flushScheduled(): boolean {
    return (this.bits & FLUSH_SCHEDULED) !== 0;
  }
  set flushScheduled(on: boolean) {
    this.setBit(FLUSH_SCHEDULED, on);
  }
  get flushedEarly(): boolean {
    return (this.bits & FLUSHED_EARLY) !== 0;
  }
  set flushedEarly(on: boolean) {
    this.setBit(FLUSHED_EARLY, on);
  }
  /** A packet handler went async: later packets wait in the backlog. */
  protected get busy(): boolean {
    return (this.bits & BUSY) !== 0;
  }
  protected set busy(on: boolean) {
    this.setBit(BUSY, on);
  }
  /** Reading stopped because too many of the client's acknowledgements wait for a commit. */
  get readsHeld(): boolean {
    return (this.bits & READS_HELD) !== 0;
  }
  set readsHeld(on: boolean) {
    this.setBit(READS_HELD, on);
  }
  /**
   * Acknowledgements of this client's packets that wait for a commit (reading stops past the Receive
   * Maximum, at most 65 535, so the count stays far below the 2^20 the field leaves it).
   */
  protected get heldAcks(): number {
    return this.bits >>> HELD_SHIFT;
  }
  protected addHeldAck(by: 1 | -1): void {
    this.bits += by * HELD_ONE;
  }
  private setBit(bit: number, on: boolean): void {
    this.bits = on ? this.bits | bit : this.bits & ~bit;
  }
}
