/**
 * Fan-in: in each process `clientsPerProcess` publishers each send their messages to their own topic, and
 * one subscriber holds a single-level wildcard over all of them, so one connection receives everything.
 * This is the many-devices-to-one-backend shape: the broker's matching and the one subscriber's socket
 * are the bottleneck.
 *
 * Each publisher is a row: its own publish phase, and as receive phase what the subscriber got of its
 * messages, from the end of its publishing to the last of them arriving (mqtt-stresser's timing of a
 * worker). Latency is end to end.
 */
import { type Client, connect } from '../../client/index.js';
import type { ClientResult } from '../bench-result.js';
import { nowMillis, readPayloadHeader } from '../payload.js';
import {
  brokerUrl,
  clientOptions,
  errorText,
  type FanInScenario,
  mustStop,
  type ShareContext,
  settled,
  trackConnected,
} from './common.js';
import {
  DeliveryTally,
  endClients,
  failedFanRow,
  fanRow,
  fanStream,
  publishingContext,
  waitForDeliveries,
} from './fan-shared.js';
import { publishStream, type StreamOutcome } from './publish.js';

/** One publisher of the share: connect and stream, or the reason it could not. */
async function runPublisher(
  scenario: FanInScenario,
  ctx: ShareContext,
  publisherId: string,
  topic: string,
  clients: Client[],
  index: number,
): Promise<StreamOutcome | string> {
  const { connection } = ctx.task;
  let publisher: Client;
  try {
    publisher = await connect(brokerUrl(ctx.task, index), clientOptions(connection, publisherId));
  } catch (error) {
    return errorText(error);
  }
  clients.push(publisher);
  trackConnected(ctx, publisher);
  return publishStream(fanStream(scenario, publisher, publisherId, topic), publishingContext(ctx));
}

/** Runs this process's subscriber and publishers; one row per publisher. */
export async function runFanInShare(scenario: FanInScenario, ctx: ShareContext): Promise<ClientResult[]> {
  const group = `${scenario.clientId}-${ctx.task.processIndex}`;
  const prefix = `internal/starling-fan-in/${group}`;
  const { connection } = ctx.task;
  const publisherIds = Array.from({ length: scenario.clientsPerProcess }, (_, i) => `${group}-pub-${i}`);
  const tallies = new Map(publisherIds.map((id) => [id, new DeliveryTally(ctx)]));
  const clients: Client[] = [];
  const expected = scenario.messagesPerClient;
  ctx.firstStartMs = Math.min(ctx.firstStartMs, nowMillis());
  try {
    try {
      const subscriber = await connect(brokerUrl(ctx.task, 0), clientOptions(connection, `${group}-sub`));
      clients.push(subscriber);
      subscriber.onMessage((message) => {
        const header = readPayloadHeader(message.payload);
        if (header !== undefined) tallies.get(header.publisher)?.take(header, ctx);
      });
      await subscriber.subscribe(`${prefix}/+`, { qos: scenario.subscriberQos, maxBuffered: 1 });
      trackConnected(ctx, subscriber);
    } catch (error) {
      const reason = `subscriber ${group}-sub: ${errorText(error)}`;
      return publisherIds.map((id) => settled(ctx, failedFanRow(id, expected, reason)));
    }
    if (mustStop(ctx, nowMillis())) {
      return publisherIds.map((id) => settled(ctx, failedFanRow(id, expected, 'stopped before publishing')));
    }
    const outcomes = await Promise.all(
      publisherIds.map((id, i) => runPublisher(scenario, ctx, id, `${prefix}/${i}`, clients, i)),
    );
    let lastEndMs = Number.NEGATIVE_INFINITY;
    for (const outcome of outcomes) {
      if (typeof outcome !== 'string') lastEndMs = Math.max(lastEndMs, outcome.endMs);
    }
    await waitForDeliveries(
      () =>
        outcomes.every(
          (outcome, i) =>
            typeof outcome === 'string' || tallies.get(publisherIds[i]!)!.received >= outcome.attempted,
        ),
      lastEndMs + scenario.timeoutMs,
      ctx,
    );
    return publisherIds.map((id, i) => {
      const outcome = outcomes[i]!;
      return settled(
        ctx,
        typeof outcome === 'string'
          ? failedFanRow(id, expected, outcome)
          : fanRow(id, tallies.get(id)!, outcome, ctx),
      );
    });
  } finally {
    await endClients(clients);
  }
}
