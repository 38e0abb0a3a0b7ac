/**
 * Writing and reading {@link BenchResult} JSON files. JSON has no NaN or Infinity: such figures (an empty
 * client's mean, a zero-length phase's rate) are written as null and read back as NaN. Reading checks the
 * shape, because `bench compare` reads files that may come from older versions or other hands.
 */
import { BENCH_RESULT_FORMAT, type BenchResult, BenchScenario } from './bench-result.js';
import { BucketScale } from './histogram.js';

/** Pretty-printed JSON of a result. */
export function serializeBenchResult(result: BenchResult): string {
  return `${JSON.stringify(result, null, 2)}\n`;
}

type Json = unknown;

class Reader {
  constructor(readonly path: string) {}

  fail(what: string): never {
    throw new TypeError(`bench result: ${this.path} ${what}`);
  }

  at(key: string | number): Reader {
    return new Reader(`${this.path}${typeof key === 'number' ? `[${key}]` : `.${key}`}`);
  }
}

function object(value: Json, at: Reader): Record<string, Json> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) at.fail('must be an object');
  return value as Record<string, Json>;
}

function array(value: Json, at: Reader): Json[] {
  if (!Array.isArray(value)) at.fail('must be an array');
  return value;
}

function string(value: Json, at: Reader): string {
  if (typeof value !== 'string') at.fail('must be a string');
  return value;
}

/** A count or other figure that is always finite. */
function finite(value: Json, at: Reader): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) at.fail('must be a finite number');
  return value;
}

/** A figure that may legitimately be NaN/Infinity, written as null. */
function figure(value: Json, at: Reader): number {
  if (value === null) return Number.NaN;
  if (typeof value !== 'number') at.fail('must be a number or null');
  return value;
}

function oneOf<T extends string | number>(value: Json, allowed: readonly T[], at: Reader): T {
  if (!allowed.includes(value as T)) at.fail(`must be one of ${allowed.join(', ')}`);
  return value as T;
}

function optional<T>(
  record: Record<string, Json>,
  key: string,
  at: Reader,
  read: (v: Json, r: Reader) => T,
): T | undefined {
  const value = record[key];
  return value === undefined ? undefined : read(value, at.at(key));
}

function figures(value: Json, at: Reader) {
  const o = object(value, at);
  return {
    count: figure(o.count, at.at('count')),
    mean: figure(o.mean, at.at('mean')),
    stddev: figure(o.stddev, at.at('stddev')),
    min: figure(o.min, at.at('min')),
    max: figure(o.max, at.at('max')),
  };
}

function phase(value: Json, at: Reader) {
  const o = object(value, at);
  return {
    count: finite(o.count, at.at('count')),
    startMs: finite(o.startMs, at.at('startMs')),
    endMs: finite(o.endMs, at.at('endMs')),
  };
}

function numbers(value: Json, at: Reader, read: (v: Json, r: Reader) => number): number[] {
  return array(value, at).map((entry, i) => read(entry, at.at(i)));
}

function spread(value: Json, at: Reader) {
  const o = object(value, at);
  return {
    fastest: figure(o.fastest, at.at('fastest')),
    median: figure(o.median, at.at('median')),
    slowest: figure(o.slowest, at.at('slowest')),
  };
}

function stresser(value: Json, at: Reader) {
  const o = object(value, at);
  const agg = object(o.aggregate, at.at('aggregate'));
  const aggAt = at.at('aggregate');
  return {
    publishRates: numbers(o.publishRates, at.at('publishRates'), figure),
    receiveRates: numbers(o.receiveRates, at.at('receiveRates'), figure),
    publish: spread(o.publish, at.at('publish')),
    receive: spread(o.receive, at.at('receive')),
    aggregate: {
      published: finite(agg.published, aggAt.at('published')),
      delivered: finite(agg.delivered, aggAt.at('delivered')),
      wallClockMs: finite(agg.wallClockMs, aggAt.at('wallClockMs')),
      deliveredPerSec: figure(agg.deliveredPerSec, aggAt.at('deliveredPerSec')),
      publishedPerSec: figure(agg.publishedPerSec, aggAt.at('publishedPerSec')),
    },
  };
}

function client(value: Json, at: Reader): BenchResult['clients'][number] {
  const o = object(value, at);
  const publish = optional(o, 'publish', at, phase);
  const receive = optional(o, 'receive', at, phase);
  const failed = optional(o, 'failed', at, (v, r) =>
    typeof v === 'boolean' ? v : r.fail('must be a boolean'),
  );
  const error = optional(o, 'error', at, string);
  const agent = optional(o, 'agent', at, string);
  return {
    clientId: string(o.clientId, at.at('clientId')),
    messagesOk: finite(o.messagesOk, at.at('messagesOk')),
    messagesTotal: finite(o.messagesTotal, at.at('messagesTotal')),
    timingMs: figures(o.timingMs, at.at('timingMs')),
    ...(publish === undefined ? {} : { publish }),
    ...(receive === undefined ? {} : { receive }),
    ...(failed === undefined ? {} : { failed }),
    ...(error === undefined ? {} : { error }),
    ...(agent === undefined ? {} : { agent }),
  };
}

function latency(value: Json, at: Reader): BenchResult['latency'] {
  if (value === null) return null;
  const o = object(value, at);
  return {
    count: finite(o.count, at.at('count')),
    p50Ms: finite(o.p50Ms, at.at('p50Ms')),
    p90Ms: finite(o.p90Ms, at.at('p90Ms')),
    p99Ms: finite(o.p99Ms, at.at('p99Ms')),
    p999Ms: finite(o.p999Ms, at.at('p999Ms')),
    maxMs: finite(o.maxMs, at.at('maxMs')),
    curve: array(o.curve, at.at('curve')).map((entry, i) => {
      const pointAt = at.at('curve').at(i);
      const point = object(entry, pointAt);
      return {
        percentile: finite(point.percentile, pointAt.at('percentile')),
        valueMs: finite(point.valueMs, pointAt.at('valueMs')),
      };
    }),
    bucketScale: oneOf(o.bucketScale, Object.values(BucketScale), at.at('bucketScale')),
    buckets: array(o.buckets, at.at('buckets')).map((entry, i) => {
      const bucketAt = at.at('buckets').at(i);
      const bucket = object(entry, bucketAt);
      return {
        lowMs: finite(bucket.lowMs, bucketAt.at('lowMs')),
        highMs: finite(bucket.highMs, bucketAt.at('highMs')),
        count: finite(bucket.count, bucketAt.at('count')),
      };
    }),
    histogramUs: string(o.histogramUs, at.at('histogramUs')),
  };
}

function config(value: Json, at: Reader): BenchResult['config'] {
  const o = object(value, at);
  const read = {
    brokerLabel: optional(o, 'brokerLabel', at, string),
    messagesPerClient: optional(o, 'messagesPerClient', at, finite),
    payloadBytes: optional(o, 'payloadBytes', at, finite),
    qos: optional(o, 'qos', at, (v, r) => oneOf(v, [0, 1, 2] as const, r)),
    protocolVersion: optional(o, 'protocolVersion', at, (v, r) => oneOf(v, [3, 4, 5] as const, r)),
    durationMs: optional(o, 'durationMs', at, finite),
    options: optional(o, 'options', at, (v, r) => {
      const entries = Object.entries(object(v, r));
      for (const [key, option] of entries) {
        if (!['string', 'number', 'boolean'].includes(typeof option))
          r.at(key).fail('must be a string, number or boolean');
      }
      return Object.fromEntries(entries) as Record<string, string | number | boolean>;
    }),
  };
  const present = Object.fromEntries(Object.entries(read).filter(([, v]) => v !== undefined));
  return {
    brokerUrl: string(o.brokerUrl, at.at('brokerUrl')),
    clients: finite(o.clients, at.at('clients')),
    ...present,
  };
}

function generator(value: Json, at: Reader): BenchResult['generator'] {
  if (value === null) return null;
  const o = object(value, at);
  const peakRssBytes = optional(o, 'peakRssBytes', at, finite);
  return {
    processes: finite(o.processes, at.at('processes')),
    cpuUserMs: finite(o.cpuUserMs, at.at('cpuUserMs')),
    cpuSystemMs: finite(o.cpuSystemMs, at.at('cpuSystemMs')),
    wallClockMs: finite(o.wallClockMs, at.at('wallClockMs')),
    cpuPercentOfOneCore: figure(o.cpuPercentOfOneCore, at.at('cpuPercentOfOneCore')),
    ...(peakRssBytes === undefined ? {} : { peakRssBytes }),
  };
}

function timeseries(value: Json, at: Reader): BenchResult['timeseries'] {
  if (value === null) return null;
  const o = object(value, at);
  return {
    intervalMs: finite(o.intervalMs, at.at('intervalMs')),
    originMs: finite(o.originMs, at.at('originMs')),
    sent: numbers(o.sent, at.at('sent'), finite),
    received: numbers(o.received, at.at('received'), finite),
  };
}

function delivery(value: Json, at: Reader): NonNullable<BenchResult['delivery']> {
  const o = object(value, at);
  return {
    streams: finite(o.streams, at.at('streams')),
    received: finite(o.received, at.at('received')),
    unique: finite(o.unique, at.at('unique')),
    missing: finite(o.missing, at.at('missing')),
    duplicated: finite(o.duplicated, at.at('duplicated')),
    outOfOrder: finite(o.outOfOrder, at.at('outOfOrder')),
    foreign: finite(o.foreign, at.at('foreign')),
  };
}

function agentSummary(value: Json, at: Reader): NonNullable<BenchResult['agents']>[number] {
  const o = object(value, at);
  const lostReason = optional(o, 'lostReason', at, string);
  return {
    name: string(o.name, at.at('name')),
    state: oneOf(o.state, ['done', 'lost'] as const, at.at('state')),
    ...(lostReason === undefined ? {} : { lostReason }),
    version: string(o.version, at.at('version')),
    cores: figure(o.cores, at.at('cores')),
    processes: finite(o.processes, at.at('processes')),
    connections: finite(o.connections, at.at('connections')),
    sent: finite(o.sent, at.at('sent')),
    received: finite(o.received, at.at('received')),
    errors: finite(o.errors, at.at('errors')),
    p50Ms: figure(o.p50Ms, at.at('p50Ms')),
    p99Ms: figure(o.p99Ms, at.at('p99Ms')),
    cpuPercentOfOneCore: figure(o.cpuPercentOfOneCore, at.at('cpuPercentOfOneCore')),
    peakRssBytes: figure(o.peakRssBytes, at.at('peakRssBytes')),
    clockOffsetMs: figure(o.clockOffsetMs, at.at('clockOffsetMs')),
    clockUncertaintyMs: figure(o.clockUncertaintyMs, at.at('clockUncertaintyMs')),
  };
}

function crossAgent(value: Json, at: Reader): NonNullable<BenchResult['crossAgentLatency']> {
  const o = object(value, at);
  return {
    count: finite(o.count, at.at('count')),
    p50Ms: figure(o.p50Ms, at.at('p50Ms')),
    p90Ms: figure(o.p90Ms, at.at('p90Ms')),
    p99Ms: figure(o.p99Ms, at.at('p99Ms')),
    maxMs: figure(o.maxMs, at.at('maxMs')),
    uncertaintyMs: figure(o.uncertaintyMs, at.at('uncertaintyMs')),
    sameAgentCount: finite(o.sameAgentCount, at.at('sameAgentCount')),
  };
}

/** Parses and checks a result file's text; throws TypeError naming the first bad field. */
export function parseBenchResult(text: string): BenchResult {
  const root = new Reader('$');
  let parsed: Json;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new TypeError('bench result: not JSON', { cause });
  }
  const o = object(parsed, root);
  if (o.format !== BENCH_RESULT_FORMAT) root.at('format').fail(`must be "${BENCH_RESULT_FORMAT}"`);
  const aggAt = root.at('aggregate');
  const agg = object(o.aggregate, aggAt);
  const stresserFigures = optional(agg, 'stresser', aggAt, stresser);
  // Absent in results written before the field existed, and in every scenario but subscribe.
  const deliveryTotals = optional(o, 'delivery', root, delivery);
  // Present only in distributed runs.
  const agents = optional(o, 'agents', root, (v, r) =>
    array(v, r).map((entry, i) => agentSummary(entry, r.at(i))),
  );
  const cross = optional(o, 'crossAgentLatency', root, crossAgent);
  return {
    format: BENCH_RESULT_FORMAT,
    scenario: oneOf(o.scenario, Object.values(BenchScenario), root.at('scenario')),
    startedAt: string(o.startedAt, root.at('startedAt')),
    config: config(o.config, root.at('config')),
    clients: array(o.clients, root.at('clients')).map((entry, i) => client(entry, root.at('clients').at(i))),
    aggregate: {
      messagesOk: finite(agg.messagesOk, aggAt.at('messagesOk')),
      messagesTotal: finite(agg.messagesTotal, aggAt.at('messagesTotal')),
      wallClockMs: finite(agg.wallClockMs, aggAt.at('wallClockMs')),
      throughputMsgsPerSec: figure(agg.throughputMsgsPerSec, aggAt.at('throughputMsgsPerSec')),
      timingMs: figures(agg.timingMs, aggAt.at('timingMs')),
      simpleAverageMs: figures(agg.simpleAverageMs, aggAt.at('simpleAverageMs')),
      ...(stresserFigures === undefined ? {} : { stresser: stresserFigures }),
    },
    latency: latency(o.latency, root.at('latency')),
    timeseries: timeseries(o.timeseries, root.at('timeseries')),
    generator: generator(o.generator, root.at('generator')),
    ...(deliveryTotals === undefined ? {} : { delivery: deliveryTotals }),
    ...(agents === undefined ? {} : { agents }),
    ...(cross === undefined ? {} : { crossAgentLatency: cross }),
  };
}
