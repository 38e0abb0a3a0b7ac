/**
 * End-to-end latency between agents of a distributed run. A publisher writes its own machine's time into
 * the payload and the subscriber reads its own on arrival; between two machines those clocks differ by the
 * difference of their offsets, which the controller estimates and hands to every agent. Messages from a
 * publisher on the subscriber's own agent need no correction: both times come from one machine's clock.
 */
import { LatencyHistogram } from '../histogram.js';
import type { CrossAgentSamples, ShareControl } from './common.js';

/** Not one of the run's publishers (another tool publishing on the filter): left uncorrected. */
const UNKNOWN = -1;

/** Corrects and collects cross-agent samples of one subscriber share. */
export class CrossAgentLatency {
  readonly #control: ShareControl;
  readonly #histogram = new LatencyHistogram();
  readonly #agentOf = new Map<string, number>();
  #uncertaintyUs = 0;
  #sameAgent = 0;

  /** Reads the clock table from `control` at every sample, so updates during the run apply at once. */
  constructor(control: ShareControl) {
    this.#control = control;
  }

  /**
   * The latency of one message from `publisher` measured as `rawUs` on the two machines' clocks,
   * corrected for their offsets when the publisher ran on another agent.
   */
  correct(publisher: string, rawUs: number): number {
    const clock = this.#control.clock;
    if (clock === undefined) return rawUs;
    const agent = this.#agentOfPublisher(publisher);
    if (agent === UNKNOWN) return rawUs;
    if (agent === clock.agent) {
      this.#sameAgent++;
      return rawUs;
    }
    const own = clock.agent;
    const corrected = rawUs - ((clock.offsetsUs[own] ?? 0) - (clock.offsetsUs[agent] ?? 0));
    const uncertainty = (clock.uncertaintiesUs[own] ?? 0) + (clock.uncertaintiesUs[agent] ?? 0);
    if (uncertainty > this.#uncertaintyUs) this.#uncertaintyUs = uncertainty;
    this.#histogram.record(Math.max(0, corrected));
    return corrected;
  }

  /** What was collected, for the share's result. */
  toJSON(): CrossAgentSamples {
    return {
      histogramUs: this.#histogram.encode(),
      uncertaintyUs: this.#uncertaintyUs,
      sameAgentSamples: this.#sameAgent,
    };
  }

  #agentOfPublisher(publisher: string): number {
    const known = this.#agentOf.get(publisher);
    if (known !== undefined) return known;
    const clock = this.#control.clock;
    let agent = UNKNOWN;
    const prefix = `${clock?.publisherPrefix ?? ''}-`;
    if (clock !== undefined && publisher.startsWith(prefix)) {
      // `<prefix>-<process>-<client>`: the process number says where the publisher ran.
      const rest = publisher.slice(prefix.length);
      const process = Number(rest.slice(0, rest.indexOf('-')));
      agent = Number.isInteger(process) ? (clock.processAgents[process] ?? UNKNOWN) : UNKNOWN;
    }
    this.#agentOf.set(publisher, agent);
    return agent;
  }
}
