import type {
  ClientSummary,
  Page,
  PendingMessageInfo,
  SessionDetails,
  SessionSummary,
  StatsPoint,
  SubscriptionInfo,
} from '../wire-types.js';
import { type Api, segment } from './api.js';
import { duration, facts, fill, h, protocolName, since, table, time } from './dom.js';
import { PagedList } from './paged-list.js';

/** What every view gets from the shell. */
export interface ViewContext {
  readonly api: Api;
  /** True for role admin: write buttons are shown. */
  readonly canWrite: boolean;
  /** Show a short message in the corner. */
  toast(message: string, kind?: 'ok' | 'error'): void;
}

/** Link to a session's page. */
export function sessionLink(clientId: string): HTMLElement {
  return h(
    'a',
    { href: `#/session/${segment(clientId)}`, class: 'mono' },
    clientId === '' ? '(empty)' : clientId,
  );
}

async function disconnect(ctx: ViewContext, clientId: string, after: () => void): Promise<void> {
  try {
    await ctx.api.post(`clients/${segment(clientId)}/disconnect`);
    ctx.toast(`Disconnected ${clientId}`);
  } catch (err) {
    ctx.toast((err as Error).message, 'error');
  }
  after();
}

/** Connected clients: search by id, user or address; disconnect from the row. */
export class ClientsView {
  readonly el: HTMLElement;
  private readonly list: PagedList<ClientSummary>;
  private seen = '';

  constructor(ctx: ViewContext) {
    this.list = new PagedList<ClientSummary>({
      id: 'clients',
      placeholder: 'Search client id, user, address',
      headers: [
        'Client id',
        'User',
        'Address',
        'Listener',
        'MQTT',
        'Keep alive',
        'Inflight',
        'Queued',
        'Subs',
        'Connected',
        '',
      ],
      empty: 'No client connected',
      fetch: (search, offset, limit) =>
        ctx.api.get<Page<ClientSummary>>('clients', { search, offset, limit }),
      row: (c) => [
        sessionLink(c.clientId),
        c.username ?? '—',
        c.remoteAddress === undefined
          ? '—'
          : `${c.remoteAddress}${c.remotePort === undefined ? '' : `:${c.remotePort}`}`,
        c.listener,
        protocolName(c.protocolVersion),
        c.keepAlive === 0 ? 'none' : `${c.keepAlive}s`,
        c.inflight,
        c.queued,
        c.subscriptions,
        since(c.connectedAt),
        ctx.canWrite
          ? h(
              'button',
              {
                type: 'button',
                class: 'danger small',
                'data-disconnect': c.clientId,
                onclick: () => void disconnect(ctx, c.clientId, () => void this.list.refresh()),
              },
              'Disconnect',
            )
          : '',
      ],
    });
    this.el = h('div', {}, h('h2', {}, 'Clients'), this.list.el);
    void this.list.refresh();
  }

  /** Re-read the page when clients came or went since the last look. */
  onSample(point: StatsPoint): void {
    const mark = `${point.values.clients}/${point.connectionsTotal}`;
    if (mark === this.seen) return;
    this.seen = mark;
    void this.list.refresh();
  }
}

/** Every session, connected or not. */
export class SessionsView {
  readonly el: HTMLElement;
  private readonly list: PagedList<SessionSummary>;
  private seen = '';

  constructor(ctx: ViewContext) {
    const filter = h(
      'select',
      { 'aria-label': 'Connected or not', onchange: () => this.list.reset() },
      h('option', { value: '' }, 'All sessions'),
      h('option', { value: 'true' }, 'Connected'),
      h('option', { value: 'false' }, 'Offline'),
    );
    this.list = new PagedList<SessionSummary>({
      id: 'sessions',
      placeholder: 'Search client id',
      headers: ['Client id', 'State', 'Expiry', 'Offline since', 'Subs', 'Inflight', 'Queued'],
      empty: 'No session',
      controls: [filter],
      fetch: (search, offset, limit) =>
        ctx.api.get<Page<SessionSummary>>('sessions', { search, offset, limit, connected: filter.value }),
      row: (s) => [
        sessionLink(s.clientId),
        h('span', { class: s.connected ? 'badge ok' : 'badge' }, s.connected ? 'connected' : 'offline'),
        expiryText(s.expiryInterval),
        s.disconnectedAt === undefined ? '—' : since(s.disconnectedAt),
        s.subscriptions,
        s.inflight,
        s.queued,
      ],
    });
    this.el = h('div', {}, h('h2', {}, 'Sessions'), this.list.el);
    void this.list.refresh();
  }

  onSample(point: StatsPoint): void {
    const mark = `${point.values.sessions}/${point.values.clients}/${point.connectionsTotal}`;
    if (mark === this.seen) return;
    this.seen = mark;
    void this.list.refresh();
  }
}

function expiryText(seconds: number): string {
  if (seconds === 0xffffffff) return 'never';
  if (seconds === 0) return 'with connection';
  return duration(seconds);
}

/** One session: its connection, subscriptions, messages in flight and queued, and its will. */
export class SessionView {
  readonly el: HTMLElement;
  private readonly body = h('div', {});

  constructor(
    private readonly ctx: ViewContext,
    private readonly clientId: string,
  ) {
    this.el = h(
      'div',
      { class: 'session' },
      h('p', {}, h('a', { href: '#/clients' }, '‹ Clients')),
      this.body,
    );
    void this.load();
  }

  private async load(): Promise<void> {
    let s: SessionDetails;
    try {
      s = await this.ctx.api.get<SessionDetails>(`sessions/${segment(this.clientId)}`);
    } catch (err) {
      fill(
        this.body,
        h('h2', { class: 'mono' }, this.clientId),
        h('p', { class: 'error' }, (err as Error).message),
      );
      return;
    }
    const ctx = this.ctx;
    const actions = h('div', { class: 'actions' });
    if (ctx.canWrite && s.connected)
      actions.appendChild(
        h(
          'button',
          {
            type: 'button',
            class: 'danger',
            onclick: () => void disconnect(ctx, s.clientId, () => void this.load()),
          },
          'Disconnect',
        ),
      );
    if (ctx.canWrite)
      actions.appendChild(
        h(
          'button',
          { type: 'button', class: 'danger', onclick: () => void this.deleteSession() },
          'Delete session',
        ),
      );
    const c = s.client;
    const pending = (m: PendingMessageInfo) => [
      m.packetId || '—',
      h('span', { class: 'mono' }, m.topic),
      m.qos,
      m.payloadBytes,
      m.state,
    ];
    fill(
      this.body,
      h(
        'h2',
        {},
        'Session ',
        h('span', { class: 'mono' }, s.clientId),
        ' ',
        h('span', { class: s.connected ? 'badge ok' : 'badge' }, s.connected ? 'connected' : 'offline'),
      ),
      actions,
      h(
        'div',
        { class: 'grid2' },
        h(
          'section',
          { class: 'card' },
          h('h3', {}, 'Connection'),
          c === undefined
            ? h('p', {}, `Offline since ${time(s.disconnectedAt)}`)
            : facts([
                ['User', c.username ?? '—'],
                [
                  'Address',
                  `${c.remoteAddress ?? '—'}${c.remotePort === undefined ? '' : `:${c.remotePort}`}`,
                ],
                ['Listener', c.listener],
                ['MQTT', protocolName(c.protocolVersion)],
                ['Keep alive', c.keepAlive === 0 ? 'none' : `${c.keepAlive}s`],
                ['Connected', `${time(c.connectedAt)} (${since(c.connectedAt)})`],
              ]),
        ),
        h(
          'section',
          { class: 'card' },
          h('h3', {}, 'Session'),
          facts([
            ['Expiry interval', expiryText(s.expiryInterval)],
            ['Expires', time(s.expiresAt)],
            ['Inflight', s.inflight],
            ['Queued', `${s.queued} (${s.queuedBytes} bytes)`],
            [
              'Will',
              s.will === undefined
                ? 'none'
                : `${s.will.topic} (QoS ${s.will.qos}${s.will.retain ? ', retained' : ''}, ${s.will.payloadBytes} bytes${s.will.delaySeconds > 0 ? `, delay ${s.will.delaySeconds}s` : ''}${s.will.pending ? ', pending' : ''})`,
            ],
          ]),
        ),
      ),
      h('h3', {}, `Subscriptions (${s.subscriptions})`),
      table(
        ['Filter', 'QoS', 'No local', 'Retain as published', 'Retain handling', 'Subscription id'],
        s.subscriptionList.map((x: SubscriptionInfo) => [
          h('span', { class: 'mono' }, x.topicFilter),
          x.qos,
          yes(x.noLocal),
          yes(x.retainAsPublished),
          x.retainHandling,
          x.subscriptionId ?? '—',
        ]),
        'No subscription',
      ),
      h('h3', {}, `In flight (${s.inflight})`),
      table(
        ['Packet id', 'Topic', 'QoS', 'Bytes', 'State'],
        s.inflightList.map(pending),
        'Nothing in flight',
      ),
      h('h3', {}, `Queued (${s.queued})`),
      table(['Packet id', 'Topic', 'QoS', 'Bytes', 'State'], s.queuedList.map(pending), 'Nothing queued'),
    );
  }

  private async deleteSession(): Promise<void> {
    try {
      await this.ctx.api.del(`sessions/${segment(this.clientId)}`);
      this.ctx.toast(`Deleted the session of ${this.clientId}`);
      location.hash = '#/sessions';
    } catch (err) {
      this.ctx.toast((err as Error).message, 'error');
    }
  }
}

const yes = (value: boolean): string => (value ? 'yes' : 'no');
