/**
 * The load-run dashboard: totals, throughput, latency percentiles over time, errors, and a row per agent,
 * fed by the run's server-sent events.
 */
import type { BenchHistory, BenchLiveSample, BenchState } from '../bench-live.js';
import { color, LineChart } from './charts.js';
import { compact, duration, fill, h, table } from './dom.js';

const app = document.getElementById('app') as HTMLElement;
const ms = (v: number): string => `${compact(v)} ms`;
const rate = (v: number): string => `${compact(v)}/s`;
/** The page keeps what the server keeps (a day at one sample a second). */
const KEEP = 86_400;

const throughput = new LineChart({
  key: 'throughput',
  title: 'Throughput',
  x: 'elapsed',
  format: rate,
  lines: [
    { label: 'sent', color: color(0) },
    { label: 'received', color: color(1) },
  ],
});
const latency = new LineChart({
  key: 'latency',
  title: 'Latency percentiles',
  x: 'elapsed',
  format: ms,
  lines: ['p50', 'p90', 'p99', 'p99.9', 'max'].map((label, i) => ({ label, color: color(i) })),
});
const errors = new LineChart({
  key: 'errors',
  title: 'Errors',
  x: 'elapsed',
  format: rate,
  lines: [{ label: 'errors', color: color(3) }],
});
const connected = new LineChart({
  key: 'connected',
  title: 'Connected clients',
  x: 'elapsed',
  format: compact,
  lines: [{ label: 'connected', color: color(4) }],
});

const title = h('h1', {}, 'Load run');
const status = h('span', { class: 'live', id: 'run-state' }, 'connecting');
const tiles = new Map<string, HTMLElement>();
const TILE_NAMES = ['Elapsed', 'Sent', 'Received', 'Errors', 'Sent/s', 'Received/s', 'Connected', 'p99'];
const tileRow = h(
  'div',
  { class: 'tiles' },
  ...TILE_NAMES.map((name) => {
    const value = h('span', { class: 'tile-value', 'data-tile': name.toLowerCase() }, '—');
    tiles.set(name, value);
    return h('div', { class: 'card tile' }, h('span', { class: 'tile-label' }, name), value);
  }),
);
const summary = h('pre', { class: 'summary', id: 'summary', hidden: true });
const agents = h('div', { id: 'agents' });

fill(
  app,
  h('header', {}, h('strong', { class: 'brand' }, 'Starling'), title, h('span', { class: 'spacer' }), status),
  h(
    'main',
    {},
    summary,
    tileRow,
    h('div', { class: 'charts' }, throughput.el, latency.el, errors.el, connected.el),
    h('h2', {}, 'Agents'),
    agents,
  ),
);

function setTile(name: string, value: string): void {
  const el = tiles.get(name);
  if (el !== undefined) el.textContent = value;
}

function showState(state: BenchState): void {
  title.textContent = state.title;
  document.title = `${state.title} · Starling`;
  setTile('Sent', compact(state.totals.sent));
  setTile('Received', compact(state.totals.received));
  setTile('Errors', compact(state.totals.errors));
  const s = state.latest;
  if (s !== undefined) {
    const perSecond = 1000 / s.intervalMs;
    setTile('Elapsed', duration(s.elapsedMs / 1000));
    setTile('Sent/s', compact(s.sent * perSecond));
    setTile('Received/s', compact(s.received * perSecond));
    setTile('Connected', compact(s.connected));
    setTile('p99', s.latencyMs === undefined ? '—' : ms(s.latencyMs.p99));
    fill(
      agents,
      table(
        ['Agent', 'State', 'Sent', 'Received', 'Errors', 'Connected'],
        state.agents.map((a) => [
          a.name,
          h(
            'span',
            { class: `badge ${a.state === 'lost' ? 'bad' : a.state === 'running' ? 'ok' : ''}` },
            a.state,
          ),
          compact(a.sent),
          compact(a.received),
          compact(a.errors),
          compact(a.connected),
        ]),
        'No agent reported yet',
      ),
    );
  }
  if (state.finished !== undefined) {
    status.textContent = 'finished';
    status.className = 'live done';
    summary.hidden = false;
    summary.textContent = state.finished.summary === '' ? 'The run is over.' : state.finished.summary;
  } else {
    status.textContent = 'running';
    status.className = 'live on';
  }
}

function showHistory(history: BenchHistory): void {
  throughput.setData(history.elapsedS, [history.sentPerS, history.receivedPerS]);
  latency.setData(history.elapsedS, [history.p50, history.p90, history.p99, history.p999, history.max]);
  errors.setData(history.elapsedS, [history.errorsPerS]);
  connected.setData(history.elapsedS, [history.connected]);
}

function addSample(sample: BenchLiveSample): void {
  const x = sample.elapsedMs / 1000;
  const perSecond = 1000 / sample.intervalMs;
  const l = sample.latencyMs;
  throughput.append(x, [sample.sent * perSecond, sample.received * perSecond], KEEP);
  latency.append(x, [l?.p50 ?? null, l?.p90 ?? null, l?.p99 ?? null, l?.p999 ?? null, l?.max ?? null], KEEP);
  errors.append(x, [sample.errors * perSecond], KEEP);
  connected.append(x, [sample.connected], KEEP);
}

const source = new EventSource('/api/live');
source.addEventListener('snapshot', (event) => {
  const { state, history } = JSON.parse((event as MessageEvent<string>).data) as {
    state: BenchState;
    history: BenchHistory;
  };
  showHistory(history);
  showState(state);
});
source.addEventListener('sample', (event) => {
  const { sample, state } = JSON.parse((event as MessageEvent<string>).data) as {
    sample: BenchLiveSample;
    state: BenchState;
  };
  addSample(sample);
  showState(state);
});
source.addEventListener('finish', (event) => {
  showState(JSON.parse((event as MessageEvent<string>).data) as BenchState);
  source.close();
});
source.onerror = () => {
  if (status.textContent === 'finished') return;
  status.textContent = 'disconnected';
  status.className = 'live off';
};
