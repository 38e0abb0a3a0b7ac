import { MqttError } from '../packets/errors.js';
import { ReasonCode } from '../packets/reason-codes.js';
import type { ResolvedBrokerOptions } from './options.js';
import type { ConnectionFacts } from './port.js';
import type { SessionRegistry } from './session-registry.js';
import type { BrokerStats } from './stats.js';

/** A client at CONNECT, as the connection limits see it. */
export interface Candidate {
  readonly clientId: string;
  readonly facts: ConnectionFacts;
}

/**
 * The connection limits: the broker-wide maximum and each listener's own maximum and rate. Counts clients
 * past CONNACK, per listener.
 */
export class Admission {
  private readonly connectedByListener = new Map<string, number>();

  constructor(
    private readonly options: ResolvedBrokerOptions,
    private readonly stats: BrokerStats,
    private readonly sessions: SessionRegistry,
  ) {}

  /**
   * Refuse a CONNECT beyond the global or per-listener connection limit (v5 CONNACK 0x97, v3 return code 3)
   * or the listener's connection rate (v5 CONNACK 0x9F, v3 return code 3). A client taking over its own live
   * connection is not counted twice.
   */
  check(client: Candidate): void {
    const previous = this.sessions.get(client.clientId)?.link;
    const takesOver =
      previous !== undefined && previous !== (client as object) && previous.kind === 'network';
    const previousListener = takesOver ? previous.listener : undefined;
    const global = this.options.maxConnections;
    if (global > 0 && this.stats.clientsConnected - (takesOver ? 1 : 0) >= global) {
      throw new MqttError(ReasonCode.QuotaExceeded, 'server connection limit reached');
    }
    const listener = client.facts.listener;
    const admission = client.facts.admission;
    const limit = admission?.maxConnections ?? 0;
    if (limit > 0) {
      const count = (this.connectedByListener.get(listener) ?? 0) - (previousListener === listener ? 1 : 0);
      if (count >= limit) {
        throw new MqttError(ReasonCode.QuotaExceeded, `listener ${listener} connection limit reached`);
      }
    }
    // Checked last so a CONNECT refused for another reason does not spend a token of the rate.
    if (admission !== undefined && !admission.admitConnect()) {
      throw new MqttError(ReasonCode.ConnectionRateExceeded, `listener ${listener} connection rate exceeded`);
    }
  }

  connected(listener: string): void {
    this.stats.clientsConnected++;
    this.connectedByListener.set(listener, (this.connectedByListener.get(listener) ?? 0) + 1);
    if (this.stats.clientsConnected > this.stats.clientsMaximum)
      this.stats.clientsMaximum = this.stats.clientsConnected;
  }

  disconnected(listener: string): void {
    this.stats.clientsConnected--;
    this.connectedByListener.set(listener, (this.connectedByListener.get(listener) ?? 1) - 1);
  }
}
