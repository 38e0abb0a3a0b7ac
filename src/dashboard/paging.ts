import type { PageQuery } from './admin-port.js';
import type { Page } from './wire-types.js';

/**
 * One page out of a sequence, in one pass: counts every item that `keep` accepts and maps only those inside
 * the page, so a page of a long list costs one walk and `limit` conversions. For port implementations.
 */
export function collectPage<T, R>(
  items: Iterable<T>,
  query: PageQuery,
  keep: (item: T) => boolean,
  toRow: (item: T) => R,
): Page<R> {
  const rows: R[] = [];
  let total = 0;
  const end = query.offset + query.limit;
  for (const item of items) {
    if (!keep(item)) continue;
    if (total >= query.offset && total < end) rows.push(toRow(item));
    total++;
  }
  return { items: rows, total, offset: query.offset, limit: query.limit };
}

/** Case-insensitive substring test; an empty or missing needle matches everything. */
export function containsFolded(haystack: string | undefined, needle: string | undefined): boolean {
  if (needle === undefined || needle === '') return true;
  return haystack?.toLowerCase().includes(needle.toLowerCase()) === true;
}
