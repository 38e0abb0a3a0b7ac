/**
 * The long fuzz: generated frames through real sockets into a broker in a child process, in batches.
 * After each batch every fuzz connection is gone; the broker must still answer fresh 3.1, 3.1.1 and 5.0
 * clients (CONNECT, SUBSCRIBE, PUBLISH round trip) and, once sessions expired and retained messages were
 * cleared, its heap after a full GC must not have grown.
 *
 * A crash (the child exiting) or a hang (a round trip timing out) is recorded with the bytes of the sessions
 * that were live when it happened, the broker is started again, and the run goes on: one finding must not
 * hide the next. Memory is compared within one broker lifetime. With the SQLite store, or as a cluster node
 * on Redis, the broker is also killed once on purpose and started on what it kept (fuzz-reload.ts).
 */
import { rmSync } from 'node:fs';
import { buildCorpus, type Corpus, corpusSummary, FUZZ_VERSIONS } from './fuzz-corpus.js';
import { FuzzPeer } from './fuzz-peer.js';
import { fuzzDataDir, loaded, type ReloadReport, restartOnSameState } from './fuzz-reload.js';
import { pickTemper, runSession, SessionRecord } from './fuzz-session.js';
import { crashSignature, dump, errorsPerLifetime, heapVerdict } from './fuzz-verdict.js';
import { roundTrip } from './probe-client.js';
import { launchProbeBroker, type ProbeBrokerOptions, untilQuiet } from './probe-launcher.js';
import { Rng } from './rng.js';

export interface FuzzOptions {
  /** Frames to send in all (at least; the last batch may round up a little). */
  readonly frames: number;
  /** Frames per batch (a liveness and memory check after each). */
  readonly batchFrames: number;
  /** Sessions running at once. */
  readonly concurrency: number;
  readonly seed: number;
  /** Valid packets sampled per type and protocol level for the corpus. */
  readonly corpusPerType?: number;
  /** Broker options on top of the fuzz defaults. */
  readonly broker?: ProbeBrokerOptions;
  /** 2: a second cluster node on the same Redis takes every other session (`fuzz-peer.ts`; a cluster only). */
  readonly nodes?: 1 | 2;
  /** Heap growth after GC within one broker lifetime beyond which a leak is reported. Default 8 MiB. */
  readonly leakThresholdBytes?: number;
  /** Where crash and hang reproductions are written. Default: none written. */
  readonly crashDir?: string;
  /** Called after each batch (progress lines). */
  readonly onBatch?: (batch: BatchReport) => void;
  /** Called when a finding is recorded. */
  readonly onFinding?: (finding: Finding) => void;
}

export interface BatchReport {
  readonly index: number;
  /** Which broker process (0, then 1 after the first restart...). */
  readonly lifetime: number;
  readonly frames: number;
  readonly bytes: number;
  readonly sessions: number;
  readonly closedByBroker: number;
  readonly connectErrors: number;
  readonly elapsedMs: number;
  /** After the batch, quiet, retained cleared, full GC. Undefined when the batch ended in a finding. */
  readonly heapUsed: number | undefined;
  readonly rss: number | undefined;
  readonly sessionsHeld: number | undefined;
  readonly connectionsOpen: number | undefined;
  /** Round-trip milliseconds of the 3.1, 3.1.1 and 5.0 probe clients. */
  readonly roundTripMs: readonly number[];
  /** With a peer node: its own round trips, then main → peer and peer → main (see PeerCheck). */
  readonly peerRoundTripMs: readonly number[];
  /** With a peer node: which peer process, and its heap after GC (undefined when it failed). */
  readonly peerLifetime: number;
  readonly peerHeapUsed: number | undefined;
  readonly errorsLogged: number | undefined;
  readonly lagMaxMs: number | undefined;
}

/** A crash or a hang. */
export interface Finding {
  readonly kind: 'crash' | 'hang';
  readonly batch: number;
  /** First error line and top stack frame (crash), or the failed check (hang). */
  readonly signature: string;
  readonly detail: string;
  readonly dumpDir: string | undefined;
}

export interface FuzzReport {
  readonly frames: number;
  readonly bytes: number;
  readonly sessions: number;
  readonly elapsedMs: number;
  readonly batches: readonly BatchReport[];
  readonly findings: readonly Finding[];
  /** Heap after GC in the longest broker lifetime: its last batches (their minimum) minus its first. */
  readonly heapGrowth: number;
  /** The same for the peer node (two-node fuzz); undefined without one. */
  readonly peerHeapGrowth: number | undefined;
  /** Either node's growth beyond the threshold. */
  readonly leakSuspected: boolean;
  /** Errors the broker caught and logged ('unexpected error while handling a packet' and the like). */
  readonly errorsLogged: number;
  readonly errorSamples: readonly string[];
  readonly corpus: string;
  /**
   * With the SQLite store or a cluster: the restart after the deliberate kill (undefined when it failed: a
   * finding).
   */
  readonly reload: ReloadReport | undefined;
}

/** What the fuzz changes in the broker: sessions expire a second after their client left, a quick connect timeout. */
export const FUZZ_BROKER_DEFAULTS: ProbeBrokerOptions = {
  maximumSessionExpiryInterval: 1,
  connectTimeoutMs: 2000,
};

const HEALTH_TIMEOUT_MS = 5000;
const QUIET_TIMEOUT_MS = 15_000;
/** Ended sessions kept for a crash dump, per concurrent session. */
const FINISHED_RECORDS_KEPT = 2;

interface BatchState {
  remaining: number;
  frames: number;
  bytes: number;
  sessions: number;
  closedByBroker: number;
  connectErrors: number;
}

export async function runFuzz(options: FuzzOptions, corpusIn?: Corpus): Promise<FuzzReport> {
  const corpus = corpusIn ?? buildCorpus(options.seed, options.corpusPerType ?? 120);
  // With the SQLite store, one data directory for every broker of the run: a restart loads what it kept.
  const dataDir = options.broker?.store === 'sqlite' ? fuzzDataDir() : undefined;
  const brokerOptions = { ...FUZZ_BROKER_DEFAULTS, ...options.broker, sqliteDir: dataDir };
  // The batch in which a broker that keeps state (SQLite, or a cluster node on Redis) is killed halfway.
  const durable = dataDir !== undefined || brokerOptions.cluster !== undefined;
  const killBatch = durable ? Math.floor((Math.ceil(options.frames / options.batchFrames) - 1) / 2) : -1;
  let reload: ReloadReport | undefined;
  const findings: Finding[] = [];
  const batches: BatchReport[] = [];
  const started = performance.now();
  const errorSamples: string[] = [];
  let sent = 0;
  let sessionId = 0;
  let lifetime = 0;
  if (options.nodes === 2 && brokerOptions.cluster === undefined)
    throw new Error('fuzz: a second node needs a cluster (Redis)');
  let broker = await launchProbeBroker(brokerOptions);
  const peer = options.nodes === 2 ? await FuzzPeer.start(brokerOptions) : undefined;
  try {
    for (let b = 0; sent < options.frames; b++) {
      const stop = { stopped: false };
      const live = new Set<SessionRecord>();
      const finished: SessionRecord[] = [];
      // The sessions running when the broker died are the suspects.
      let atCrash: SessionRecord[] | undefined;
      let current = broker;
      for (const exited of [current.exited, peer?.exited])
        exited?.then(() => {
          atCrash ??= [...live];
          stop.stopped = true;
        });
      const batchStart = performance.now();
      const killAt = b === killBatch ? Math.min(options.batchFrames, options.frames - sent) / 2 : Infinity;
      let killed = false;
      const state: BatchState = {
        remaining: Math.min(options.batchFrames, options.frames - sent),
        frames: 0,
        bytes: 0,
        sessions: 0,
        closedByBroker: 0,
        connectErrors: 0,
      };
      const worker = async (): Promise<void> => {
        while (state.remaining > 0 && !stop.stopped) {
          const id = sessionId++;
          // From the session number alone, so a session's frames do not depend on which worker ran it.
          const seed = (options.seed * 1_000_003 + id * 7) >>> 0;
          const rng = new Rng(seed);
          const version = rng.pick(FUZZ_VERSIONS);
          const temper = pickTemper(rng);
          const budget = Math.min(state.remaining, sessionBudget(temper, rng));
          state.remaining -= budget;
          const record = new SessionRecord(id, seed, version, temper);
          live.add(record);
          // With a peer node, every other session connects there.
          const port = peer !== undefined && id % 2 === 1 ? peer.port : current.port;
          const context = { port, corpus: corpus[version], stop, record };
          const result = await runSession(context, rng, budget);
          live.delete(record);
          // Sockets see the reset before the parent sees the child exit: keep the recently ended too.
          if (result.connectError === undefined) finished.push(record);
          if (finished.length > FINISHED_RECORDS_KEPT * options.concurrency) finished.shift();
          // Frames a session could not send (closed early) go back to the batch.
          state.remaining += budget - result.frames;
          state.frames += result.frames;
          state.bytes += result.bytes;
          state.sessions++;
          if (result.closedByBroker) state.closedByBroker++;
          if (!killed && state.frames >= killAt) {
            killed = true;
            stop.stopped = true;
            await current.kill();
          }
          if (result.connectError !== undefined) {
            state.connectErrors++;
            // Refused: the broker is most likely gone; stop starting sessions until that is known.
            if (result.connectError === 'ECONNREFUSED') stop.stopped = true;
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
        }
      };
      await Promise.all(Array.from({ length: options.concurrency }, () => worker()));
      sent += state.frames;
      const roundTripMs: number[] = [];
      let finding: Finding | undefined;
      if (killed) {
        const restart = await restartOnSameState(brokerOptions);
        broker = restart.broker;
        current = broker;
        lifetime++;
        if (restart.error === undefined) {
          const held = await loaded(broker);
          reload = {
            batch: b,
            framesBeforeKill: state.frames,
            startMs: restart.startMs,
            sessionsLoaded: held.sessions,
            retainedLoaded: held.retained,
          };
        } else {
          const failed: Finding = {
            kind: 'crash',
            batch: b,
            signature: `no restart on the state a kill -9 left: ${restart.error.split('\n')[0]}`,
            detail: restart.error,
            dumpDir: dump(options.crashDir, 'crash', finished, restart.error),
          };
          findings.push(failed);
          options.onFinding?.(failed);
        }
      }
      let exit = current.crashed();
      if (exit === undefined) {
        try {
          for (const version of FUZZ_VERSIONS) {
            roundTripMs.push(
              await roundTrip(current.port, `probe-${b}-v${version}`, version, HEALTH_TIMEOUT_MS),
            );
          }
        } catch (err) {
          await new Promise((resolve) => setTimeout(resolve, 200));
          exit = current.crashed();
          if (exit === undefined) {
            const error = (err as Error).message;
            finding = {
              kind: 'hang',
              batch: b,
              signature: `health check failed: ${error.replace(/probe-\d+-/, 'probe-N-')}`,
              detail: error,
              dumpDir: dump(options.crashDir, 'hang', finished, error),
            };
          }
        }
      }
      if (exit !== undefined) {
        finding = {
          kind: 'crash',
          batch: b,
          signature: crashSignature(exit.stderr),
          detail: `exit code ${exit.code}, signal ${exit.signal}\n${exit.stderr}`,
          dumpDir: dump(options.crashDir, 'crash', [...(atCrash ?? []), ...finished], exit.stderr),
        };
      }
      // The peer node: checked while the main one answers (its checks cross to it); a failure is a finding.
      const peerCheck =
        finding === undefined
          ? await peer?.check(b, current.port, FUZZ_VERSIONS, HEALTH_TIMEOUT_MS)
          : undefined;
      const peerFailure = peerCheck?.failure;
      if (peerFailure !== undefined) {
        const failed: Finding = {
          kind: peerFailure.kind,
          batch: b,
          signature:
            peerFailure.kind === 'crash'
              ? `peer node: ${crashSignature(peerFailure.stderr)}`
              : peerFailure.detail,
          detail: `${peerFailure.detail}\n${peerFailure.stderr}`,
          dumpDir: dump(
            options.crashDir,
            peerFailure.kind,
            [...(atCrash ?? []), ...finished],
            `${peerFailure.detail}\n${peerFailure.stderr}`,
          ),
        };
        findings.push(failed);
        options.onFinding?.(failed);
        await peer?.restart();
      }
      for (const sample of peerCheck?.errorSamples ?? [])
        if (!errorSamples.includes(sample)) errorSamples.push(sample);
      // A failed peer was restarted above: its batch has no heap figure, the next ones count in the new lifetime.
      const peerLifetime = peer?.lifetime ?? 0;
      let report: BatchReport = {
        index: b,
        lifetime,
        frames: state.frames,
        bytes: state.bytes,
        sessions: state.sessions,
        closedByBroker: state.closedByBroker,
        connectErrors: state.connectErrors,
        elapsedMs: performance.now() - batchStart,
        heapUsed: undefined,
        rss: undefined,
        sessionsHeld: undefined,
        connectionsOpen: undefined,
        roundTripMs,
        peerRoundTripMs: peerCheck?.roundTripMs ?? [],
        peerLifetime,
        peerHeapUsed: peerCheck?.heapUsed,
        errorsLogged: undefined,
        lagMaxMs: undefined,
      };
      if (finding === undefined) {
        const quiet = await untilQuiet(current, QUIET_TIMEOUT_MS);
        const probe = await current.probe({ gc: true, clearRetained: true });
        for (const sample of probe.errorSamples)
          if (!errorSamples.includes(sample)) errorSamples.push(sample);
        report = {
          ...report,
          elapsedMs: performance.now() - batchStart,
          // A broker restarted in this batch has taken no fuzz yet: no baseline for the heap.
          heapUsed: killed ? undefined : probe.heapUsed,
          rss: probe.rss,
          sessionsHeld: quiet.sessions + (peerCheck?.sessions ?? 0),
          connectionsOpen: quiet.connections + (peerCheck?.connections ?? 0),
          errorsLogged: probe.errorsLogged,
          lagMaxMs: probe.lagMax,
        };
      } else {
        findings.push(finding);
        options.onFinding?.(finding);
        await current.stop(1000);
        if (sent < options.frames) {
          const restart = await restartOnSameState(brokerOptions);
          broker = restart.broker;
          lifetime++;
        }
      }
      batches.push(report);
      options.onBatch?.(report);
    }
  } finally {
    await peer?.stop();
    await broker.stop();
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
  }
  const threshold = options.leakThresholdBytes ?? 8 * 1024 * 1024;
  const { growth, suspected } = heapVerdict(batches, threshold);
  const peerVerdict =
    peer === undefined
      ? undefined
      : heapVerdict(
          batches.map((b) => ({
            lifetime: b.peerLifetime,
            heapUsed: b.peerHeapUsed,
            errorsLogged: undefined,
          })),
          threshold,
        );
  return {
    frames: sent,
    bytes: batches.reduce((sum, x) => sum + x.bytes, 0),
    sessions: batches.reduce((sum, x) => sum + x.sessions, 0),
    elapsedMs: performance.now() - started,
    batches,
    findings,
    heapGrowth: growth,
    peerHeapGrowth: peerVerdict?.growth,
    leakSuspected: suspected || peerVerdict?.suspected === true,
    errorsLogged: errorsPerLifetime(batches),
    errorSamples,
    corpus: corpusSummary(corpus),
    reload,
  };
}

function sessionBudget(temper: string, rng: Rng): number {
  switch (temper) {
    case 'calm':
      return 20 + rng.int(300);
    case 'mixed':
      return 5 + rng.int(80);
    case 'hostile':
      return 1 + rng.int(24);
    default:
      return 1 + rng.int(8);
  }
}
