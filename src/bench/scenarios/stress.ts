/**
 * `bench stress`: mqtt-stresser's workload. Each worker connects a subscriber to its own topic, then a
 * publisher, publishes its messages (the publish phase), and waits for them to come back (the receive
 * phase, timed from the end of publishing as mqtt-stresser times it). Workers start in batches of
 * `rampupSize` with `rampupDelayMs` between batches. Payloads carry send times, so next to mqtt-stresser's
 * per-worker rates the run reports true end-to-end latency.
 */
import { type Client, connect } from '../../client/index.js';
import type { ClientResult } from '../bench-result.js';
import { gaussianSize, nowMicros, nowMillis, readPayloadHeader } from '../payload.js';
import { ClientLatencyRecorder } from '../result-builder.js';
import {
  brokerUrl,
  clientOptions,
  errorText,
  mustStop,
  type ShareContext,
  type StressScenario,
  settled,
  sleep,
  trackConnected,
} from './common.js';
import { publishingContext } from './fan-shared.js';
import { publishStream } from './publish.js';

const POLL_MS = 10;

/** One mqtt-stresser worker. */
async function runWorker(scenario: StressScenario, ctx: ShareContext, index: number): Promise<ClientResult> {
  const workerId = `${scenario.clientId}-${ctx.task.processIndex}-${index}`;
  const topic = `internal/starling-stress/${workerId}`;
  const recorder = new ClientLatencyRecorder(ctx.latency);
  const n = scenario.messagesPerClient;
  // A worker's subscriber and publisher go to the same broker: the scenario measures one node's round trip.
  const url = brokerUrl(ctx.task, index);
  let received = 0;
  let lastReceiveMs = Number.NaN;
  const clients: Client[] = [];
  const fail = (error: string, counts?: Partial<ClientResult>): ClientResult => ({
    clientId: workerId,
    messagesOk: received,
    messagesTotal: n,
    timingMs: recorder.timingMs(),
    ...counts,
    failed: true,
    error,
  });
  ctx.firstStartMs = Math.min(ctx.firstStartMs, nowMillis());
  try {
    const options = clientOptions(ctx.task.connection, `${workerId}-sub`);
    const subscriber = await connect(url, options);
    clients.push(subscriber);
    subscriber.onMessage((message) => {
      const header = readPayloadHeader(message.payload);
      if (header === undefined) return;
      const nowMs = nowMillis();
      received++;
      lastReceiveMs = nowMs;
      ctx.control.counters.done++;
      ctx.control.counters.received++;
      ctx.timeseries.recordReceived(nowMs);
      if (header.sentAtUs !== undefined) recorder.record(Math.max(0, nowMicros() - header.sentAtUs));
    });
    await subscriber.subscribe(topic, { qos: scenario.subscriberQos, maxBuffered: 1 });
    const publisher = await connect(url, clientOptions(ctx.task.connection, `${workerId}-pub`));
    clients.push(publisher);
    trackConnected(ctx, publisher);
    const published = await publishStream(
      {
        client: publisher,
        publisher: workerId,
        messages: n,
        qos: scenario.publisherQos,
        topic: () => topic,
        size: scenario.constantPayload
          ? () => scenario.payloadBytes
          : () => gaussianSize(scenario.payloadBytes),
        timestamp: true,
        ratePerSec: 0,
        jitter: 0,
        maxInflight: scenario.publisherQos === 0 ? Number.POSITIVE_INFINITY : scenario.maxInflight,
      },
      // Progress counts deliveries (the subscriber above); acknowledged publishes must not count again.
      publishingContext(ctx),
    );
    const receiveDeadline = published.endMs + scenario.timeoutMs;
    // Bounded by the worker timeout and the run deadline.
    while (received < published.attempted && nowMillis() < receiveDeadline && !mustStop(ctx, nowMillis())) {
      await sleep(POLL_MS, ctx.control.signal);
    }
    const endMs = Math.max(Number.isNaN(lastReceiveMs) ? published.endMs : lastReceiveMs, published.endMs);
    ctx.lastEndMs = Math.max(ctx.lastEndMs, endMs);
    const phases = {
      publish: { count: published.completed, startMs: published.startMs, endMs: published.endMs },
      receive: { count: received, startMs: published.endMs, endMs },
    };
    if (published.error !== undefined) return fail(published.error, phases);
    const row: ClientResult = {
      clientId: workerId,
      messagesOk: received,
      messagesTotal: n,
      timingMs: recorder.timingMs(),
      ...phases,
    };
    if (received < published.attempted && !mustStop(ctx, nowMillis())) {
      return { ...row, failed: true, error: `timeout: received ${received} of ${n} messages` };
    }
    return row;
  } catch (error) {
    return fail(errorText(error));
  } finally {
    await Promise.all(clients.map((client) => client.end({ timeoutMs: 2000 }).catch(() => undefined)));
    ctx.histogram.merge(recorder.histogram);
  }
}

/** Runs this process's workers, ramping them up in batches. */
export async function runStressShare(scenario: StressScenario, ctx: ShareContext): Promise<ClientResult[]> {
  const runs: Promise<ClientResult>[] = [];
  const batch = Math.max(1, scenario.rampupSize);
  for (let i = 0; i < scenario.clientsPerProcess; i++) {
    if (i > 0 && i % batch === 0) {
      await sleep(scenario.rampupDelayMs, ctx.control.signal);
    }
    if (mustStop(ctx, nowMillis())) break;
    runs.push(runWorker(scenario, ctx, i).then((row) => settled(ctx, row)));
  }
  return Promise.all(runs);
}
