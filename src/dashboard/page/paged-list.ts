import type { Page } from '../wire-types.js';
import { type Child, debounce, fill, h, table } from './dom.js';

export interface PagedListSpec<T> {
  readonly id: string;
  readonly placeholder: string;
  readonly headers: readonly string[];
  /** Fetch one page; `search` is what the box holds. */
  fetch(search: string, offset: number, limit: number): Promise<Page<T>>;
  row(item: T): readonly Child[];
  /** Extra controls beside the search box (filters); call `refresh` when they change. */
  readonly controls?: readonly HTMLElement[];
  readonly empty?: string;
  readonly limit?: number;
}

/**
 * A searchable, paged table: only the page shown is ever fetched, and `refresh` re-reads that page (the
 * live stream calls it when the broker's client count moves).
 */
export class PagedList<T> {
  readonly el: HTMLElement;
  readonly search: HTMLInputElement;
  private readonly body: HTMLElement;
  private readonly status: HTMLElement;
  private offset = 0;
  private readonly limit: number;
  private total = 0;
  private loading: Promise<void> | undefined;
  private again = false;

  constructor(private readonly spec: PagedListSpec<T>) {
    this.limit = spec.limit ?? 50;
    this.search = h('input', {
      type: 'search',
      placeholder: spec.placeholder,
      'aria-label': spec.placeholder,
      class: 'search',
      oninput: debounce(() => {
        this.offset = 0;
        void this.refresh();
      }, 250),
    });
    this.status = h('span', { class: 'pager-status' });
    const prev = h('button', { type: 'button', onclick: () => this.move(-1) }, '‹ Prev');
    const next = h('button', { type: 'button', onclick: () => this.move(1) }, 'Next ›');
    this.body = h('div', { class: 'table-wrap' });
    this.el = h(
      'div',
      { class: 'paged-list', id: spec.id },
      h(
        'div',
        { class: 'toolbar' },
        this.search,
        ...(spec.controls ?? []),
        h('span', { class: 'pager' }, prev, this.status, next),
      ),
      this.body,
    );
  }

  /** Re-read the page shown; calls arriving while one runs are folded into one more read. */
  refresh(): Promise<void> {
    if (this.loading !== undefined) {
      this.again = true;
      return this.loading;
    }
    this.loading = this.load().finally(() => {
      this.loading = undefined;
      if (this.again) {
        this.again = false;
        void this.refresh();
      }
    });
    return this.loading;
  }

  /** Back to the first page (a filter changed). */
  reset(): void {
    this.offset = 0;
    void this.refresh();
  }

  private move(direction: number): void {
    const next = this.offset + direction * this.limit;
    if (next < 0 || next >= Math.max(this.total, 1)) return;
    this.offset = next;
    void this.refresh();
  }

  private async load(): Promise<void> {
    try {
      const page = await this.spec.fetch(this.search.value.trim(), this.offset, this.limit);
      // The list shrank under the page shown: step back to its last page.
      if (page.items.length === 0 && page.total > 0 && this.offset > 0) {
        this.offset = Math.floor((page.total - 1) / this.limit) * this.limit;
        return this.load();
      }
      this.total = page.total;
      const first = page.total === 0 ? 0 : page.offset + 1;
      this.status.textContent = `${first}–${page.offset + page.items.length} of ${page.total}`;
      fill(
        this.body,
        table(
          this.spec.headers,
          page.items.map((item) => this.spec.row(item)),
          this.spec.empty,
        ),
      );
    } catch (err) {
      fill(this.body, h('p', { class: 'error' }, (err as Error).message));
    }
  }
}
