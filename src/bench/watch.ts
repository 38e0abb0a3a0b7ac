/**
 * `starling watch`: a live view of a broker's own figures from its `$SYS` topics. Brokers publish counters
 * (messages received, bytes sent, drops), not rates, and most publish a value only when it changed; this
 * module maps the topic names of Mosquitto (`$SYS/broker/...`, which Starling shares) and EMQX
 * (`$SYS/brokers/<node>/...`) onto one set of metrics and derives per-second rates from successive values.
 */
import { connect } from '../client/client.js';
import type { ClientOptions } from '../client/types.js';
import { formatFixed, formatThousands } from './report-text.js';

/** Which broker the `$SYS` topics came from. */
export const BrokerFlavour = {
  Mosquitto: 'mosquitto',
  Emqx: 'emqx',
  Starling: 'starling',
  Unknown: 'unknown',
} as const;
/** One of the {@link BrokerFlavour} values. */
export type BrokerFlavour = (typeof BrokerFlavour)[keyof typeof BrokerFlavour];

/** The broker figures the view knows, whatever the broker calls them. */
export const WatchMetric = {
  ClientsConnected: 'clientsConnected',
  ClientsTotal: 'clientsTotal',
  ClientsMaximum: 'clientsMaximum',
  Subscriptions: 'subscriptions',
  Retained: 'retained',
  Stored: 'stored',
  /** Every MQTT packet (Mosquitto's `messages/received`, EMQX's `packets/received`). */
  PacketsReceived: 'packetsReceived',
  PacketsSent: 'packetsSent',
  /** PUBLISH packets only. */
  MessagesReceived: 'messagesReceived',
  MessagesSent: 'messagesSent',
  MessagesDropped: 'messagesDropped',
  /** PUBLISH packets the broker refused (ACL, hooks, limits): Starling's `publish/messages/refused`. */
  MessagesRefused: 'messagesRefused',
  /** Connections refused before CONNACK 0 (credentials, limits, malformed): Starling's `clients/refused`. */
  ConnectionsRefused: 'connectionsRefused',
  /** Subscription filters refused (ACL, quota, invalid): Starling's `subscriptions/refused`. */
  SubscriptionsRefused: 'subscriptionsRefused',
  BytesReceived: 'bytesReceived',
  BytesSent: 'bytesSent',
} as const;
/** One of the {@link WatchMetric} values. */
export type WatchMetric = (typeof WatchMetric)[keyof typeof WatchMetric];

/** Metrics that only grow: rates are computed for these. */
export const COUNTER_METRICS: ReadonlySet<WatchMetric> = new Set<WatchMetric>([
  WatchMetric.PacketsReceived,
  WatchMetric.PacketsSent,
  WatchMetric.MessagesReceived,
  WatchMetric.MessagesSent,
  WatchMetric.MessagesDropped,
  WatchMetric.MessagesRefused,
  WatchMetric.ConnectionsRefused,
  WatchMetric.SubscriptionsRefused,
  WatchMetric.BytesReceived,
  WatchMetric.BytesSent,
]);

/** Mosquitto's names below `$SYS/broker/`; Starling publishes the same ones. */
const MOSQUITTO_TOPICS: Readonly<Record<string, WatchMetric>> = {
  'clients/connected': WatchMetric.ClientsConnected,
  // Mosquitto before 1.4 called connected clients "active".
  'clients/active': WatchMetric.ClientsConnected,
  'clients/total': WatchMetric.ClientsTotal,
  'clients/maximum': WatchMetric.ClientsMaximum,
  'subscriptions/count': WatchMetric.Subscriptions,
  'retained messages/count': WatchMetric.Retained,
  'messages/stored': WatchMetric.Stored,
  'messages/received': WatchMetric.PacketsReceived,
  'messages/sent': WatchMetric.PacketsSent,
  'publish/messages/received': WatchMetric.MessagesReceived,
  'publish/messages/sent': WatchMetric.MessagesSent,
  'publish/messages/dropped': WatchMetric.MessagesDropped,
  // Starling's own (Mosquitto has no such topic).
  'publish/messages/refused': WatchMetric.MessagesRefused,
  'clients/refused': WatchMetric.ConnectionsRefused,
  'subscriptions/refused': WatchMetric.SubscriptionsRefused,
  'bytes/received': WatchMetric.BytesReceived,
  'bytes/sent': WatchMetric.BytesSent,
};

/** EMQX's names below `$SYS/brokers/<node>/`, with EMQX 5's dots (`connections.count`) turned into slashes. */
const EMQX_TOPICS: Readonly<Record<string, WatchMetric>> = {
  'stats/connections/count': WatchMetric.ClientsConnected,
  'stats/connections/max': WatchMetric.ClientsMaximum,
  'stats/subscriptions/count': WatchMetric.Subscriptions,
  'stats/retained/count': WatchMetric.Retained,
  'metrics/messages/received': WatchMetric.MessagesReceived,
  'metrics/messages/sent': WatchMetric.MessagesSent,
  'metrics/messages/dropped': WatchMetric.MessagesDropped,
  'metrics/packets/received': WatchMetric.PacketsReceived,
  'metrics/packets/sent': WatchMetric.PacketsSent,
  'metrics/bytes/received': WatchMetric.BytesReceived,
  'metrics/bytes/sent': WatchMetric.BytesSent,
};

/** What a `$SYS` topic means. */
export type SysTopicMeaning =
  | {
      readonly kind: 'metric';
      readonly flavour: BrokerFlavour;
      readonly node: string;
      readonly metric: WatchMetric;
    }
  | { readonly kind: 'version'; readonly flavour: BrokerFlavour; readonly node: string }
  | { readonly kind: 'uptime'; readonly flavour: BrokerFlavour; readonly node: string };

/**
 * Classifies a `$SYS` topic; undefined for topics the view does not use (load averages, client events...).
 * Mosquitto-style topics report flavour `unknown` until the version topic tells Mosquitto from Starling.
 */
export function recogniseSysTopic(topic: string): SysTopicMeaning | undefined {
  if (topic.startsWith('$SYS/broker/')) {
    const name = topic.slice('$SYS/broker/'.length);
    const flavour = BrokerFlavour.Unknown;
    if (name === 'version' || name === 'uptime') return { kind: name, flavour, node: '' };
    const metric = MOSQUITTO_TOPICS[name];
    return metric === undefined ? undefined : { kind: 'metric', flavour, node: '', metric };
  }
  if (topic.startsWith('$SYS/brokers/')) {
    const rest = topic.slice('$SYS/brokers/'.length);
    const slash = rest.indexOf('/');
    if (slash <= 0) return undefined;
    const node = rest.slice(0, slash);
    // Node names hold dots (emqx@127.0.0.1), so only the part after the node is normalised.
    const name = rest.slice(slash + 1).replaceAll('.', '/');
    const flavour = BrokerFlavour.Emqx;
    if (name === 'version' || name === 'uptime') return { kind: name, flavour, node };
    const metric = EMQX_TOPICS[name];
    return metric === undefined ? undefined : { kind: 'metric', flavour, node, metric };
  }
  return undefined;
}

/** Everything the view shows, at one instant. */
export interface WatchModel {
  readonly flavour: BrokerFlavour;
  readonly version: string | undefined;
  readonly uptime: string | undefined;
  /** EMQX nodes seen (empty for single-node brokers). */
  readonly nodes: readonly string[];
  /** Current values (summed over nodes): gauges, and counters as totals. */
  readonly values: Readonly<Partial<Record<WatchMetric, number>>>;
  /** Per-second rates of the counters, once two live values are known. */
  readonly rates: Readonly<Partial<Record<WatchMetric, number>>>;
  /** `$SYS` messages received so far. */
  readonly sysMessages: number;
  /** When the last `$SYS` message arrived (ms, the clock given to `ingest`); undefined before any. */
  readonly lastUpdateMs: number | undefined;
  /** The instant the model describes. */
  readonly atMs: number;
}

interface Sample {
  readonly value: number;
  readonly atMs: number;
}

interface SeriesState {
  last: Sample;
  /** The live sample before `last`: rates need two values published at known times. */
  previous: Sample | undefined;
  /** False for a retained value delivered on subscribe: it was published at an unknown earlier time. */
  lastIsLive: boolean;
}

/** A rate older than this many publish periods is reported as 0: the counter stopped changing. */
const STALE_PERIODS = 3;
/** Floor of the staleness window, ms. */
const MIN_STALE_MS = 3000;

function parseNumber(text: string): number | undefined {
  const value = Number(text.trim());
  return text.trim() !== '' && Number.isFinite(value) ? value : undefined;
}

/** Accumulates `$SYS` messages and answers the current {@link WatchModel}. */
export class SysWatchState {
  #flavour: BrokerFlavour = BrokerFlavour.Unknown;
  #version: string | undefined;
  #uptime: string | undefined;
  readonly #nodes = new Set<string>();
  readonly #series = new Map<string, SeriesState>();
  #sysMessages = 0;
  #lastUpdateMs: number | undefined;

  /**
   * Takes one `$SYS` message. `retained` marks a value delivered on subscribe (its publish time is unknown,
   * so it is a value but not a rate reference).
   */
  ingest(topic: string, payload: string, retained: boolean, nowMs: number): void {
    const meaning = recogniseSysTopic(topic);
    if (meaning === undefined) return;
    this.#sysMessages++;
    this.#lastUpdateMs = nowMs;
    if (meaning.flavour === BrokerFlavour.Emqx) {
      this.#flavour = BrokerFlavour.Emqx;
      this.#nodes.add(meaning.node);
    }
    if (meaning.kind === 'version') {
      this.#version = payload;
      if (this.#flavour !== BrokerFlavour.Emqx) {
        const lower = payload.toLowerCase();
        if (lower.startsWith('starling')) this.#flavour = BrokerFlavour.Starling;
        else if (lower.startsWith('mosquitto')) this.#flavour = BrokerFlavour.Mosquitto;
      }
      return;
    }
    if (meaning.kind === 'uptime') {
      this.#uptime = payload;
      return;
    }
    const value = parseNumber(payload);
    if (value === undefined) return;
    const key = `${meaning.node}\u0000${meaning.metric}`;
    const sample = { value, atMs: nowMs };
    const state = this.#series.get(key);
    if (state === undefined) {
      this.#series.set(key, { last: sample, previous: undefined, lastIsLive: !retained });
    } else if (!retained) {
      state.previous = state.lastIsLive ? state.last : undefined;
      state.last = sample;
      state.lastIsLive = true;
    }
  }

  /** The view at `nowMs`. */
  model(nowMs: number): WatchModel {
    const values: Partial<Record<WatchMetric, number>> = {};
    const rates: Partial<Record<WatchMetric, number>> = {};
    for (const [key, state] of this.#series) {
      const metric = key.slice(key.indexOf('\u0000') + 1) as WatchMetric;
      values[metric] = (values[metric] ?? 0) + state.last.value;
      if (!COUNTER_METRICS.has(metric)) continue;
      const rate = seriesRate(state, nowMs);
      if (rate !== undefined) rates[metric] = (rates[metric] ?? 0) + rate;
    }
    return {
      flavour: this.#flavour,
      version: this.#version,
      uptime: this.#uptime,
      nodes: [...this.#nodes].sort(),
      values,
      rates,
      sysMessages: this.#sysMessages,
      lastUpdateMs: this.#lastUpdateMs,
      atMs: nowMs,
    };
  }
}

function seriesRate(state: SeriesState, nowMs: number): number | undefined {
  const { previous, last } = state;
  if (previous === undefined || !state.lastIsLive) return undefined;
  const spanMs = last.atMs - previous.atMs;
  const delta = last.value - previous.value;
  // A counter that went down was reset (broker restart): no honest rate until the next value.
  if (spanMs <= 0 || delta < 0) return undefined;
  // Brokers publish only changed values, so silence means the counter stopped: after a few periods, 0.
  if (nowMs - last.atMs > Math.max(MIN_STALE_MS, STALE_PERIODS * spanMs)) return 0;
  return (delta * 1000) / spanMs;
}

/** A running `$SYS` subscription. */
export interface BrokerWatch {
  readonly state: SysWatchState;
  /** The model now. */
  model(): WatchModel;
  /** Unsubscribes and disconnects. */
  close(): Promise<void>;
}

/**
 * Connects to `url` with the Starling client and subscribes to `$SYS/#` (named explicitly:
 * [MQTT-4.7.2-1] a filter starting with a wildcard never matches `$` topics). Rejects when the broker is
 * unreachable or refuses the connection or subscription.
 */
export async function watchBroker(url: string, options: ClientOptions = {}): Promise<BrokerWatch> {
  const client = await connect(url, { reconnect: false, connectTimeoutMs: 10_000, ...options });
  const state = new SysWatchState();
  client.onMessage((message) => {
    state.ingest(message.topic, message.payload.toString('utf8'), message.retain, Date.now());
  });
  try {
    await client.subscribe('$SYS/#', { qos: 0 });
  } catch (err) {
    await client.end().catch(() => undefined);
    throw err;
  }
  return {
    state,
    model: () => state.model(Date.now()),
    close: () => client.end({ timeoutMs: 2000 }),
  };
}

function count(value: number | undefined): string {
  return value === undefined ? '-' : formatThousands(value);
}

function rate(value: number | undefined): string {
  if (value === undefined) return '-';
  return `${value < 100 ? formatFixed(value, 1) : formatThousands(value)}/s`;
}

function bytesRate(value: number | undefined): string {
  if (value === undefined) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let scaled = value;
  let unit = 0;
  while (scaled >= 1024 && unit < units.length - 1) {
    scaled /= 1024;
    unit++;
  }
  return `${formatFixed(scaled, 1)} ${units[unit]}/s`;
}

/** Application messages when the broker counts them, every packet otherwise. */
function messageFigure(
  figures: Partial<Record<WatchMetric, number>>,
  direction: 'Received' | 'Sent',
): number | undefined {
  return figures[WatchMetric[`Messages${direction}`]] ?? figures[WatchMetric[`Packets${direction}`]];
}

/** Options of the renderers. */
export interface WatchRenderOptions {
  /** Shown in the title line. */
  readonly url?: string;
}

/** A multi-line screen for a terminal that is redrawn in place. */
export function renderWatchScreen(model: WatchModel, options: WatchRenderOptions = {}): string {
  const { values, rates } = model;
  const age =
    model.lastUpdateMs === undefined
      ? 'waiting for $SYS messages'
      : `last $SYS update ${formatFixed((model.atMs - model.lastUpdateMs) / 1000, 1)} s ago`;
  const nodes = model.nodes.length > 0 ? `  nodes: ${model.nodes.join(', ')}` : '';
  const lines = [
    `starling watch${options.url ? `  ${options.url}` : ''}  [${model.flavour}]${model.version ? ` ${model.version}` : ''}`,
    `uptime ${model.uptime ?? '-'}${nodes}`,
    '',
    `clients        connected ${count(values.clientsConnected)}   total ${count(values.clientsTotal)}   maximum ${count(values.clientsMaximum)}   subscriptions ${count(values.subscriptions)}`,
    `messages in    ${rate(messageFigure(rates, 'Received'))}   (total ${count(messageFigure(values, 'Received'))})`,
    `messages out   ${rate(messageFigure(rates, 'Sent'))}   (total ${count(messageFigure(values, 'Sent'))})`,
    `dropped        ${rate(rates.messagesDropped)}   (total ${count(values.messagesDropped)})${
      values.messagesRefused === undefined
        ? ''
        : `   refused ${rate(rates.messagesRefused)}   (total ${count(values.messagesRefused)})`
    }`,
    ...refusedLine(model),
    `bytes          in ${bytesRate(rates.bytesReceived)}   out ${bytesRate(rates.bytesSent)}`,
    `stored         ${count(values.stored)}   retained ${count(values.retained)}`,
    '',
    `${age}; ${model.sysMessages} $SYS messages`,
  ];
  return `${lines.join('\n')}\n`;
}

/** Refused connections and subscription filters, when the broker counts them (Starling does): one line or none. */
function refusedLine(model: WatchModel): string[] {
  const { values, rates } = model;
  if (values.connectionsRefused === undefined && values.subscriptionsRefused === undefined) return [];
  return [
    `refused        connections ${rate(rates.connectionsRefused)}   (total ${count(values.connectionsRefused)})` +
      `   subscriptions ${rate(rates.subscriptionsRefused)}   (total ${count(values.subscriptionsRefused)})`,
  ];
}

/** One line per interval, for logs and pipes. */
export function renderWatchLine(model: WatchModel): string {
  const { values, rates } = model;
  const stamp = new Date(model.atMs).toISOString();
  return (
    `${stamp} clients=${count(values.clientsConnected)} in=${rate(messageFigure(rates, 'Received'))}` +
    ` out=${rate(messageFigure(rates, 'Sent'))} dropped=${rate(rates.messagesDropped)}` +
    ` dropped_total=${count(values.messagesDropped)}` +
    (values.messagesRefused === undefined
      ? ''
      : ` refused=${rate(rates.messagesRefused)} refused_total=${count(values.messagesRefused)}`) +
    (values.connectionsRefused === undefined
      ? ''
      : ` connections_refused=${rate(rates.connectionsRefused)} connections_refused_total=${count(values.connectionsRefused)}`) +
    (values.subscriptionsRefused === undefined
      ? ''
      : ` subscriptions_refused=${rate(rates.subscriptionsRefused)} subscriptions_refused_total=${count(values.subscriptionsRefused)}`) +
    '\n'
  );
}
