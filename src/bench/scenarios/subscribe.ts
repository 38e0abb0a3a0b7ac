/**
 * `bench subscribe`: subscribers that account for every bench message per publisher (missing, duplicated,
 * out of order, from the sequence numbers in the payload) and measure end-to-end latency from the send
 * time the publisher wrote into it. Optionally watches the broker's dropped-message counter and stops the
 * run when it rises, as mqtt-malaria's listener did.
 */
import { type Client, connect, type Message } from '../../client/index.js';
import type { ClientResult } from '../bench-result.js';
import { nowMicros, nowMillis, readPayloadHeader } from '../payload.js';
import { ClientLatencyRecorder } from '../result-builder.js';
import {
  brokerUrl,
  clientOptions,
  errorText,
  mustStop,
  type ShareContext,
  type SubscriberDeliveries,
  type SubscribeScenario,
  sleep,
  trackConnected,
} from './common.js';
import { CrossAgentLatency } from './cross-agent-latency.js';
import { SequenceTracker } from './sequence-tracker.js';

/** Dropped-message counters: Mosquitto's (and Starling's) name, then EMQX's. */
export const DROPPED_TOPICS = [
  '$SYS/broker/publish/messages/dropped',
  '$SYS/brokers/+/metrics/messages/dropped',
] as const;

/** How often the waiting loop looks at the stop conditions. */
const POLL_MS = 20;

/**
 * Watches a dropped-message counter: the first value seen on each topic is the baseline, and any later,
 * higher value means the broker dropped messages during the run.
 */
export class DropWatcher {
  readonly #baseline = new Map<string, number>();

  /** Feeds one `$SYS` message; returns the increase when the counter rose, else 0. */
  observe(topic: string, payload: Buffer): number {
    const value = Number(payload.toString('utf8').trim());
    if (!Number.isFinite(value)) return 0;
    const baseline = this.#baseline.get(topic);
    if (baseline === undefined) {
      this.#baseline.set(topic, value);
      return 0;
    }
    return value > baseline ? value - baseline : 0;
  }
}

interface SubscriberState {
  readonly clientId: string;
  readonly tracker: SequenceTracker;
  /** Per publisher, end-to-end latency. */
  readonly latency: Map<string, ClientLatencyRecorder>;
  foreign: number;
  firstArrivals: number;
  lastArrivalMs: number;
  client?: Client;
  error?: string;
}

function onBenchMessage(
  state: SubscriberState,
  message: Message,
  ctx: ShareContext,
  cross: CrossAgentLatency | undefined,
): void {
  const header = readPayloadHeader(message.payload);
  if (header === undefined) {
    state.foreign++;
    return;
  }
  const nowMs = nowMillis();
  state.lastArrivalMs = nowMs;
  ctx.timeseries.recordReceived(nowMs);
  ctx.control.counters.received++;
  if (!state.tracker.record(header.publisher, header.seq)) return;
  state.firstArrivals++;
  ctx.control.counters.done++;
  if (header.sentAtUs === undefined) return;
  let recorder = state.latency.get(header.publisher);
  if (recorder === undefined) {
    recorder = new ClientLatencyRecorder(ctx.latency);
    state.latency.set(header.publisher, recorder);
  }
  const rawUs = nowMicros() - header.sentAtUs;
  // Between agents the two clocks differ by their offsets; on one machine they are the same clock.
  const latencyUs = cross === undefined ? rawUs : cross.correct(header.publisher, rawUs);
  // A clock step between processes could make this negative; clamp rather than lose the sample.
  recorder.record(Math.max(0, latencyUs));
}

async function startSubscriber(
  scenario: SubscribeScenario,
  ctx: ShareContext,
  index: number,
  drops: DropWatcher,
  cross: CrossAgentLatency | undefined,
): Promise<SubscriberState> {
  const clientId = `${scenario.clientId}-${ctx.task.processIndex}-${index}`;
  const state: SubscriberState = {
    clientId,
    tracker: new SequenceTracker(),
    latency: new Map(),
    foreign: 0,
    firstArrivals: 0,
    lastArrivalMs: Number.NaN,
  };
  try {
    const client = await connect(brokerUrl(ctx.task, index), clientOptions(ctx.task.connection, clientId));
    state.client = client;
    trackConnected(ctx, client);
    client.onMessage((message) => {
      if (message.topic.startsWith('$SYS/')) {
        const rise = drops.observe(message.topic, message.payload);
        if (rise > 0) ctx.control.requestStop?.(`broker dropped ${rise} messages (${message.topic})`);
        return;
      }
      onBenchMessage(state, message, ctx, cross);
    });
    await client.subscribe(scenario.topic, { qos: scenario.qos, maxBuffered: 1 });
    if (scenario.abortOnDrops && index === 0) {
      // One watcher per process is enough; a broker without the topic simply never publishes it.
      for (const topic of DROPPED_TOPICS) {
        await client.subscribe(topic, { qos: 0, maxBuffered: 1 }).catch(() => undefined);
      }
    }
  } catch (error) {
    state.error = errorText(error);
    ctx.control.counters.errors++;
  }
  return state;
}

function finished(
  states: readonly SubscriberState[],
  scenario: SubscribeScenario,
  ctx: ShareContext,
): boolean {
  const live = states.filter((state) => state.error === undefined);
  if (live.length === 0) return true;
  if (scenario.count > 0 && live.every((state) => state.firstArrivals >= scenario.count)) return true;
  if (ctx.control.publishersDone?.() === true) {
    const quietSince = Math.max(...live.map((state) => state.lastArrivalMs || 0));
    if (nowMillis() - quietSince >= scenario.idleTimeoutMs) return true;
  }
  return false;
}

/** Rows per (subscriber, publisher): malaria's block with the publisher's end-to-end latency. */
function rows(states: readonly SubscriberState[], scenario: SubscribeScenario): ClientResult[] {
  const result: ClientResult[] = [];
  for (const state of states) {
    if (state.error !== undefined) {
      result.push({
        clientId: state.clientId,
        messagesOk: 0,
        messagesTotal: 0,
        timingMs: new ClientLatencyRecorder().timingMs(),
        failed: true,
        error: state.error,
      });
      continue;
    }
    const prefix = states.length > 1 ? `${state.clientId}<-` : '';
    for (const delivery of state.tracker.deliveries(scenario.expectedPerPublisher)) {
      const recorder = state.latency.get(delivery.publisher) ?? new ClientLatencyRecorder();
      result.push({
        clientId: `${prefix}${delivery.publisher}`,
        messagesOk: delivery.unique,
        messagesTotal: delivery.expected,
        timingMs: recorder.timingMs(),
      });
    }
  }
  return result;
}

/** Runs this process's subscribers until their bound, the deadline or a stop; returns rows and accounting. */
export async function runSubscribeShare(
  scenario: SubscribeScenario,
  ctx: ShareContext,
): Promise<{ clients: ClientResult[]; deliveries: SubscriberDeliveries[]; cross?: CrossAgentLatency }> {
  const drops = new DropWatcher();
  const cross = ctx.control.clock === undefined ? undefined : new CrossAgentLatency(ctx.control);
  ctx.firstStartMs = Math.min(ctx.firstStartMs, nowMillis());
  const states = await Promise.all(
    Array.from({ length: scenario.clientsPerProcess }, (_, i) =>
      startSubscriber(scenario, ctx, i, drops, cross),
    ),
  );
  ctx.control.onReady?.();
  // Bounded: every pass sleeps POLL_MS and the deadline ends the loop.
  while (!mustStop(ctx, nowMillis()) && !finished(states, scenario, ctx)) {
    await sleep(POLL_MS, ctx.control.signal);
  }
  const lastArrival = Math.max(...states.map((state) => state.lastArrivalMs || 0));
  ctx.lastEndMs = Math.max(ctx.lastEndMs, lastArrival > 0 ? lastArrival : nowMillis());
  await Promise.all(states.map((state) => state.client?.end({ timeoutMs: 2000 }).catch(() => undefined)));
  for (const state of states)
    for (const recorder of state.latency.values()) ctx.histogram.merge(recorder.histogram);
  return {
    clients: rows(states, scenario),
    ...(cross === undefined ? {} : { cross }),
    deliveries: states
      .filter((state) => state.error === undefined)
      .map((state) => ({
        subscriber: state.clientId,
        publishers: state.tracker.deliveries(scenario.expectedPerPublisher),
        foreign: state.foreign,
      })),
  };
}
