import type {
  ClusterNodeInfo,
  ListenerInfo,
  Page,
  RetainedMessageView,
  RetainedSummary,
  TopicNodeInfo,
} from '../wire-types.js';
import type { ViewContext } from './broker-clients.js';
import { facts, fill, h, table, time } from './dom.js';
import { PagedList } from './paged-list.js';

/** The hash of a topic tree node: `#/topics` is the root, `#/topics/<encoded path>` any other node. */
export function topicHref(path: string | undefined): string {
  return path === undefined ? '#/topics' : `#/topics/${encodeURIComponent(path)}`;
}

/**
 * The topic tree one level at a time (subscription filters and retained topics share it), the retained
 * message at the node shown, the retained messages below it, and a publish form.
 */
export class TopicsView {
  readonly el: HTMLElement;
  private readonly retainedBox = h('div', {});

  constructor(
    private readonly ctx: ViewContext,
    private readonly path: string | undefined,
  ) {
    const children = new PagedList<TopicNodeInfo>({
      id: 'topic-children',
      placeholder: 'Filter this level (client side)',
      headers: ['Level', 'Below', 'Retained here', 'Retained below', 'Subscriptions'],
      empty: 'No level below',
      limit: 100,
      fetch: async (search, offset, limit) => {
        const page = await ctx.api.get<Page<TopicNodeInfo>>('topics', { parent: path, offset, limit });
        return search === '' ? page : { ...page, items: page.items.filter((n) => n.level.includes(search)) };
      },
      row: (n) => [
        h('a', { href: topicHref(n.path), class: 'mono' }, n.level === '' ? '(empty)' : n.level),
        n.children,
        n.retained ? 'yes' : '',
        n.retainedBelow,
        n.subscriptions,
      ],
    });
    const filter = path === undefined ? '#' : `${path}/#`;
    const retained = new PagedList<RetainedSummary>({
      id: 'retained',
      placeholder: 'Topic filter',
      headers: ['Topic', 'QoS', 'Bytes'],
      empty: 'No retained message here',
      fetch: (search, offset, limit) =>
        ctx.api.get<Page<RetainedSummary>>('retained', {
          filter: search === '' ? filter : search,
          offset,
          limit,
        }),
      row: (r) => [h('a', { href: topicHref(r.topic), class: 'mono' }, r.topic), r.qos, r.payloadBytes],
    });
    this.el = h(
      'div',
      { class: 'topics' },
      h('h2', {}, 'Topics'),
      breadcrumb(path),
      this.retainedBox,
      children.el,
      h('h3', {}, 'Retained messages'),
      retained.el,
      ctx.canWrite ? this.publishForm() : '',
    );
    void children.refresh();
    void retained.refresh();
    if (path !== undefined) void this.loadRetained(path);
  }

  /** The retained message at this node, if the tree says there is one. */
  private async loadRetained(path: string): Promise<void> {
    const parent = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : undefined;
    const level = path.slice(path.lastIndexOf('/') + 1);
    try {
      const siblings = await this.ctx.api.get<Page<TopicNodeInfo>>('topics', { parent, limit: 500 });
      if (!siblings.items.some((n) => n.level === level && n.retained)) return;
      const m = await this.ctx.api.get<RetainedMessageView>('retained/message', { topic: path });
      const del = h(
        'button',
        { type: 'button', class: 'danger', onclick: () => void this.deleteRetained(path) },
        'Delete retained message',
      );
      fill(
        this.retainedBox,
        h(
          'section',
          { class: 'card', id: 'retained-message' },
          h('h3', {}, 'Retained message'),
          facts([
            ['QoS', m.qos],
            ['Size', `${m.payloadBytes} bytes`],
            ['Content type', m.contentType ?? '—'],
            ['Expires', time(m.expiresAt)],
          ]),
          h('pre', { class: 'payload' }, m.payloadText ?? `base64: ${m.payloadBase64}`),
          this.ctx.canWrite ? del : '',
        ),
      );
    } catch (err) {
      fill(this.retainedBox, h('p', { class: 'error' }, (err as Error).message));
    }
  }

  private async deleteRetained(topic: string): Promise<void> {
    try {
      await this.ctx.api.del('retained/message', { topic });
      this.ctx.toast(`Deleted the retained message at ${topic}`);
      fill(this.retainedBox);
    } catch (err) {
      this.ctx.toast((err as Error).message, 'error');
    }
  }

  private publishForm(): HTMLElement {
    const topic = h('input', {
      name: 'topic',
      value: this.path ?? '',
      placeholder: 'topic',
      required: true,
      class: 'mono',
    });
    const payload = h('textarea', { name: 'payload', rows: 3, placeholder: 'payload (text)' });
    const qos = h(
      'select',
      { name: 'qos' },
      h('option', { value: '0' }, 'QoS 0'),
      h('option', { value: '1' }, 'QoS 1'),
      h('option', { value: '2' }, 'QoS 2'),
    );
    const retain = h('input', { type: 'checkbox', name: 'retain' });
    const submit = async (event: Event): Promise<void> => {
      event.preventDefault();
      try {
        const result = await this.ctx.api.post<{ deliveries: number }>('publish', {
          topic: topic.value,
          payload: payload.value,
          qos: Number(qos.value),
          retain: retain.checked,
        });
        this.ctx.toast(`Published to ${topic.value}: ${result.deliveries} deliveries`);
      } catch (err) {
        this.ctx.toast((err as Error).message, 'error');
      }
    };
    return h(
      'form',
      { class: 'card publish', onsubmit: (e) => void submit(e) },
      h('h3', {}, 'Publish'),
      h('label', {}, 'Topic ', topic),
      h('label', {}, 'Payload ', payload),
      h(
        'div',
        { class: 'row' },
        qos,
        h('label', {}, retain, ' retain'),
        h('button', { type: 'submit' }, 'Publish'),
      ),
    );
  }
}

function breadcrumb(path: string | undefined): HTMLElement {
  const nav = h('nav', { class: 'breadcrumb' }, h('a', { href: topicHref(undefined) }, 'root'));
  if (path === undefined) return nav;
  const levels = path.split('/');
  levels.forEach((level, i) => {
    nav.append(
      ' / ',
      h(
        'a',
        { href: topicHref(levels.slice(0, i + 1).join('/')), class: 'mono' },
        level === '' ? '(empty)' : level,
      ),
    );
  });
  return nav;
}

/** The broker's listeners and, when clustered, its nodes. */
export class ListenersView {
  readonly el = h('div', {});

  constructor(private readonly ctx: ViewContext) {
    void this.load();
  }

  private async load(): Promise<void> {
    try {
      const [listeners, cluster] = await Promise.all([
        this.ctx.api.get<{ items: ListenerInfo[] }>('listeners'),
        this.ctx.api.get<{ clustered: boolean; items: ClusterNodeInfo[] }>('cluster'),
      ]);
      fill(
        this.el,
        h('h2', {}, 'Listeners'),
        table(
          ['Name', 'Kind', 'Address', 'State', 'Connections'],
          listeners.items.map((l) => [
            l.name,
            l.kind,
            h('span', { class: 'mono' }, l.address ?? '—'),
            l.listening ? 'listening' : 'stopped',
            l.connections,
          ]),
        ),
        h('h2', {}, 'Cluster'),
        cluster.clustered
          ? table(
              ['Node', 'Address', 'Link', 'State', 'Clients'],
              cluster.items.map((n) => [
                `${n.id}${n.self ? ' (this node)' : ''}`,
                n.address ?? '—',
                linkCell(n),
                n.state,
                n.clients ?? '—',
              ]),
            )
          : h('p', { class: 'muted' }, 'This broker is not clustered.'),
      );
    } catch (err) {
      fill(this.el, h('p', { class: 'error' }, (err as Error).message));
    }
  }
}

/**
 * A node's direct link: its address (marked TLS when the node's links are) and, for the other nodes,
 * whether this node's link to it is up.
 */
function linkCell(n: ClusterNodeInfo): string {
  if (n.link === undefined) return 'off (through Redis)';
  const address = n.linkTls ? `${n.link} (TLS)` : n.link;
  if (n.linked === undefined) return address;
  return `${address} · ${n.linked ? 'linked' : 'through Redis'}`;
}
