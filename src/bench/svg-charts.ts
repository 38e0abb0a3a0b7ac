/**
 * Server-side SVG charts for the HTML report: plain strings, no script, no external reference, so the
 * page renders the same offline, in a mail attachment or in headless Chromium. Styling is left to CSS
 * classes (`bar`, `series`, `axis`, `grid`) set by the page.
 */

/** Escapes text for HTML/SVG element content and attribute values. */
export function escapeXml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/** Coordinates with two decimals: sub-pixel enough, and keeps the page small. */
function coord(value: number): string {
  return String(Math.round(value * 100) / 100);
}

/** A labelled position on an axis, in data units. */
export interface AxisTick {
  readonly value: number;
  readonly label: string;
}

/** Plot area inside the SVG, leaving room for tick labels and axis titles. */
interface Frame {
  readonly width: number;
  readonly height: number;
  readonly left: number;
  readonly right: number;
  readonly top: number;
  readonly bottom: number;
}

const DEFAULT_WIDTH = 720;
const DEFAULT_HEIGHT = 300;

/** Height of the strip above the plot that holds a line chart's legend. */
const LEGEND_STRIP = 22;

/**
 * The plot area. The right margin is wide enough for half of the widest x label (e.g. `99.99%`), which is
 * centred on the right edge of the plot; a legend gets its own strip above the plot so it never covers a line.
 */
function frameOf(width: number, height: number, legend = false): Frame {
  const top = legend ? 16 + LEGEND_STRIP : 16;
  return { width, height, left: 64, right: width - 36, top, bottom: height - 44 };
}

/** Rough width of a legend label at the charts' 11px font, so entries can be laid side by side. */
function legendTextWidth(text: string): number {
  return text.length * 7;
}

/** Round tick values (1, 2, 5 x 10^k steps) from 0 to at least `max`, about `target` of them. */
export function niceTicks(max: number, target = 5): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  const rough = max / target;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= rough) ?? 10 * magnitude;
  const ticks: number[] = [];
  for (let i = 0; i <= target * 3 && (ticks.length === 0 || ticks[ticks.length - 1]! < max); i++) {
    ticks.push(Number((i * step).toPrecision(12)));
  }
  return ticks;
}

/** Compact tick label: 1 200 000 -> 1.2M, 0.25 -> 0.25. */
export function tickLabel(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${Number((value / 1e6).toPrecision(3))}M`;
  if (abs >= 1e4) return `${Number((value / 1e3).toPrecision(3))}k`;
  return String(Number(value.toPrecision(3)));
}

function axes(
  frame: Frame,
  xTicks: readonly AxisTick[],
  xPos: (v: number) => number,
  yTicks: readonly number[],
  yPos: (v: number) => number,
  xTitle: string,
  yTitle: string,
): string {
  const parts: string[] = [];
  for (const tick of yTicks) {
    const y = coord(yPos(tick));
    parts.push(`<line class="grid" x1="${frame.left}" y1="${y}" x2="${frame.right}" y2="${y}"/>`);
    parts.push(
      `<text class="tick y" x="${frame.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${escapeXml(tickLabel(tick))}</text>`,
    );
  }
  for (const tick of xTicks) {
    const x = coord(xPos(tick.value));
    parts.push(`<line class="grid" x1="${x}" y1="${frame.top}" x2="${x}" y2="${frame.bottom}"/>`);
    parts.push(
      `<text class="tick x" x="${x}" y="${frame.bottom + 16}" text-anchor="middle">${escapeXml(tick.label)}</text>`,
    );
  }
  parts.push(
    `<line class="axis" x1="${frame.left}" y1="${frame.bottom}" x2="${frame.right}" y2="${frame.bottom}"/>`,
  );
  parts.push(
    `<line class="axis" x1="${frame.left}" y1="${frame.top}" x2="${frame.left}" y2="${frame.bottom}"/>`,
  );
  parts.push(
    `<text class="axis-title" x="${coord((frame.left + frame.right) / 2)}" y="${frame.height - 6}" text-anchor="middle">${escapeXml(xTitle)}</text>`,
  );
  parts.push(
    `<text class="axis-title" transform="translate(14 ${coord((frame.top + frame.bottom) / 2)}) rotate(-90)" text-anchor="middle">${escapeXml(yTitle)}</text>`,
  );
  return parts.join('');
}

function svgOpen(id: string, frame: Frame, title: string): string {
  return `<svg id="${escapeXml(id)}" class="chart" viewBox="0 0 ${frame.width} ${frame.height}" width="${frame.width}" height="${frame.height}" role="img" aria-label="${escapeXml(title)}"><title>${escapeXml(title)}</title>`;
}

/** One bar: its category label (shown on hover) and height. */
export interface Bar {
  readonly label: string;
  readonly value: number;
}

/** Options of {@link renderBarChart}. */
export interface BarChartOptions {
  readonly id: string;
  readonly title: string;
  readonly xTitle: string;
  readonly yTitle: string;
  readonly bars: readonly Bar[];
  /** Label under the first bar's left edge, each bar's right edge, in order (bars.length + 1 entries). */
  readonly edgeLabels?: readonly string[];
  readonly width?: number;
  readonly height?: number;
}

/** A bar chart with one `<rect class="bar">` per bar (zero-height bars included, so counts line up). */
export function renderBarChart(options: BarChartOptions): string {
  const frame = frameOf(options.width ?? DEFAULT_WIDTH, options.height ?? DEFAULT_HEIGHT);
  const n = Math.max(options.bars.length, 1);
  const slot = (frame.right - frame.left) / n;
  const yTicks = niceTicks(Math.max(0, ...options.bars.map((bar) => bar.value)));
  const yMax = yTicks[yTicks.length - 1]!;
  const yPos = (v: number): number => frame.bottom - ((frame.bottom - frame.top) * v) / yMax;
  const edges = options.edgeLabels ?? [];
  // Label at most ~8 edges so the text never overlaps.
  const every = Math.max(1, Math.ceil(edges.length / 8));
  const xTicks = edges.map((label, i) => ({ value: i, label })).filter((tick) => tick.value % every === 0);
  const xPos = (edgeIndex: number): number => frame.left + edgeIndex * slot;
  const bars = options.bars.map((bar, i) => {
    const top = yPos(bar.value);
    return `<rect class="bar" x="${coord(xPos(i) + 1)}" y="${coord(top)}" width="${coord(Math.max(slot - 2, 0.5))}" height="${coord(frame.bottom - top)}" data-value="${bar.value}"><title>${escapeXml(`${bar.label}: ${bar.value}`)}</title></rect>`;
  });
  return `${svgOpen(options.id, frame, options.title)}${axes(frame, xTicks, xPos, yTicks, yPos, options.xTitle, options.yTitle)}${bars.join('')}</svg>`;
}

/** One line of a line chart; `className` goes on its polyline next to `series`. */
export interface Series {
  readonly name: string;
  readonly className: string;
  readonly points: readonly { readonly x: number; readonly y: number }[];
}

/** Options of {@link renderLineChart}. */
export interface LineChartOptions {
  readonly id: string;
  readonly title: string;
  readonly xTitle: string;
  readonly yTitle: string;
  readonly series: readonly Series[];
  /** X range in data units (already transformed, e.g. to a log scale, by the caller). */
  readonly xMin: number;
  readonly xMax: number;
  readonly xTicks: readonly AxisTick[];
  readonly width?: number;
  readonly height?: number;
}

/** A line chart with one `<polyline class="series NAME">` per series and a legend. */
export function renderLineChart(options: LineChartOptions): string {
  const frame = frameOf(options.width ?? DEFAULT_WIDTH, options.height ?? DEFAULT_HEIGHT, true);
  const all = options.series.flatMap((series) => series.points.map((point) => point.y));
  const yTicks = niceTicks(Math.max(0, ...all.filter(Number.isFinite)));
  const yMax = yTicks[yTicks.length - 1]!;
  const span = options.xMax - options.xMin || 1;
  const xPos = (v: number): number => frame.left + ((frame.right - frame.left) * (v - options.xMin)) / span;
  const yPos = (v: number): number => frame.bottom - ((frame.bottom - frame.top) * v) / yMax;
  const lines = options.series.map((series) => {
    const points = series.points
      .filter((point) => Number.isFinite(point.x) && Number.isFinite(point.y))
      .map((point) => `${coord(xPos(point.x))},${coord(yPos(point.y))}`)
      .join(' ');
    return `<polyline class="series ${escapeXml(series.className)}" fill="none" points="${points}"><title>${escapeXml(series.name)}</title></polyline>`;
  });
  // Entries sit side by side in the strip above the plot, each as wide as its label.
  const legendY = coord(frame.top - LEGEND_STRIP / 2 - 2);
  let legendX = frame.left;
  const legend = options.series.map((series) => {
    const x = legendX;
    legendX += 24 + legendTextWidth(series.name) + 16;
    return `<g class="legend ${escapeXml(series.className)}"><line class="series ${escapeXml(series.className)}" x1="${x}" y1="${legendY}" x2="${x + 18}" y2="${legendY}"/><text x="${x + 24}" y="${legendY}" dominant-baseline="middle">${escapeXml(series.name)}</text></g>`;
  });
  return `${svgOpen(options.id, frame, options.title)}${axes(frame, options.xTicks, xPos, yTicks, yPos, options.xTitle, options.yTitle)}${lines.join('')}${legend.join('')}</svg>`;
}
