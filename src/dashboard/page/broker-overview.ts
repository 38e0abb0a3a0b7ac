import type { StatsHistory, StatsPoint, StatsSeriesName } from '../wire-types.js';
import { type ChartSpec, color, LineChart } from './charts.js';
import { bytes, compact, h } from './dom.js';

/** Points kept on the page: the server's 15 minutes. */
export const KEEP_POINTS = 900;

/** The samples the page holds, as columns; fed by the live stream, read by the overview. */
export class SeriesStore {
  t: number[] = [];
  series = new Map<StatsSeriesName, number[]>();
  latest: StatsPoint | undefined;

  load(history: StatsHistory): void {
    this.t = history.t.slice();
    this.series = new Map(Object.entries(history.series).map(([k, v]) => [k as StatsSeriesName, v.slice()]));
    const last = this.t.length - 1;
    if (last < 0) return;
    const values = Object.fromEntries(
      [...this.series].map(([name, column]) => [name, column[last] ?? 0]),
    ) as Record<StatsSeriesName, number>;
    this.latest = { t: this.t[last] ?? 0, connectionsTotal: this.latest?.connectionsTotal ?? 0, values };
  }

  add(point: StatsPoint): void {
    this.latest = point;
    this.t.push(point.t);
    for (const [name, value] of Object.entries(point.values)) {
      const column = this.series.get(name as StatsSeriesName) ?? [];
      column.push(value);
      this.series.set(name as StatsSeriesName, column);
    }
    if (this.t.length > KEEP_POINTS) {
      this.t.shift();
      for (const column of this.series.values()) column.shift();
    }
  }

  column(name: StatsSeriesName): number[] {
    return this.series.get(name) ?? [];
  }
}

interface ChartDef extends Omit<ChartSpec, 'lines' | 'x'> {
  readonly lines: readonly (readonly [string, StatsSeriesName])[];
}

const rate = (v: number): string => `${compact(v)}/s`;

const CHARTS: readonly ChartDef[] = [
  {
    key: 'connections',
    title: 'Connections',
    format: compact,
    lines: [
      ['clients', 'clients'],
      ['open', 'connections'],
    ],
  },
  {
    key: 'messages-in',
    title: 'Messages in, by QoS',
    format: rate,
    lines: [
      ['QoS 0', 'msgsInQos0'],
      ['QoS 1', 'msgsInQos1'],
      ['QoS 2', 'msgsInQos2'],
    ],
  },
  {
    key: 'messages-out',
    title: 'Messages out, by QoS',
    format: rate,
    lines: [
      ['QoS 0', 'msgsOutQos0'],
      ['QoS 1', 'msgsOutQos1'],
      ['QoS 2', 'msgsOutQos2'],
    ],
  },
  {
    key: 'bytes',
    title: 'Bytes',
    binary: true,
    format: (v) => `${bytes(v)}/s`,
    lines: [
      ['in', 'bytesIn'],
      ['out', 'bytesOut'],
    ],
  },
  {
    key: 'dropped',
    title: 'Dropped and refused messages',
    format: rate,
    lines: [
      ['dropped', 'dropped'],
      ['refused', 'refused'],
    ],
  },
  {
    key: 'lag',
    title: 'Event-loop lag',
    format: (v) => `${compact(v)} ms`,
    lines: [
      ['p99', 'lagP99Ms'],
      ['max', 'lagMaxMs'],
    ],
  },
  {
    key: 'memory',
    title: 'Memory',
    binary: true,
    format: bytes,
    lines: [
      ['rss', 'rssBytes'],
      ['heap used', 'heapUsedBytes'],
    ],
  },
];

const TILES: readonly (readonly [string, (p: StatsPoint) => string])[] = [
  ['Clients', (p) => compact(p.values.clients)],
  ['Sessions', (p) => compact(p.values.sessions)],
  ['Subscriptions', (p) => compact(p.values.subscriptions)],
  ['Retained', (p) => compact(p.values.retained)],
  ['Inflight', (p) => compact(p.values.inflight)],
  ['Queued', (p) => compact(p.values.queued)],
  ['Messages in', (p) => rate(p.values.msgsInQos0 + p.values.msgsInQos1 + p.values.msgsInQos2)],
  ['Messages out', (p) => rate(p.values.msgsOutQos0 + p.values.msgsOutQos1 + p.values.msgsOutQos2)],
];

/** Counts as tiles, then one chart per curve group, all moving once a second. */
export class OverviewView {
  readonly el: HTMLElement;
  private readonly charts: [ChartDef, LineChart][];
  private readonly tiles: HTMLElement[];

  constructor(private readonly store: SeriesStore) {
    this.tiles = TILES.map(([label]) =>
      h('span', { class: 'tile-value', 'data-tile': label.toLowerCase() }, '—'),
    );
    const tileRow = h(
      'div',
      { class: 'tiles' },
      ...TILES.map(([label], i) =>
        h('div', { class: 'card tile' }, h('span', { class: 'tile-label' }, label), this.tiles[i]),
      ),
    );
    this.charts = CHARTS.map((def) => [
      def,
      new LineChart({
        ...def,
        x: 'time',
        lines: def.lines.map(([label], i) => ({ label, color: color(i) })),
      }),
    ]);
    this.el = h(
      'div',
      { class: 'overview' },
      tileRow,
      h('div', { class: 'charts' }, ...this.charts.map(([, c]) => c.el)),
    );
    this.redrawAll();
  }

  onSample(point: StatsPoint): void {
    for (const [def, chart] of this.charts) {
      chart.append(
        point.t / 1000,
        def.lines.map(([, name]) => point.values[name]),
        KEEP_POINTS,
      );
    }
    this.updateTiles(point);
  }

  /** Draw everything the store holds (on mount and after a reconnect). */
  redrawAll(): void {
    const x = this.store.t.map((t) => t / 1000);
    for (const [def, chart] of this.charts)
      chart.setData(
        x,
        def.lines.map(([, name]) => this.store.column(name)),
      );
    if (this.store.latest !== undefined) this.updateTiles(this.store.latest);
  }

  private updateTiles(point: StatsPoint): void {
    TILES.forEach(([, value], i) => {
      const tile = this.tiles[i];
      if (tile !== undefined) tile.textContent = value(point);
    });
  }
}
