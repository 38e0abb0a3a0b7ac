/**
 * Turns the shares of a run (from this machine's processes, or from every agent of a distributed run) into
 * one {@link BenchResult}: client rows concatenated, histograms and time series merged exactly (never
 * averaged), CPU summed, and the run's configuration described once.
 */
import type {
  AgentSummary,
  BenchConfig,
  BenchResult,
  ClientResult,
  CrossAgentLatencySummary,
  DeliveryTotals,
} from './bench-result.js';
import { LatencyHistogram } from './histogram.js';
import { buildBenchResult, type CpuSample, generatorUsage } from './result-builder.js';
import type {
  ConnectionSettings,
  PublishScenario,
  Scenario,
  ShareResult,
  SubscriberDeliveries,
} from './scenarios/common.js';
import { ThroughputTimeSeries } from './timeseries.js';

/** What a merge needs besides the shares. */
export interface MergeInput {
  readonly scenario: Scenario;
  readonly publisher?: PublishScenario;
  readonly processes: number;
  readonly connection: Omit<ConnectionSettings, 'url'>;
  readonly url: string;
  readonly startedAt: Date;
  readonly intervalMs: number;
  readonly durationMs?: number;
  readonly brokerLabel?: string;
  /** CPU of every generator process, each a delta over the run. */
  readonly cpu: readonly CpuSample[];
  readonly peakRssBytes: number;
  readonly stopReason?: string;
  readonly agents?: readonly AgentSummary[];
}

/** The merged result and the subscribers' per-publisher accounting. */
export interface MergedRun {
  readonly result: BenchResult;
  readonly deliveries: readonly SubscriberDeliveries[];
  /** Why a share stopped early, when the run itself had no reason. */
  readonly stopReason: string | undefined;
}

/** Merges `shares` into the run's result. */
export function mergeShares(shares: readonly ShareResult[], input: MergeInput): MergedRun {
  const histogram = new LatencyHistogram();
  const timeseries = new ThroughputTimeSeries(
    shares[0]?.timeseries.originMs ?? input.startedAt.getTime(),
    input.intervalMs,
  );
  const clients: ClientResult[] = [];
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  const deliveries: SubscriberDeliveries[] = [];
  let stopReason = input.stopReason;
  for (const share of shares) {
    clients.push(...share.clients);
    histogram.merge(LatencyHistogram.decode(share.histogramUs));
    timeseries.merge(share.timeseries);
    if (share.deliveries) deliveries.push(...share.deliveries);
    if (Number.isFinite(share.firstStartMs)) first = Math.min(first, share.firstStartMs);
    if (Number.isFinite(share.lastEndMs)) last = Math.max(last, share.lastEndMs);
    if (share.stopReason !== undefined && stopReason === undefined) stopReason = share.stopReason;
  }
  const wallClockMs = Number.isFinite(first) && last >= first ? last - first : 0;
  const cross = crossAgentSummary(shares);
  const result = buildBenchResult({
    scenario: input.scenario.kind,
    startedAt: input.startedAt,
    config: benchConfig(input, stopReason),
    clients,
    wallClockMs,
    latencyHistogram: histogram,
    timeseries,
    generator: generatorUsage(input.cpu, Date.now() - input.startedAt.getTime(), input.peakRssBytes),
    ...(input.scenario.kind === 'subscribe' ? { delivery: deliveryTotals(deliveries) } : {}),
    ...(input.agents === undefined ? {} : { agents: input.agents }),
    ...(cross === undefined ? {} : { crossAgentLatency: cross }),
  });
  return { result, deliveries, stopReason };
}

/** Merges the shares' cross-agent samples; undefined when no share had any. */
export function crossAgentSummary(shares: readonly ShareResult[]): CrossAgentLatencySummary | undefined {
  const samples = shares.flatMap((share) => (share.crossAgent === undefined ? [] : [share.crossAgent]));
  if (samples.length === 0) return undefined;
  const histogram = new LatencyHistogram();
  let uncertaintyUs = 0;
  let same = 0;
  for (const sample of samples) {
    histogram.merge(LatencyHistogram.decode(sample.histogramUs));
    uncertaintyUs = Math.max(uncertaintyUs, sample.uncertaintyUs);
    same += sample.sameAgentSamples;
  }
  const at = (p: number): number => (histogram.count === 0 ? Number.NaN : histogram.percentile(p) / 1000);
  return {
    count: histogram.count,
    p50Ms: at(50),
    p90Ms: at(90),
    p99Ms: at(99),
    maxMs: histogram.count === 0 ? Number.NaN : histogram.max / 1000,
    uncertaintyMs: uncertaintyUs / 1000,
    sameAgentCount: same,
  };
}

function benchConfig(input: MergeInput, stopReason: string | undefined): BenchConfig {
  const { scenario, publisher, processes } = input;
  const options: Record<string, string | number | boolean> = { processes };
  if (input.agents !== undefined) options.agents = input.agents.length;
  if (input.connection.urls !== undefined && input.connection.urls.length > 1) {
    options.brokers = input.connection.urls.join(',');
  }
  if (stopReason !== undefined) options.stopReason = stopReason;
  let messagesPerClient: number | undefined;
  let qos: 0 | 1 | 2 | undefined;
  let payloadBytes: number | undefined;
  switch (scenario.kind) {
    case 'publish':
      messagesPerClient = scenario.messagesPerClient;
      qos = scenario.qos;
      payloadBytes = scenario.payloadBytes;
      options.topic = scenario.topic;
      options.timestamp = scenario.timestamp;
      if (scenario.ratePerClient > 0) options.ratePerClient = scenario.ratePerClient;
      break;
    case 'stress':
      messagesPerClient = scenario.messagesPerClient;
      qos = scenario.publisherQos;
      payloadBytes = scenario.payloadBytes;
      options.subscriberQos = scenario.subscriberQos;
      break;
    case 'fan-out':
    case 'fan-in':
      messagesPerClient = scenario.messagesPerClient;
      qos = scenario.publisherQos;
      payloadBytes = scenario.payloadBytes;
      options.subscriberQos = scenario.subscriberQos;
      if (scenario.kind === 'fan-out') options.publishers = processes;
      else options.subscribers = processes;
      break;
    case 'subscribe':
      qos = scenario.qos;
      options.topic = scenario.topic;
      if (publisher !== undefined) options.publishers = publisher.clientsPerProcess * processes;
      break;
  }
  const clients =
    scenario.clientsPerProcess * (scenario.kind === 'subscribe' && publisher !== undefined ? 1 : processes);
  return {
    brokerUrl: input.url,
    ...(input.brokerLabel === undefined ? {} : { brokerLabel: input.brokerLabel }),
    clients,
    ...(messagesPerClient === undefined ? {} : { messagesPerClient }),
    ...(payloadBytes === undefined ? {} : { payloadBytes }),
    ...(qos === undefined ? {} : { qos }),
    protocolVersion: input.connection.protocolVersion,
    ...(input.durationMs === undefined ? {} : { durationMs: input.durationMs }),
    options,
  };
}

/** Sums the subscribers' per-publisher accounting into the result's delivery totals. */
export function deliveryTotals(deliveries: readonly SubscriberDeliveries[]): DeliveryTotals {
  let streams = 0;
  let received = 0;
  let unique = 0;
  let missing = 0;
  let duplicated = 0;
  let outOfOrder = 0;
  let foreign = 0;
  for (const subscriber of deliveries) {
    foreign += subscriber.foreign;
    for (const p of subscriber.publishers) {
      streams++;
      received += p.received;
      unique += p.unique;
      missing += p.missing;
      duplicated += p.duplicates;
      outOfOrder += p.outOfOrder;
    }
  }
  return { streams, received, unique, missing, duplicated, outOfOrder, foreign };
}
