/**
 * One self-contained HTML page per bench run: inline CSS, inline SVG charts rendered here, no script, no
 * font or image fetched, so it can be archived with the run and opened anywhere. Charts carry stable ids
 * (`latency-histogram`, `percentile-curve`, `throughput-timeseries`) for tests and for headless checks.
 */
import { type BenchResult, BenchScenario, type ClientResult, type LatencySummary } from './bench-result.js';
import { AGENT_COLUMNS, agentCells, crossAgentLines } from './report-agents.js';
import { formatFixed, formatThousands } from './report-text.js';
import type { SummaryFigures } from './stats.js';
import { type AxisTick, escapeXml, renderBarChart, renderLineChart } from './svg-charts.js';

/** Per-client rows beyond this are summarised: a 10 000-client table helps nobody and weighs megabytes. */
const MAX_CLIENT_ROWS = 500;

/** Largest number of nines on the percentile axis: 4 = 99.99 %. */
const PERCENTILE_NINES = 4;

const STYLE = `
:root { color-scheme: light; --fg: #1d2330; --muted: #5b6475; --line: #d7dbe3; --accent: #2f6fdf; --accent2: #d9822b; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); margin: 0 auto; padding: 24px; max-width: 1100px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
p.meta, .note { color: var(--muted); }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f3f5f9; }
.warn { color: #a4471b; }
svg.chart { display: block; max-width: 100%; height: auto; margin: 8px 0; font-size: 11px; }
svg .grid { stroke: #eceef3; }
svg .axis { stroke: var(--muted); }
svg .tick, svg .axis-title, svg .legend text { fill: var(--muted); }
svg .bar { fill: var(--accent); }
svg .bar:hover { fill: #1b4fa8; }
svg .series { stroke: var(--accent); stroke-width: 2; fill: none; }
svg .series.received { stroke: var(--accent2); }
`;

/** The words a report uses for what a run counts: messages, or connections for `bench keepalive`. */
interface RunVocabulary {
  /** Plural noun of a counted item. */
  readonly items: string;
  /** Capitalised, for headings and table labels. */
  readonly Items: string;
  /** What the latency measures. */
  readonly latency: string;
  readonly Latency: string;
  /** Rate unit. */
  readonly rate: string;
  /** Heading of the time series section. */
  readonly overTime: string;
  /** Names of the two throughput lines (sent, received). */
  readonly sent: string;
  readonly received: string;
}

const MESSAGE_RUN: RunVocabulary = {
  items: 'messages',
  Items: 'Messages',
  latency: 'latency',
  Latency: 'Latency',
  rate: 'msg/s',
  overTime: 'Throughput over time',
  sent: 'sent',
  received: 'received',
};

/** A keepalive run's BenchResult counts connections: latency is socket open to CONNACK. */
const CONNECTION_RUN: RunVocabulary = {
  items: 'connections',
  Items: 'Connections',
  latency: 'connect latency',
  Latency: 'Connect latency',
  rate: 'conn/s',
  overTime: 'Connections over time',
  sent: 'attempted',
  received: 'connected',
};

function vocabularyOf(result: BenchResult): RunVocabulary {
  return result.scenario === BenchScenario.Keepalive ? CONNECTION_RUN : MESSAGE_RUN;
}

function ms(value: number): string {
  return formatFixed(value, value < 10 ? 3 : 2);
}

function table(header: readonly string[], rows: readonly (readonly string[])[], className = ''): string {
  const head = header.map((cell) => `<th>${escapeXml(cell)}</th>`).join('');
  const body = rows
    .map((row) => `<tr>${row.map((cell) => `<td>${escapeXml(cell)}</td>`).join('')}</tr>`)
    .join('');
  return `<table${className ? ` class="${className}"` : ''}><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

function configSection(result: BenchResult): string {
  const { config } = result;
  const rows: [string, string][] = [
    ['Scenario', result.scenario],
    ['Started', result.startedAt],
    ['Broker', config.brokerLabel ? `${config.brokerLabel} (${config.brokerUrl})` : config.brokerUrl],
    ['Clients', String(config.clients)],
  ];
  if (config.messagesPerClient !== undefined)
    rows.push(['Messages per client', String(config.messagesPerClient)]);
  if (config.payloadBytes !== undefined) rows.push(['Payload bytes', String(config.payloadBytes)]);
  if (config.qos !== undefined) rows.push(['QoS', String(config.qos)]);
  if (config.protocolVersion !== undefined) rows.push(['Protocol version', String(config.protocolVersion)]);
  if (config.durationMs !== undefined) rows.push(['Duration', `${formatFixed(config.durationMs / 1000)} s`]);
  for (const [key, value] of Object.entries(config.options ?? {})) rows.push([key, String(value)]);
  return `<h2>Configuration</h2>${table(['Setting', 'Value'], rows)}`;
}

function figureRow(label: string, figures: SummaryFigures): string[] {
  return [label, ms(figures.mean), ms(figures.stddev), ms(figures.min), ms(figures.max)];
}

function aggregateSection(result: BenchResult, words: RunVocabulary): string {
  const { aggregate, generator } = result;
  const rate =
    aggregate.messagesTotal > 0 ? (100 * aggregate.messagesOk) / aggregate.messagesTotal : Number.NaN;
  const facts: [string, string][] = [
    [
      `${words.Items} completed`,
      `${aggregate.messagesOk} / ${aggregate.messagesTotal} (${formatFixed(rate)} %)`,
    ],
    ['Wall clock', `${formatFixed(aggregate.wallClockMs / 1000)} s`],
    [
      'Throughput (completed / wall clock)',
      `${formatThousands(aggregate.throughputMsgsPerSec)} ${words.rate}`,
    ],
  ];
  if (generator) {
    facts.push([
      'Generator CPU',
      `${formatFixed(generator.cpuPercentOfOneCore, 1)} % of one core over ${generator.processes} process(es)`,
    ]);
  }
  const timing = table(
    [`${words.Latency} (ms)`, 'mean', 'stddev', 'min', 'max'],
    [
      figureRow('Pooled (correct)', aggregate.timingMs),
      figureRow('Simple avg of clients (mqtt-malaria)', aggregate.simpleAverageMs),
    ],
  );
  let stresser = '';
  if (aggregate.stresser) {
    const { publish, receive } = aggregate.stresser;
    stresser =
      table(
        ['mqtt-stresser rates (msg/s)', 'fastest', 'median', 'slowest'],
        [
          [
            'Publish',
            formatThousands(publish.fastest),
            formatThousands(publish.median),
            formatThousands(publish.slowest),
          ],
          [
            'Receive',
            formatThousands(receive.fastest),
            formatThousands(receive.median),
            formatThousands(receive.slowest),
          ],
        ],
      ) +
      '<p class="note">Per-client rates as mqtt-stresser computes them; the receive clock starts after publishing ends, so these are not broker throughput.</p>';
  }
  return `<h2>Aggregate</h2>${table(['Figure', 'Value'], facts)}${timing}<p class="note">The simple average weighs every client equally whatever its ${words.items.slice(0, -1)} count, and its min/max are averages of extremes; the pooled row is the distribution of all ${words.items}.</p>${stresser}`;
}

/** x position of a percentile on the "nines" axis: 0 % -> 0, 90 % -> 1, 99 % -> 2, 99.9 % -> 3. */
function nines(percentile: number): number {
  return -Math.log10(1 - Math.min(percentile, 99.999999) / 100);
}

function latencySection(latency: LatencySummary, words: RunVocabulary): string {
  const percentiles = table(
    ['Percentile', 'p50', 'p90', 'p99', 'p99.9', 'max'],
    [
      [
        `${words.Latency} (ms)`,
        ms(latency.p50Ms),
        ms(latency.p90Ms),
        ms(latency.p99Ms),
        ms(latency.p999Ms),
        ms(latency.maxMs),
      ],
    ],
  );
  const edgeLabels = latency.buckets.length
    ? [latency.buckets[0]!.lowMs, ...latency.buckets.map((bucket) => bucket.highMs)].map((edge) => ms(edge))
    : [];
  const histogram = renderBarChart({
    id: 'latency-histogram',
    title: `${words.Latency} histogram (${latency.bucketScale} buckets)`,
    xTitle: `${words.latency} (ms)`,
    yTitle: words.items,
    bars: latency.buckets.map((bucket) => ({
      label: `${ms(bucket.lowMs)}-${ms(bucket.highMs)} ms`,
      value: bucket.count,
    })),
    edgeLabels,
  });
  const xTicks: AxisTick[] = [{ value: 0, label: '0%' }];
  for (let nine = 1; nine <= PERCENTILE_NINES; nine++) {
    xTicks.push({ value: nine, label: `${(100 - 100 / 10 ** nine).toFixed(Math.max(0, nine - 2))}%` });
  }
  const curve = renderLineChart({
    id: 'percentile-curve',
    title: `${words.Latency} by percentile`,
    xTitle: 'percentile (log scale of nines)',
    yTitle: `${words.latency} (ms)`,
    series: [
      {
        name: words.latency,
        className: 'latency',
        points: latency.curve
          .filter((point) => nines(point.percentile) <= PERCENTILE_NINES + 1e-9)
          .map((point) => ({ x: nines(point.percentile), y: point.valueMs })),
      },
    ],
    xMin: 0,
    xMax: PERCENTILE_NINES,
    xTicks,
  });
  return `<h2>${words.Latency}</h2>${percentiles}${histogram}${curve}`;
}

function throughputSection(result: BenchResult, words: RunVocabulary): string {
  const series = result.timeseries;
  const heading = `<h2>${words.overTime}</h2>`;
  if (!series || series.sent.length === 0) return `${heading}<p class="note">No time series recorded.</p>`;
  const perSec = 1000 / series.intervalMs;
  const seconds = (i: number): number => (i * series.intervalMs) / 1000;
  const last = seconds(Math.max(series.sent.length - 1, 1));
  const step = Math.max(1, Math.ceil(series.sent.length / 8));
  const xTicks: AxisTick[] = [];
  for (let i = 0; i < series.sent.length; i += step)
    xTicks.push({ value: seconds(i), label: `${formatFixed(seconds(i), 0)} s` });
  const chart = renderLineChart({
    id: 'throughput-timeseries',
    title: `Throughput per ${series.intervalMs} ms interval`,
    xTitle: 'time since start (s)',
    yTitle: words.rate,
    series: [
      {
        name: words.sent,
        className: 'sent',
        points: series.sent.map((count, i) => ({ x: seconds(i), y: count * perSec })),
      },
      {
        name: words.received,
        className: 'received',
        points: series.received.map((count, i) => ({ x: seconds(i), y: count * perSec })),
      },
    ],
    xMin: 0,
    xMax: last,
    xTicks,
  });
  return `${heading}${chart}`;
}

function clientRow(client: ClientResult): string[] {
  const rate = client.messagesTotal > 0 ? (100 * client.messagesOk) / client.messagesTotal : Number.NaN;
  return [
    client.clientId,
    `${client.messagesOk}/${client.messagesTotal}`,
    formatFixed(rate),
    ms(client.timingMs.mean),
    ms(client.timingMs.stddev),
    ms(client.timingMs.min),
    ms(client.timingMs.max),
    client.failed ? `failed${client.error ? `: ${client.error}` : ''}` : '',
  ];
}

function clientsSection(result: BenchResult): string {
  const shown = result.clients.slice(0, MAX_CLIENT_ROWS);
  const more = result.clients.length - shown.length;
  return (
    `<h2>Clients</h2>` +
    table(
      ['Client', 'ok/total', 'success %', 'mean ms', 'stddev ms', 'min ms', 'max ms', 'status'],
      shown.map(clientRow),
      'clients',
    ) +
    (more > 0 ? `<p class="note">${more} more clients not shown; see the CSV or JSON output.</p>` : '')
  );
}

function agentsSection(result: BenchResult): string {
  const agents = result.agents;
  if (agents === undefined || agents.length === 0) return '';
  const cross =
    result.crossAgentLatency === undefined
      ? ''
      : crossAgentLines(result.crossAgentLatency)
          .map((line) => `<p class="note${line.startsWith('Warning') ? ' warn' : ''}">${escapeXml(line)}</p>`)
          .join('');
  const lost = agents
    .filter((agent) => agent.state === 'lost')
    .map(
      (agent) =>
        `<p class="note warn">Agent ${escapeXml(agent.name)} was lost: ${escapeXml(agent.lostReason ?? '')}</p>`,
    )
    .join('');
  return `<h2>Agents</h2>${table([...AGENT_COLUMNS], agents.map(agentCells), 'agents')}${lost}${cross}`;
}

/** The complete HTML page of a run. */
export function renderHtmlReport(result: BenchResult): string {
  const title = `Starling bench: ${result.scenario} against ${result.config.brokerLabel ?? result.config.brokerUrl}`;
  const words = vocabularyOf(result);
  const body = [
    `<h1>${escapeXml(title)}</h1>`,
    `<p class="meta">${escapeXml(result.startedAt)} &middot; ${result.config.clients} clients</p>`,
    configSection(result),
    aggregateSection(result, words),
    result.latency
      ? latencySection(result.latency, words)
      : `<h2>${words.Latency}</h2><p class="note warn">No ${words.items.slice(0, -1)} completed.</p>`,
    throughputSection(result, words),
    agentsSection(result),
    clientsSection(result),
  ].join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeXml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
${body}
</body>
</html>
`;
}
