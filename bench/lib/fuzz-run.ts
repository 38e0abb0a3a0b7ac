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
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildCorpus, type Corpus, corpusSummary, FUZZ_VERSIONS } from './fuzz-corpus.js';
import { fuzzDataDir, loaded, type ReloadReport, restartOnSameState } from './fuzz-reload.js';
import { pickTemper, runSession, SessionRecord } from './fuzz-session.js';
import { roundTrip } from './probe-client.js';
import { launchProbeBroker, type ProbeBroker, type ProbeBrokerOptions } from './probe-launcher.js';
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
  let broker = await launchProbeBroker(brokerOptions);
  try {
    for (let b = 0; sent < options.frames; b++) {
      const stop = { stopped: false };
      const live = new Set<SessionRecord>();
      const finished: SessionRecord[] = [];
      // The sessions running when the broker died are the suspects.
      let atCrash: SessionRecord[] | undefined;
      let current = broker;
      current.exited.then(() => {
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
          const context = { port: current.port, corpus: corpus[version], stop, record };
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
        errorsLogged: undefined,
        lagMaxMs: undefined,
      };
      if (finding === undefined) {
        const quiet = await waitQuiet(current);
        const probe = await current.probe({ gc: true, clearRetained: true });
        for (const sample of probe.errorSamples)
          if (!errorSamples.includes(sample)) errorSamples.push(sample);
        report = {
          ...report,
          elapsedMs: performance.now() - batchStart,
          // A broker restarted in this batch has taken no fuzz yet: no baseline for the heap.
          heapUsed: killed ? undefined : probe.heapUsed,
          rss: probe.rss,
          sessionsHeld: quiet.sessions,
          connectionsOpen: quiet.connections,
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
    await broker.stop();
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
  }
  const { growth, suspected } = heapVerdict(batches, options.leakThresholdBytes ?? 8 * 1024 * 1024);
  return {
    frames: sent,
    bytes: batches.reduce((sum, x) => sum + x.bytes, 0),
    sessions: batches.reduce((sum, x) => sum + x.sessions, 0),
    elapsedMs: performance.now() - started,
    batches,
    findings,
    heapGrowth: growth,
    leakSuspected: suspected,
    errorsLogged: errorsPerLifetime(batches),
    errorSamples,
    corpus: corpusSummary(corpus),
    reload,
  };
}

/** Heap growth within the longest broker lifetime: the minimum of its last third minus its first batch. */
function heapVerdict(
  batches: readonly BatchReport[],
  threshold: number,
): { growth: number; suspected: boolean } {
  const byLifetime = new Map<number, number[]>();
  for (const batch of batches) {
    if (batch.heapUsed === undefined) continue;
    const list = byLifetime.get(batch.lifetime) ?? [];
    list.push(batch.heapUsed);
    byLifetime.set(batch.lifetime, list);
  }
  let longest: number[] = [];
  for (const list of byLifetime.values()) if (list.length > longest.length) longest = list;
  const first = longest[0];
  if (first === undefined || longest.length < 2) return { growth: 0, suspected: false };
  const tail = longest.slice(-Math.max(1, Math.ceil(longest.length / 3)));
  const growth = Math.min(...tail) - first;
  return { growth, suspected: growth > threshold };
}

/** Errors logged, summed over broker lifetimes (each probe reports its process's running count). */
function errorsPerLifetime(batches: readonly BatchReport[]): number {
  const most = new Map<number, number>();
  for (const b of batches) most.set(b.lifetime, Math.max(most.get(b.lifetime) ?? 0, b.errorsLogged ?? 0));
  let total = 0;
  for (const count of most.values()) total += count;
  return total;
}

/** `MqttError: reason code 0x84 is not allowed in disconnect @ Connection.disconnect` from a crash's stderr. */
export function crashSignature(stderr: string): string {
  const lines = stderr.split('\n');
  const errorLine = lines.find((l) => /^[A-Za-z]*Error\b|^Error:|^RangeError|^TypeError/.test(l.trim()));
  const frame = lines.find((l) => l.trim().startsWith('at '));
  const where =
    frame
      ?.trim()
      .replace(/^at /, '')
      .replace(/ \(.*\)$/, '') ?? '?';
  return `${errorLine?.trim() ?? (lines[0] ?? 'exited').trim()} @ ${where}`;
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

/** Wait until the broker holds no connection and expired sessions are gone (bounded). */
async function waitQuiet(broker: ProbeBroker): Promise<{ connections: number; sessions: number }> {
  const deadline = Date.now() + QUIET_TIMEOUT_MS;
  let probe = await broker.probe();
  // Sessions expire one second after their client left (maximumSessionExpiryInterval 1).
  while ((probe.connections > 0 || probe.sessions > 0) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    probe = await broker.probe();
  }
  return { connections: probe.connections, sessions: probe.sessions };
}

/** Write each session's bytes to `<dir>/<kind>-<time>/session-<id>.bin` with an index; returns the directory. */
function dump(
  baseDir: string | undefined,
  kind: string,
  records: readonly SessionRecord[],
  why: string,
): string | undefined {
  if (baseDir === undefined) return undefined;
  const dir = join(baseDir, `${kind}-${new Date().toISOString().replaceAll(':', '-')}`);
  mkdirSync(dir, { recursive: true });
  const seen = new Set<number>();
  const index = [];
  for (const r of records) {
    if (seen.has(r.id)) continue;
    seen.add(r.id);
    const file = `session-${r.id}.bin`;
    writeFileSync(join(dir, file), r.bytes());
    index.push({
      file,
      id: r.id,
      seed: r.seed,
      version: r.version,
      temper: r.temper,
      truncated: r.truncated,
    });
  }
  writeFileSync(join(dir, 'index.json'), `${JSON.stringify({ why, sessions: index }, null, 2)}\n`);
  return dir;
}
