/**
 * The broker dashboard: a login form when one is needed, then a shell with a live stream of samples and
 * one view at a time, chosen by the URL hash.
 */
import type { StatsHistory, StatsPoint, WhoAmI } from '../wire-types.js';
import { Api } from './api.js';
import { ClientsView, SessionsView, SessionView, type ViewContext } from './broker-clients.js';
import { OverviewView, SeriesStore } from './broker-overview.js';
import { ListenersView, TopicsView } from './broker-topics.js';
import { fill, h } from './dom.js';

interface View {
  readonly el: HTMLElement;
  onSample?(point: StatsPoint): void;
}

const app = document.getElementById('app') as HTMLElement;
const api = new Api(() => showLogin('Your session ended; log in again.'));
const store = new SeriesStore();
let stream: EventSource | undefined;
let current: View | undefined;
let overview: OverviewView | undefined;

const NAV = [
  ['overview', 'Overview'],
  ['clients', 'Clients'],
  ['sessions', 'Sessions'],
  ['topics', 'Topics'],
  ['listeners', 'Listeners'],
] as const;

async function boot(): Promise<void> {
  try {
    const who = await api.whoami();
    if (who.authenticated) start(who);
    else showLogin();
  } catch (err) {
    fill(app, h('p', { class: 'error' }, `Cannot reach the broker: ${(err as Error).message}`));
  }
}

function showLogin(message?: string): void {
  stream?.close();
  stream = undefined;
  const username = h('input', {
    name: 'username',
    autocomplete: 'username',
    required: true,
    autofocus: true,
  });
  const password = h('input', {
    name: 'password',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
  });
  const error = h('p', { class: 'error', id: 'login-error' }, message ?? '');
  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    error.textContent = '';
    try {
      start(await api.post<WhoAmI>('login', { username: username.value, password: password.value }));
    } catch (err) {
      error.textContent = (err as Error).message;
      password.value = '';
    }
  };
  fill(
    app,
    h(
      'form',
      { class: 'card login', id: 'login', onsubmit: (e) => void submit(e) },
      h('h1', {}, 'Starling broker'),
      h('label', {}, 'User', username),
      h('label', {}, 'Password', password),
      h('button', { type: 'submit' }, 'Log in'),
      error,
    ),
  );
}

function start(who: WhoAmI): void {
  api.csrfToken = who.csrfToken;
  const toasts = h('div', { class: 'toasts' });
  const ctx: ViewContext = {
    api,
    canWrite: who.role === 'admin',
    toast(message, kind = 'ok') {
      const el = h('div', { class: `toast ${kind}` }, message);
      toasts.appendChild(el);
      setTimeout(() => el.remove(), 4000);
    },
  };
  const live = h('span', { class: 'live', id: 'live-state' }, 'connecting');
  const logout = h('button', { type: 'button', class: 'link', onclick: () => void logOut() }, 'Log out');
  const user = who.mode === 'open' ? 'local access' : `${who.username ?? ''} (${who.role ?? ''})`;
  const nav = h(
    'nav',
    { class: 'tabs' },
    ...NAV.map(([key, label]) => h('a', { href: `#/${key}`, 'data-tab': key }, label)),
  );
  const main = h('main', {});
  fill(
    app,
    h(
      'header',
      {},
      h('strong', { class: 'brand' }, 'Starling'),
      nav,
      h('span', { class: 'spacer' }),
      live,
      h('span', { class: 'user' }, user),
      who.mode === 'login' ? logout : '',
    ),
    main,
    toasts,
  );
  openStream(live);
  const route = (): void => {
    const hash = location.hash.replace(/^#\/?/, '');
    const [name = 'overview', ...rest] = hash.split('/');
    const arg = rest.length === 0 ? undefined : decodeURIComponent(rest.join('/'));
    for (const a of nav.querySelectorAll('a'))
      a.classList.toggle('active', a.dataset.tab === (name === 'session' ? 'sessions' : name));
    current = viewFor(name, arg, ctx);
    fill(main, current.el);
  };
  window.onhashchange = route;
  route();
}

function viewFor(name: string, arg: string | undefined, ctx: ViewContext): View {
  switch (name) {
    case 'clients':
      return new ClientsView(ctx);
    case 'sessions':
      return new SessionsView(ctx);
    case 'session':
      return new SessionView(ctx, arg ?? '');
    case 'topics':
      return new TopicsView(ctx, arg);
    case 'listeners':
      return new ListenersView(ctx);
    default:
      overview = new OverviewView(store);
      return overview;
  }
}

/** One stream for the whole page: the history once, then a sample a second to whichever view is shown. */
function openStream(live: HTMLElement): void {
  stream?.close();
  const source = new EventSource('/api/v1/live');
  stream = source;
  source.addEventListener('history', (event) => {
    store.load(JSON.parse((event as MessageEvent<string>).data) as StatsHistory);
    if (current === overview) overview?.redrawAll();
    live.textContent = 'live';
    live.className = 'live on';
  });
  source.addEventListener('sample', (event) => {
    const point = JSON.parse((event as MessageEvent<string>).data) as StatsPoint;
    store.add(point);
    current?.onSample?.(point);
  });
  source.onerror = () => {
    live.textContent = 'reconnecting';
    live.className = 'live off';
    // A refused stream (session over) is not retried by EventSource: ask who we are, which shows the login.
    if (source.readyState !== EventSource.CLOSED) return;
    setTimeout(() => {
      void api.whoami().then((who) => (who.authenticated ? openStream(live) : showLogin()));
    }, 2000);
  };
}

async function logOut(): Promise<void> {
  try {
    await api.post('logout');
  } finally {
    showLogin();
  }
}

void boot();
