/**
 * Building blocks of the fan-out and fan-in scenarios: a tally of one publisher's messages as one subscriber
 * receives them, the publisher's stream settings, the bounded wait for deliveries, and the mqtt-stresser
 * style row (publish phase, then a receive phase timed from the end of publishing) of each tally.
 */
import type { Client } from '../../client/index.js';
import type { ClientResult } from '../bench-result.js';
import { gaussianSize, nowMicros, nowMillis, type PayloadHeader } from '../payload.js';
import { ClientLatencyRecorder } from '../result-builder.js';
import type { FanInScenario, FanOutScenario, ShareContext, ShareCounters } from './common.js';
import { mustStop, sleep } from './common.js';
import type { StreamOutcome, StreamSpec } from './publish.js';

/** How often the delivery wait rechecks its condition. */
const POLL_MS = 10;

/** What one subscriber received of one publisher's messages. */
export class DeliveryTally {
  readonly recorder: ClientLatencyRecorder;
  received = 0;
  lastReceiveMs = Number.NaN;

  /** A tally whose samples also go to the share's live latency figures. */
  constructor(ctx: ShareContext) {
    this.recorder = new ClientLatencyRecorder(ctx.latency);
  }

  /** Counts one arrival and its end-to-end latency (from the send time in the payload). */
  take(header: PayloadHeader, ctx: ShareContext): void {
    const nowMs = nowMillis();
    this.received++;
    this.lastReceiveMs = nowMs;
    ctx.control.counters.done++;
    ctx.control.counters.received++;
    ctx.timeseries.recordReceived(nowMs);
    if (header.sentAtUs !== undefined) this.recorder.record(Math.max(0, nowMicros() - header.sentAtUs));
  }
}

/**
 * A view of the share for a publisher's stream: publishes count toward `sent` and `connected` as usual, but
 * not toward `done`, which these scenarios keep for deliveries so that progress reaches its total once.
 */
export function publishingContext(ctx: ShareContext): ShareContext {
  const counters = ctx.control.counters;
  const view: ShareCounters = {
    get sent() {
      return counters.sent;
    },
    set sent(value: number) {
      counters.sent = value;
    },
    done: 0,
    get connected() {
      return counters.connected;
    },
    set connected(value: number) {
      counters.connected = value;
    },
    get received() {
      return counters.received;
    },
    set received(value: number) {
      counters.received = value;
    },
    get errors() {
      return counters.errors;
    },
    set errors(value: number) {
      counters.errors = value;
    },
  };
  return { ...ctx, control: { ...ctx.control, counters: view } };
}

/** The stream one fan publisher sends: timestamped, as fast as flow control allows. */
export function fanStream(
  scenario: FanOutScenario | FanInScenario,
  client: Client,
  publisher: string,
  topic: string,
): StreamSpec {
  return {
    client,
    publisher,
    messages: scenario.messagesPerClient,
    qos: scenario.publisherQos,
    topic: () => topic,
    size: scenario.constantPayload ? () => scenario.payloadBytes : () => gaussianSize(scenario.payloadBytes),
    timestamp: true,
    ratePerSec: 0,
    jitter: 0,
    maxInflight: scenario.publisherQos === 0 ? Number.POSITIVE_INFINITY : scenario.maxInflight,
  };
}

/** Waits until `done()` holds, `untilMs` passes or the run must stop; bounded by all three. */
export async function waitForDeliveries(
  done: () => boolean,
  untilMs: number,
  ctx: ShareContext,
): Promise<void> {
  while (!done() && nowMillis() < untilMs && !mustStop(ctx, nowMillis())) {
    await sleep(POLL_MS, ctx.control.signal);
  }
}

/** Ends every client, waiting at most two seconds each. */
export async function endClients(clients: readonly Client[]): Promise<void> {
  await Promise.all(clients.map((client) => client.end({ timeoutMs: 2000 }).catch(() => undefined)));
}

/** A row for a client that never got to publish or receive. */
export function failedFanRow(clientId: string, expected: number, error: string): ClientResult {
  return {
    clientId,
    messagesOk: 0,
    messagesTotal: expected,
    timingMs: new ClientLatencyRecorder().timingMs(),
    failed: true,
    error,
  };
}

/**
 * The row of one tally. Its publish phase is the stream that fed it; its receive phase starts when that
 * stream ended and runs to the last arrival, which is how mqtt-stresser times a worker's receiving.
 */
export function fanRow(
  clientId: string,
  tally: DeliveryTally,
  published: StreamOutcome,
  ctx: ShareContext,
): ClientResult {
  const endMs = Math.max(
    Number.isNaN(tally.lastReceiveMs) ? published.endMs : tally.lastReceiveMs,
    published.endMs,
  );
  ctx.lastEndMs = Math.max(ctx.lastEndMs, endMs);
  ctx.histogram.merge(tally.recorder.histogram);
  const row: ClientResult = {
    clientId,
    messagesOk: tally.received,
    messagesTotal: published.attempted,
    timingMs: tally.recorder.timingMs(),
    publish: { count: published.completed, startMs: published.startMs, endMs: published.endMs },
    receive: { count: tally.received, startMs: published.endMs, endMs },
  };
  if (published.error !== undefined) return { ...row, failed: true, error: published.error };
  if (tally.received < published.attempted && !mustStop(ctx, nowMillis())) {
    return {
      ...row,
      failed: true,
      error: `timeout: received ${tally.received} of ${published.attempted} messages`,
    };
  }
  return row;
}
