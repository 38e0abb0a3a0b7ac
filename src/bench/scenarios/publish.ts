/**
 * `bench publish`: each client connects, publishes its messages (optionally rate-limited) and records, per
 * message, the time from the publish() call to its completion: PUBACK at QoS 1, PUBCOMP at QoS 2 and the
 * write to the socket at QoS 0. This is mqtt-malaria's measurement.
 */
import { type Client, connect } from '../../client/index.js';
import type { ClientResult } from '../bench-result.js';
import { gaussianSize, nowMicros, nowMillis, PayloadWriter } from '../payload.js';
import { ClientLatencyRecorder } from '../result-builder.js';
import {
  brokerUrl,
  clientOptions,
  errorText,
  mustStop,
  type PublishScenario,
  type ShareContext,
  settled,
  sleep,
  topicTemplate,
  trackConnected,
  yieldToEventLoop,
} from './common.js';

/** Messages published between two turns of the event loop when nothing else makes the loop wait. */
const YIELD_EVERY = 512;

/** How one client publishes a stream. */
export interface StreamSpec {
  readonly client: Client;
  readonly publisher: string;
  readonly messages: number;
  readonly qos: 0 | 1 | 2;
  readonly topic: (n: number) => string;
  readonly size: () => number;
  readonly timestamp: boolean;
  readonly ratePerSec: number;
  readonly jitter: number;
  readonly maxInflight: number;
  /** Receives each completed publish's latency in microseconds, if given. */
  readonly recorder?: ClientLatencyRecorder;
}

/** What a stream did. */
export interface StreamOutcome {
  readonly attempted: number;
  readonly completed: number;
  readonly startMs: number;
  readonly endMs: number;
  readonly error?: string;
}

/**
 * Publishes `messages` messages numbered 0..n-1 with at most `maxInflight` unacknowledged, stopping early
 * when the run stops. Resolves once every publish made has completed or failed (or the run must stop).
 */
export async function publishStream(spec: StreamSpec, ctx: ShareContext): Promise<StreamOutcome> {
  const { client, qos, recorder } = spec;
  const writer = new PayloadWriter(spec.publisher);
  const counters = ctx.control.counters;
  const timeseries = ctx.timeseries;
  const signal = ctx.control.signal;
  const interval = spec.ratePerSec > 0 ? 1000 / spec.ratePerSec : 0;
  let attempted = 0;
  let completed = 0;
  let inflight = 0;
  let firstError: string | undefined;
  let wake: (() => void) | undefined;
  const settle = (): void => {
    inflight--;
    const resume = wake;
    wake = undefined;
    resume?.();
  };
  const startMs = nowMillis();
  let nextAt = startMs;
  for (let seq = 0; seq < spec.messages; seq++) {
    const now = nowMillis();
    if (mustStop(ctx, now) || firstError !== undefined) break;
    if (interval > 0) {
      if (nextAt > now) await sleep(nextAt - now, signal);
      if (mustStop(ctx, nowMillis())) break;
      // Jitter varies each gap by up to +-jitter of the interval, so the mean rate stays the target.
      nextAt += interval * (1 + spec.jitter * (2 * Math.random() - 1));
    }
    const payload = writer.write(seq, spec.size(), spec.timestamp ? nowMicros() : undefined);
    const t0 = performance.now();
    const done = client.publish(spec.topic(seq), payload, { qos });
    attempted++;
    counters.sent++;
    timeseries.recordSent(performance.timeOrigin + t0);
    inflight++;
    done.then(
      () => {
        const t1 = performance.now();
        recorder?.record((t1 - t0) * 1000);
        completed++;
        counters.done++;
        settle();
      },
      (error: unknown) => {
        firstError ??= errorText(error);
        settle();
      },
    );
    if (inflight >= spec.maxInflight) {
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    } else if (attempted % YIELD_EVERY === 0) {
      await yieldToEventLoop();
    }
  }
  // Bounded by the run's deadline: each wait is at most 50 ms and rechecks it. A settled publish ends the
  // wait and its timer, so a fast stream of acknowledgements leaves no pending timers behind.
  while (inflight > 0 && !mustStop(ctx, nowMillis())) {
    await sleep(50, signal, (resume) => {
      wake = resume;
    });
  }
  const outcome: StreamOutcome = { attempted, completed, startMs, endMs: nowMillis() };
  return firstError === undefined ? outcome : { ...outcome, error: firstError };
}

/** One malaria publisher: connect, stream, disconnect. */
async function runPublisher(
  scenario: PublishScenario,
  ctx: ShareContext,
  clientIndex: number,
): Promise<ClientResult> {
  const clientId = `${scenario.clientId}-${ctx.task.processIndex}-${clientIndex}`;
  const recorder = new ClientLatencyRecorder(ctx.latency);
  const startMs = nowMillis();
  ctx.firstStartMs = Math.min(ctx.firstStartMs, startMs);
  let client: Client;
  try {
    client = await connect(brokerUrl(ctx.task, clientIndex), clientOptions(ctx.task.connection, clientId));
  } catch (error) {
    return failedRow(clientId, scenario.messagesPerClient, recorder, errorText(error));
  }
  trackConnected(ctx, client);
  const outcome = await publishStream(
    {
      client,
      publisher: clientId,
      messages: scenario.messagesPerClient,
      qos: scenario.qos,
      topic: topicTemplate(scenario.topic, clientId, ctx.task.processIndex),
      size: () => gaussianSize(scenario.payloadBytes),
      timestamp: scenario.timestamp,
      ratePerSec: scenario.ratePerClient,
      jitter: scenario.jitter,
      maxInflight: scenario.qos === 0 ? Number.POSITIVE_INFINITY : scenario.maxInflight,
      recorder,
    },
    ctx,
  );
  ctx.lastEndMs = Math.max(ctx.lastEndMs, outcome.endMs);
  await client.end({ timeoutMs: 2000 }).catch(() => undefined);
  ctx.histogram.merge(recorder.histogram);
  const row: ClientResult = {
    clientId,
    messagesOk: outcome.completed,
    // What was attempted: an interrupted run reports its partial counts, not a failure rate.
    messagesTotal: outcome.attempted,
    timingMs: recorder.timingMs(),
  };
  return outcome.error === undefined ? row : { ...row, failed: true, error: outcome.error };
}

function failedRow(
  clientId: string,
  total: number,
  recorder: ClientLatencyRecorder,
  error: string,
): ClientResult {
  return {
    clientId,
    messagesOk: 0,
    messagesTotal: total,
    timingMs: recorder.timingMs(),
    failed: true,
    error,
  };
}

/** Runs this process's publishers concurrently. */
export function runPublishShare(scenario: PublishScenario, ctx: ShareContext): Promise<ClientResult[]> {
  const runs: Promise<ClientResult>[] = [];
  for (let i = 0; i < scenario.clientsPerProcess; i++) {
    runs.push(runPublisher(scenario, ctx, i).then((row) => settled(ctx, row)));
  }
  return Promise.all(runs);
}
