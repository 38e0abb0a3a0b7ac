/**
 * Fan-out: in each process one publisher sends its messages to one topic that `clientsPerProcess`
 * subscribers hold, so every message is delivered once per subscriber. This is the broker's copy-and-send
 * path, which the one-topic-per-worker stress scenario never exercises.
 *
 * Each subscriber is a row. Its publish phase is the shared publisher's stream (the same figures in every
 * row, so the publish spread shows the one publisher's rate), and its receive phase runs from the end of
 * publishing to its own last arrival, as mqtt-stresser times receiving. Latency is end to end.
 */
import { type Client, connect } from '../../client/index.js';
import type { ClientResult } from '../bench-result.js';
import { nowMillis, readPayloadHeader } from '../payload.js';
import {
  brokerUrl,
  clientOptions,
  errorText,
  type FanOutScenario,
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
import { publishStream } from './publish.js';

/** Runs this process's publisher and subscribers; one row per subscriber. */
export async function runFanOutShare(scenario: FanOutScenario, ctx: ShareContext): Promise<ClientResult[]> {
  const group = `${scenario.clientId}-${ctx.task.processIndex}`;
  const topic = `internal/starling-fan-out/${group}`;
  const publisherId = `${group}-pub`;
  const { connection } = ctx.task;
  const subscriberIds = Array.from({ length: scenario.clientsPerProcess }, (_, i) => `${group}-sub-${i}`);
  const tallies = subscriberIds.map(() => new DeliveryTally(ctx));
  const setupErrors: (string | undefined)[] = subscriberIds.map(() => undefined);
  const clients: Client[] = [];
  const expected = scenario.messagesPerClient;
  ctx.firstStartMs = Math.min(ctx.firstStartMs, nowMillis());
  try {
    await Promise.all(
      subscriberIds.map(async (id, i) => {
        try {
          const subscriber = await connect(brokerUrl(ctx.task, i), clientOptions(connection, id));
          clients.push(subscriber);
          const tally = tallies[i]!;
          subscriber.onMessage((message) => {
            const header = readPayloadHeader(message.payload);
            if (header?.publisher === publisherId) tally.take(header, ctx);
          });
          await subscriber.subscribe(topic, { qos: scenario.subscriberQos, maxBuffered: 1 });
          trackConnected(ctx, subscriber);
        } catch (error) {
          setupErrors[i] = errorText(error);
        }
      }),
    );
    const live = tallies.filter((_, i) => setupErrors[i] === undefined);
    if (live.length === 0 || mustStop(ctx, nowMillis())) {
      return subscriberIds.map((id, i) =>
        settled(ctx, failedFanRow(id, expected, setupErrors[i] ?? 'stopped before publishing')),
      );
    }
    let publisher: Client;
    try {
      publisher = await connect(brokerUrl(ctx.task, 0), clientOptions(connection, publisherId));
    } catch (error) {
      const reason = `publisher ${publisherId}: ${errorText(error)}`;
      return subscriberIds.map((id, i) => settled(ctx, failedFanRow(id, expected, setupErrors[i] ?? reason)));
    }
    clients.push(publisher);
    trackConnected(ctx, publisher);
    const published = await publishStream(
      fanStream(scenario, publisher, publisherId, topic),
      publishingContext(ctx),
    );
    await waitForDeliveries(
      () => live.every((tally) => tally.received >= published.attempted),
      published.endMs + scenario.timeoutMs,
      ctx,
    );
    return subscriberIds.map((id, i) => {
      const setupError = setupErrors[i];
      return settled(
        ctx,
        setupError === undefined
          ? fanRow(id, tallies[i]!, published, ctx)
          : failedFanRow(id, expected, setupError),
      );
    });
  } finally {
    await endClients(clients);
  }
}
