/**
 * Topic Name and Topic Filter rules (spec 4.7) and shared subscription filters (spec 4.8.2).
 * The decoder keeps filters as received; the broker calls these to refuse one bad filter in a
 * SUBSCRIBE (0x8F in v5, 0x80 in v3) while accepting the others.
 */

const SLASH = 0x2f;
const PLUS = 0x2b;
const HASH = 0x23;
const SHARE_PREFIX = '$share/';

/** A shared subscription filter `$share/{group}/{filter}` split into its parts. */
export interface SharedFilter {
  /** The ShareName. */
  group: string;
  /** The Topic Filter after the ShareName. */
  filter: string;
}

/**
 * [MQTT-4.7.3-3]: at most 65,535 bytes as UTF-8. A UTF-16 code unit takes at most 3 UTF-8 bytes, so
 * short strings skip the byte count.
 */
function fitsLengthPrefix(value: string): boolean {
  return value.length <= 21_845 || Buffer.byteLength(value, 'utf8') <= 0xffff;
}

/**
 * True for a valid Topic Name: at least one character ([MQTT-4.7.3-1]), no wildcard characters
 * ([MQTT-4.7.0-1], [MQTT-3.3.2-2]; 3.1.1 [MQTT-4.7.1-1]), no U+0000 ([MQTT-4.7.3-2]) and at most
 * 65,535 bytes ([MQTT-4.7.3-3]).
 */
export function isValidTopicName(topic: string): boolean {
  const length = topic.length;
  if (length === 0) return false;
  for (let i = 0; i < length; i++) {
    const c = topic.charCodeAt(i);
    if (c === PLUS || c === HASH || c === 0) return false;
  }
  return fitsLengthPrefix(topic);
}

/**
 * Wildcard placement in a non-shared filter: `#` alone in the last level ([MQTT-4.7.1-1]; 3.1.1
 * [MQTT-4.7.1-2]), `+` alone in its level ([MQTT-4.7.1-2]; 3.1.1 [MQTT-4.7.1-3]). Empty levels are
 * valid (`a//b`, `/a`).
 */
function isValidPlainFilter(filter: string): boolean {
  const length = filter.length;
  if (length === 0) return false; // [MQTT-4.7.3-1]
  for (let i = 0; i < length; i++) {
    const c = filter.charCodeAt(i);
    if (c === PLUS) {
      if (i > 0 && filter.charCodeAt(i - 1) !== SLASH) return false;
      if (i + 1 < length && filter.charCodeAt(i + 1) !== SLASH) return false;
    } else if (c === HASH) {
      if (i !== length - 1) return false;
      if (i > 0 && filter.charCodeAt(i - 1) !== SLASH) return false;
    } else if (c === 0) {
      return false; // [MQTT-4.7.3-2]
    }
  }
  return true;
}

/**
 * Whether a topic name or (plain) filter has more than `max` levels (`max` 0: no limit). A server policy,
 * not a rule of the spec: each level of a stored topic or filter is a node of the broker's topic index.
 */
export function hasMoreLevelsThan(topic: string, max: number): boolean {
  if (max === 0 || topic.length < max) return false;
  let levels = 1;
  for (let at = topic.indexOf('/'); at !== -1; at = topic.indexOf('/', at + 1)) {
    if (++levels > max) return true;
  }
  return false;
}

/**
 * True for a valid Topic Filter. A filter starting with `$share/` must have a non-empty ShareName
 * without `/`, `+` or `#`, followed by `/` and a valid filter ([MQTT-4.8.2-1], [MQTT-4.8.2-2]).
 */
export function isValidTopicFilter(filter: string): boolean {
  if (!fitsLengthPrefix(filter)) return false; // [MQTT-4.7.3-3]
  if (!filter.startsWith(SHARE_PREFIX)) return isValidPlainFilter(filter);
  const shared = parseSharedFilter(filter);
  if (shared === undefined) return false;
  const { group } = shared;
  if (group.length === 0) return false;
  for (let i = 0; i < group.length; i++) {
    const c = group.charCodeAt(i);
    if (c === PLUS || c === HASH || c === 0) return false;
  }
  return isValidPlainFilter(shared.filter);
}

/**
 * Split `$share/{group}/{filter}` into group and filter. Returns undefined when the filter does not
 * start with `$share/` or has no `/` after the group. Does not validate the parts: see
 * isValidTopicFilter.
 */
export function parseSharedFilter(filter: string): SharedFilter | undefined {
  if (!filter.startsWith(SHARE_PREFIX)) return undefined;
  const slash = filter.indexOf('/', SHARE_PREFIX.length);
  if (slash < 0) return undefined;
  return { group: filter.slice(SHARE_PREFIX.length, slash), filter: filter.slice(slash + 1) };
}

/** Longest topic name, in bytes, kept by TopicNameCache. */
const MAX_CACHED_TOPIC_BYTES = 128;

/**
 * A small direct-mapped cache of recently decoded ASCII topic names, used by the decoder. MQTT traffic
 * repeats topics, and handing back the same string skips UTF-8 decoding, validation and a string
 * allocation per PUBLISH. Only names that passed every decoder check are stored, so a hit needs no
 * further checking; a hit compares every byte, so a collision only costs a miss.
 */
export class TopicNameCache {
  private readonly slots: (string | undefined)[];
  private readonly mask: number;

  /** `size` must be a power of two. */
  constructor(size: number) {
    this.slots = new Array<string | undefined>(size).fill(undefined);
    this.mask = size - 1;
  }

  /**
   * Slot of a name, from every byte: names like `bench/17/x` and `bench/42/x` differ in neither their
   * first, middle nor last byte, and sampling those made every such topic share one slot and evict the
   * others on each PUBLISH. The loop is bounded by MAX_CACHED_TOPIC_BYTES and cheap next to a decode.
   */
  private slot(buf: Buffer, start: number, length: number): number {
    let hash = length;
    const end = start + length;
    for (let i = start; i < end; i++) hash = (Math.imul(hash, 31) + buf[i]!) | 0;
    return (hash ^ (hash >>> 10)) & this.mask;
  }

  /** The cached name equal to bytes [start, start + length), or undefined. */
  get(buf: Buffer, start: number, length: number): string | undefined {
    if (length === 0 || length > MAX_CACHED_TOPIC_BYTES) return undefined;
    const cached = this.slots[this.slot(buf, start, length)];
    if (cached === undefined || cached.length !== length) return undefined;
    for (let i = 0; i < length; i++) {
      if (cached.charCodeAt(i) !== buf[start + i]) return undefined;
    }
    return cached;
  }

  /** Remember a valid topic name decoded from bytes [start, start + length), when it is short ASCII. */
  set(buf: Buffer, start: number, length: number, topic: string): void {
    // One UTF-16 unit per byte means every byte was ASCII, so charCodeAt compares with bytes in get().
    if (length === 0 || length > MAX_CACHED_TOPIC_BYTES || topic.length !== length) return;
    this.slots[this.slot(buf, start, length)] = topic;
  }
}
