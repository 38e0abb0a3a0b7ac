/**
 * Runs one process's share of a bench run (in the coordinator for one process, in each forked worker
 * otherwise) and packages what it measured as a plain-JSON {@link ShareResult}.
 */
import type { ClientResult } from '../bench-result.js';
import { LatencyHistogram } from '../histogram.js';
import { nowMillis } from '../payload.js';
import { ShareLatencySink } from '../share-live.js';
import { ThroughputTimeSeries } from '../timeseries.js';
import {
  type CrossAgentSamples,
  type ShareContext,
  type ShareControl,
  type ShareResult,
  type ShareTask,
  type SubscriberDeliveries,
  sleep,
} from './common.js';
import { runFanInShare } from './fan-in.js';
import { runFanOutShare } from './fan-out.js';
import { runPublishShare } from './publish.js';
import { runStressShare } from './stress.js';
import { runSubscribeShare } from './subscribe.js';

/**
 * Runs `task` to its end (bound, deadline or abort) and reports what was measured. `latency` sees every
 * sample as it is recorded; the caller drains it for live figures.
 */
export async function runShare(
  task: ShareTask,
  control: ShareControl,
  sink = new ShareLatencySink(task.recordRawLatency === true),
): Promise<ShareResult> {
  const latency = task.discardLatency === true ? new ShareLatencySink() : sink;
  // Parts of a distributed run start together at an instant agreed beforehand.
  if (task.startAtMs !== undefined) await sleep(task.startAtMs - nowMillis(), control.signal);
  if (control.clock === undefined && task.clock !== undefined) control.clock = task.clock;
  const cpuStart = process.cpuUsage();
  const ctx: ShareContext = {
    task,
    control,
    histogram: new LatencyHistogram(),
    timeseries: new ThroughputTimeSeries(task.originMs, task.intervalMs),
    latency,
    firstStartMs: Number.POSITIVE_INFINITY,
    lastEndMs: Number.NEGATIVE_INFINITY,
  };
  let clients: ClientResult[];
  let deliveries: SubscriberDeliveries[] | undefined;
  let crossAgent: CrossAgentSamples | undefined;
  const scenario = task.scenario;
  switch (scenario.kind) {
    case 'publish':
      clients = await runPublishShare(scenario, ctx);
      break;
    case 'stress':
      clients = await runStressShare(scenario, ctx);
      break;
    case 'fan-out':
      clients = await runFanOutShare(scenario, ctx);
      break;
    case 'fan-in':
      clients = await runFanInShare(scenario, ctx);
      break;
    case 'subscribe': {
      const outcome = await runSubscribeShare(scenario, ctx);
      clients = outcome.clients;
      deliveries = outcome.deliveries;
      crossAgent = outcome.cross?.toJSON();
      break;
    }
  }
  const cpu = process.cpuUsage(cpuStart);
  const reason: unknown = control.signal.reason;
  return {
    processIndex: task.processIndex,
    clients,
    histogramUs: ctx.histogram.encode(),
    timeseries: ctx.timeseries.toJSON(),
    cpu: { user: cpu.user, system: cpu.system },
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    firstStartMs: Number.isFinite(ctx.firstStartMs) ? ctx.firstStartMs : Number.NaN,
    lastEndMs: Number.isFinite(ctx.lastEndMs) ? ctx.lastEndMs : Number.NaN,
    ...(deliveries === undefined ? {} : { deliveries }),
    ...(latency.raw === undefined ? {} : { rawLatencyUs: latency.raw }),
    ...(crossAgent === undefined ? {} : { crossAgent }),
    ...(control.signal.aborted ? { stopReason: typeof reason === 'string' ? reason : 'stopped' } : {}),
  };
}
