import uPlot from 'uplot';
import { h } from './dom.js';

export interface LineSpec {
  readonly label: string;
  readonly color: string;
}

export interface ChartSpec {
  /** Used in the element id (`chart-<key>`) and by tests. */
  readonly key: string;
  readonly title: string;
  readonly lines: readonly LineSpec[];
  /** Formats a y value for the axis and the legend. */
  readonly format: (value: number) => string;
  /** `time`: x values are epoch seconds; `elapsed`: seconds since a run started. */
  readonly x: 'time' | 'elapsed';
  /** Byte values: y ticks at powers of two (64 KiB, 128 MiB), not at 97.7 KiB. */
  readonly binary?: boolean;
}

/** Tick steps for byte axes: 1, 2, 4, ... bytes up to 2^50. */
const BINARY_STEPS = Array.from({ length: 51 }, (_, i) => 2 ** i);

/**
 * A line chart (uPlot on a canvas) that sizes itself to its card. The newest values are mirrored into
 * `data-points` and `data-last` on the card, so a test (or a curious user) can read what is drawn.
 */
export class LineChart {
  readonly el: HTMLElement;
  private readonly body: HTMLElement;
  private plot: uPlot | undefined;
  private data: uPlot.AlignedData;

  constructor(private readonly spec: ChartSpec) {
    this.body = h('div', { class: 'chart-body' });
    this.el = h(
      'section',
      { class: 'card chart', id: `chart-${spec.key}` },
      h('h3', {}, spec.title),
      this.body,
    );
    this.data = [[], ...spec.lines.map(() => [])];
    new ResizeObserver(() => this.resize()).observe(this.body);
  }

  /** Replace every point: `x` then one column per line, all the same length. */
  setData(x: readonly number[], columns: readonly (readonly (number | null)[])[]): void {
    this.data = [x.slice(), ...columns.map((c) => c.slice())] as uPlot.AlignedData;
    this.redraw();
  }

  /** Add one point, dropping the oldest beyond `keep`. */
  append(x: number, values: readonly (number | null)[], keep: number): void {
    const columns = this.data as unknown as (number | null)[][];
    columns[0]?.push(x);
    values.forEach((value, i) => {
      columns[i + 1]?.push(value);
    });
    if ((columns[0]?.length ?? 0) > keep) for (const column of columns) column.shift();
    this.redraw();
  }

  private redraw(): void {
    const x = this.data[0];
    this.el.dataset.points = String(x.length);
    this.el.dataset.last = JSON.stringify(
      this.data.slice(1).map((column) => column[column.length - 1] ?? null),
    );
    if (this.plot === undefined) this.create();
    else this.plot.setData(this.data);
    this.showLatest();
  }

  /** While the pointer is not over the chart, the legend shows the newest values. */
  private showLatest(): void {
    const plot = this.plot;
    const last = this.data[0].length - 1;
    if (plot === undefined || last < 0 || (plot.cursor.left ?? -1) >= 0) return;
    plot.setLegend({ idx: last });
  }

  private create(): void {
    const width = this.body.clientWidth;
    if (width === 0) return;
    const format = this.spec.format;
    const elapsed = this.spec.x === 'elapsed';
    const options: uPlot.Options = {
      width,
      height: 170,
      scales: {
        x: { time: !elapsed },
        y: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] },
      },
      axes: [
        {
          stroke: '#6b7280',
          grid: { stroke: '#eef0f3' },
          ...(elapsed ? { values: (_u: uPlot, ticks: number[]) => ticks.map((t) => `${t}s`) } : {}),
        },
        {
          stroke: '#6b7280',
          grid: { stroke: '#eef0f3' },
          size: 84,
          ...(this.spec.binary === true ? { incrs: BINARY_STEPS } : {}),
          values: (_u: uPlot, ticks: number[]) => ticks.map(format),
        },
      ],
      series: [
        elapsed ? { label: 'elapsed', value: (_u, v) => (v === null ? '—' : `${v.toFixed(0)} s`) } : {},
        ...this.spec.lines.map((line) => ({
          label: line.label,
          stroke: line.color,
          width: 1.5,
          points: { show: false },
          value: (_u: uPlot, v: number | null) => (v === null ? '—' : format(v)),
        })),
      ],
      legend: { live: true },
      hooks: { ready: [() => this.showLatest()] },
      cursor: { drag: { x: false, y: false } },
    };
    this.plot = new uPlot(options, this.data, this.body);
  }

  private resize(): void {
    const width = this.body.clientWidth;
    if (width === 0) return;
    if (this.plot === undefined) {
      if (this.data[0].length > 0) this.create();
      return;
    }
    if (Math.abs(this.plot.width - width) > 1) this.plot.setSize({ width, height: 170 });
  }
}

/** Colours of the curves, in order. */
export const PALETTE = ['#2563eb', '#16a34a', '#f59e0b', '#dc2626', '#7c3aed', '#0891b2'] as const;

export function color(i: number): string {
  return PALETTE[i % PALETTE.length] ?? '#2563eb';
}
