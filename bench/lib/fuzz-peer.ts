/**
 * The fuzz against two nodes of a cluster (`npm run fuzz -- --store redis --nodes 2`): beside the broker the
 * fuzz measures and kills (the main node), a second node on the same Redis takes every other session. What
 * the fuzzed clients subscribe to on one node routes what is published on the other across the nodes'
 * direct links and Redis inboxes; fuzzed client ids connect on both nodes, so sessions are taken over from
 * node to node; and when the main node is killed on purpose, this one adopts its sessions.
 *
 * The peer must not crash either, must answer fresh clients after each batch, and a message must cross
 * between the nodes both ways (`crossRoundTrip`).
 */

import type { ProtocolVersionNumber } from '../../src/packets/index.js';
import { crossRoundTrip, roundTrip } from './probe-client.js';
import {
  launchProbeBroker,
  type ProbeBroker,
  type ProbeBrokerOptions,
  untilQuiet,
} from './probe-launcher.js';

/** What a batch learned of the peer node. */
export interface PeerCheck {
  /** Round trips on the peer alone (3.1, 3.1.1, 5.0), then main → peer and peer → main. */
  readonly roundTripMs: readonly number[];
  /** Why the peer failed (it crashed, or did not answer), or undefined. */
  readonly failure:
    | { readonly kind: 'crash' | 'hang'; readonly detail: string; readonly stderr: string }
    | undefined;
  readonly connections: number | undefined;
  readonly sessions: number | undefined;
  /** The peer's heap after a full GC, its retained messages cleared (undefined when it failed). */
  readonly heapUsed: number | undefined;
  readonly errorSamples: readonly string[];
}

export class FuzzPeer {
  private constructor(
    private node: ProbeBroker,
    private readonly options: ProbeBrokerOptions,
  ) {}

  /** A peer for a fuzz whose broker options are `options` (a cluster node), or undefined when not a cluster. */
  static async start(options: ProbeBrokerOptions): Promise<FuzzPeer | undefined> {
    const cluster = options.cluster;
    if (cluster === undefined) return undefined;
    const peerOptions = { ...options, cluster: { ...cluster, nodeId: `${cluster.nodeId ?? 'fuzz'}-peer` } };
    return new FuzzPeer(await launchProbeBroker(peerOptions), peerOptions);
  }

  get port(): number {
    return this.node.port;
  }

  get exited(): Promise<unknown> {
    return this.node.exited;
  }

  /** After a batch: crashed? answering alone and across to `mainPort`? quiet? */
  async check(
    batch: number,
    mainPort: number,
    versions: readonly ProtocolVersionNumber[],
    timeoutMs: number,
  ): Promise<PeerCheck> {
    const roundTripMs: number[] = [];
    const failed = (kind: 'crash' | 'hang', detail: string, stderr = ''): PeerCheck => ({
      roundTripMs,
      failure: { kind, detail, stderr },
      connections: undefined,
      sessions: undefined,
      heapUsed: undefined,
      errorSamples: [],
    });
    const exited = (): PeerCheck | undefined => {
      const exit = this.node.crashed();
      if (exit === undefined) return undefined;
      return failed('crash', `peer node exited (code ${exit.code}, signal ${exit.signal})`, exit.stderr);
    };
    const crashed = exited();
    if (crashed !== undefined) return crashed;
    try {
      for (const version of versions)
        roundTripMs.push(await roundTrip(this.port, `peer-${batch}-v${version}`, version, timeoutMs));
      roundTripMs.push(await crossRoundTrip(this.port, mainPort, `to-peer-${batch}`, timeoutMs));
      roundTripMs.push(await crossRoundTrip(mainPort, this.port, `from-peer-${batch}`, timeoutMs));
    } catch (err) {
      return exited() ?? failed('hang', `peer node: ${(err as Error).message}`);
    }
    const quiet = await untilQuiet(this.node, 15_000);
    const probe = await this.node.probe({ gc: true, clearRetained: true });
    return {
      roundTripMs,
      failure: undefined,
      ...quiet,
      heapUsed: probe.heapUsed,
      errorSamples: probe.errorSamples,
    };
  }

  /** Which peer process (0, then 1 after the first restart...). */
  lifetime = 0;

  /** After a failure: a fresh peer on the same node id. */
  async restart(): Promise<void> {
    await this.node.stop(1000);
    this.node = await launchProbeBroker(this.options);
    this.lifetime++;
  }

  async stop(): Promise<void> {
    await this.node.stop();
  }
}
