/**
 * A Starling broker in a child process of its own, for the reliability scripts (fuzz, flood, soak) and
 * their bounded tests, so its memory and event-loop lag are measured apart from the load generator.
 *
 * Built only from the public entry (`src/index.ts`). Options come as JSON in argv[2] (BrokerOptions plus
 * `host`; `sqliteDir`: keep state with the SQLite store there, as `starling broker` does by default). Prints `{"port":N}` on its first stdout line once listening. Talks over the IPC channel:
 *   {cmd:'probe', gc?:boolean, clearRetained?:boolean} -> ProbeReport
 *   {cmd:'close'}                                       -> closes the broker, then exits 0
 * Crashes are not caught: an uncaught exception ends the process, which is what the scripts look for.
 * Errors the broker itself caught and logged are counted and the first few are kept for the report.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { Broker, type BrokerConstructorOptions, type BrokerLogger, sqliteStorage } from '../../src/index.js';
import { engineOf } from '../../src/server/broker.js';

/** What the parent sends. */
export type ProbeCommand =
  | { cmd: 'probe'; gc?: boolean; clearRetained?: boolean }
  | { cmd: 'close' }
  | { cmd: 'reset-lag' };

/** What the child answers to `probe`. */
export interface ProbeReport {
  readonly type: 'probe';
  readonly rss: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
  readonly arrayBuffers: number;
  /** Open connections (past accept, before close), sessions held, retained messages stored. */
  readonly connections: number;
  /** Connections accepted since start. */
  readonly connectionsTotal: number;
  readonly clientsConnected: number;
  readonly sessions: number;
  readonly retained: number;
  /** The store's database bytes (file and WAL), undefined without a store that knows its size. */
  readonly storeBytes: number | undefined;
  /** Event-loop delay since the last probe (or reset), milliseconds. */
  readonly lagP50: number;
  readonly lagP99: number;
  readonly lagMax: number;
  readonly messagesReceived: number;
  readonly messagesSent: number;
  /** Messages the broker dropped (queue full, slow reader, expired). */
  readonly dropped: number;
  /** `logger.error` calls so far, and the first few messages with their error. */
  readonly errorsLogged: number;
  readonly errorSamples: readonly string[];
  /** Listener errors (EMFILE on accept, ...), counted by code. */
  readonly listenerErrors: Readonly<Record<string, number>>;
}

export interface ProbeBrokerOptions
  extends Omit<BrokerConstructorOptions, 'logger' | 'listeners' | 'storage'> {
  host?: string;
  /**
   * `sqlite`: the state is kept with the SQLite store, in `sqliteDir` when given (left in place), else in a
   * fresh directory per launch, removed when the broker exits.
   */
  store?: 'memory' | 'sqlite';
  sqliteDir?: string;
}

const MAX_SAMPLES = 20;

const options = JSON.parse(process.argv[2] ?? '{}') as ProbeBrokerOptions;
let errorsLogged = 0;
const errorSamples: string[] = [];
const listenerErrors: Record<string, number> = {};

function describe(obj: object, msg: string | undefined): string {
  const err = (obj as { err?: unknown }).err;
  const detail = err instanceof Error ? (err.stack ?? err.message) : err === undefined ? '' : String(err);
  return `${msg ?? ''} ${JSON.stringify({ ...obj, err: undefined })} ${detail}`.trim();
}

const logger: BrokerLogger = {
  info() {},
  debug() {},
  warn(obj) {
    const code = (obj as { err?: { code?: unknown } }).err?.code;
    if (typeof code === 'string') listenerErrors[code] = (listenerErrors[code] ?? 0) + 1;
  },
  error(obj, msg) {
    const code = (obj as { err?: { code?: unknown } }).err?.code;
    if (msg === 'listener error' && typeof code === 'string') {
      listenerErrors[code] = (listenerErrors[code] ?? 0) + 1;
      return;
    }
    errorsLogged++;
    if (errorSamples.length < MAX_SAMPLES) errorSamples.push(describe(obj, msg));
  },
};

const { host, store: _store, sqliteDir, ...brokerOptions } = options;
const broker = new Broker({
  ...brokerOptions,
  logger,
  ...(sqliteDir === undefined ? {} : { storage: sqliteStorage(sqliteDir) }),
});
const retainedTopics = new Set<string>();
await broker.addHook({
  id: 'probe-retained-tracker',
  onRetainedChanged(topic, message) {
    if (message === undefined) retainedTopics.delete(topic);
    else retainedTopics.add(topic);
  },
});
const address = await broker.listen({ host: host ?? '127.0.0.1', port: 0 });
const LAG_RESOLUTION_MS = 10;
const lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
/** The histogram records whole timer periods: an idle loop reads the resolution, so that is taken off. */
const lagMs = (recordedNs: number): number =>
  lag.count === 0 ? 0 : Math.max(0, recordedNs / 1e6 - LAG_RESOLUTION_MS);
lag.enable();

/** process.memoryUsage needs a descriptor for /proc; when the process has none left, heap figures only. */
function memoryUsage(): NodeJS.MemoryUsage {
  try {
    return process.memoryUsage();
  } catch {
    const heap = getHeapStatistics();
    return {
      rss: Number.NaN,
      heapUsed: heap.used_heap_size,
      heapTotal: heap.total_heap_size,
      external: heap.external_memory,
      arrayBuffers: Number.NaN,
    };
  }
}

function probe(gc: boolean, clearRetained: boolean): ProbeReport {
  if (clearRetained) {
    // Those set here (the hook), and those the engine holds from elsewhere (another cluster node's, which
    // reach the index without this node's hooks).
    const topics = new Set(retainedTopics);
    engineOf(broker).router.match('#', (topic) => topics.add(topic));
    for (const topic of topics) broker.publish(topic, Buffer.alloc(0), { retain: true });
  }
  const collect = (globalThis as { gc?: () => void }).gc;
  if (gc && collect !== undefined) {
    collect();
    collect();
  }
  const memory = memoryUsage();
  const stats = broker.stats;
  const report: ProbeReport = {
    type: 'probe',
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    heapTotal: memory.heapTotal,
    external: memory.external,
    arrayBuffers: memory.arrayBuffers,
    connections: engineOf(broker).connections.size,
    connectionsTotal: stats.connectionsTotal,
    clientsConnected: stats.clientsConnected,
    sessions: engineOf(broker).sessions.size,
    retained: engineOf(broker).router.count,
    storeBytes: engineOf(broker).storeInfo()?.bytes,
    lagP50: lagMs(lag.percentile(50)),
    lagP99: lagMs(lag.percentile(99)),
    lagMax: lagMs(lag.max),
    messagesReceived: stats.messagesReceived,
    messagesSent: stats.messagesSent,
    dropped: stats.droppedTotal,
    errorsLogged,
    errorSamples: [...errorSamples],
    listenerErrors: { ...listenerErrors },
  };
  lag.reset();
  return report;
}

process.on('message', (message: ProbeCommand) => {
  if (message.cmd === 'probe') {
    process.send?.(probe(message.gc === true, message.clearRetained === true));
  } else if (message.cmd === 'reset-lag') {
    lag.reset();
  } else if (message.cmd === 'close') {
    const forced = setTimeout(() => process.exit(0), 3000);
    broker.close().finally(() => {
      clearTimeout(forced);
      process.exit(0);
    });
  }
});
// The parent going away ends the child too: no broker outlives its script.
process.on('disconnect', () => process.exit(0));
process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
