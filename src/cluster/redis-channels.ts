import type { Redis } from 'ioredis';
import type { BrokerLogger } from '../broker/logger.js';
import type { ClusterEvents, InboxEntry, InboxHandler } from './backend.js';
import { decodeMessage } from './message-codec.js';

/** The Redis channels and streams a node listens on: pub/sub events, and its inbox. */

const INBOX_BATCH = 256;
const INBOX_BLOCK_MS = 1000;

/**
 * Hear the other nodes: route changes, retained messages, QoS 0 batches for this node. An event that cannot
 * be read (a bug, another version of Starling on the same Redis) is logged and skipped, never thrown.
 */
export function listenToEvents(
  sub: Redis,
  prefix: string,
  nodeId: string,
  events: ClusterEvents,
  logger: () => BrokerLogger,
): void {
  const routes = `${prefix}ev:routes`;
  const retained = `${prefix}ev:retained2`;
  const qos0 = `${prefix}q0:${nodeId}`;
  sub.subscribe(routes, retained, qos0).catch(() => undefined);
  sub.on('messageBuffer', (channelBuffer: Buffer, data: Buffer) => {
    const channel = channelBuffer.toString();
    try {
      if (channel === qos0) {
        // `sender\n` then the frames.
        const newline = data.indexOf(0x0a);
        if (newline > 0) events.qos0(data.toString('utf8', 0, newline), data.subarray(newline + 1));
      } else if (channel === routes) routeEvent(events, nodeId, data.toString());
      else if (channel === retained) retainedEvent(events, nodeId, data);
    } catch (err) {
      logger().warn({ err, channel, bytes: data.length }, 'cluster event skipped: it could not be read');
    }
  });
}

/** `+node\nkey`, `-node\nkey`, or `xnode` (the node is gone). */
function routeEvent(events: ClusterEvents, self: string, text: string): void {
  const kind = text[0];
  if (kind === 'x') {
    events.nodeGone(text.slice(1));
    return;
  }
  const newline = text.indexOf('\n');
  if (newline < 0) return;
  const node = text.slice(1, newline);
  if (node === self) return;
  events.route(node, text.slice(newline + 1), kind === '+');
}

/**
 * `node\n<topic length in bytes>\n<topic><message>` (no message: deleted). The topic goes by its length: a
 * topic may hold a newline. On a channel of its own (`ev:retained2`): the nodes of a version before that
 * listen on `ev:retained`, whose events were `node\ntopic\nmessage`, and would misread these.
 */
function retainedEvent(events: ClusterEvents, self: string, data: Buffer): void {
  const first = data.indexOf(0x0a);
  const second = first < 0 ? -1 : data.indexOf(0x0a, first + 1);
  const length = second < 0 ? '' : data.toString('latin1', first + 1, second);
  const topicEnd = second + 1 + Number(length);
  if (!/^\d{1,6}$/.test(length) || topicEnd > data.length) throw new Error('malformed retained event');
  if (data.toString('utf8', 0, first) === self) return;
  const topic = data.toString('utf8', second + 1, topicEnd);
  const blob = data.subarray(topicEnd);
  events.retained(topic, blob.length === 0 ? undefined : decodeMessage(Buffer.from(blob)).message);
}

/** What XREAD on one stream answers: the stream, with its entries (id, field/value list); null on timeout. */
type InboxReply = [Buffer, [Buffer, Buffer[]][]][] | null;

/**
 * Read an inbox stream from `from` (exclusive) for as long as the node runs: a blocking read on its own
 * connection, each entry handed to `handler` in order. The next read goes out as soon as a reply is in,
 * before its entries are handled, so an entry appended meanwhile finds a read waiting for it; except while
 * the node paces its inbox (an entry of the last reply made it wait): then the next read goes out once the
 * reply is handled, so what the node cannot take yet stays in the stream. A read that fails (Redis away) is
 * tried again; ioredis resends it once Redis is back. The read position is only in memory: after a restart
 * the node reads again from its checkpoint, which has only the entries wholly handled behind it.
 */
export async function readInboxLoop(
  reader: Redis,
  key: string,
  from: string,
  handler: InboxHandler,
  node: { closing: () => boolean; logger: () => BrokerLogger },
): Promise<void> {
  const read = (after: string): Promise<InboxReply> => {
    const reply = reader.xreadBuffer(
      'COUNT',
      INBOX_BATCH,
      'BLOCK',
      INBOX_BLOCK_MS,
      'STREAMS',
      key,
      after,
    ) as Promise<InboxReply>;
    // Still out when the node closes: its connection is hung up, and nobody waits for it.
    reply.catch(() => undefined);
    return reply;
  };
  let last = from;
  let next: Promise<InboxReply> | undefined;
  let paced = false;
  while (!node.closing()) {
    let reply: InboxReply;
    try {
      reply = await (next ?? read(last));
    } catch (err) {
      if (node.closing()) return;
      node.logger().warn({ err }, 'cluster inbox read failed; retrying');
      next = undefined;
      await sleep(200);
      continue;
    }
    next = undefined;
    if (node.closing()) return;
    const entries = reply?.[0]?.[1];
    const newest = entries?.[entries.length - 1];
    if (entries === undefined || newest === undefined) {
      // Nothing came within the block time: read up.
      handler.caughtUp();
      continue;
    }
    last = newest[0].toString();
    // The next read goes out now, while these entries are handled; unless the handler had the last ones
    // ahead already (over a link) and reads lazily: then after these, and after the wait it asks for.
    const lazy = paced ? undefined : handler.lazyRead?.();
    if (!paced && lazy === undefined) next = read(last);
    paced = false;
    for (const [id, fields] of entries) {
      const entryId = id.toString();
      try {
        const waiting = handler.entry(parseEntry(entryId, fields));
        if (waiting !== undefined) {
          paced = true;
          await waiting;
        }
      } catch (err) {
        node.logger().error({ err, entry: entryId }, 'cluster inbox entry could not be processed');
      }
      if (node.closing()) return;
    }
    if (!paced && entries.length < INBOX_BATCH) handler.caughtUp();
    if (lazy !== undefined) await lazy;
  }
}

/** An inbox stream entry (field/value list) by its first field: `b` batch, `e` evict, `h` handoff. */
export function parseEntry(id: string, fields: Buffer[]): InboxEntry {
  const values = new Map<string, Buffer>();
  for (let i = 0; i + 1 < fields.length; i += 2)
    values.set((fields[i] as Buffer).toString(), fields[i + 1] as Buffer);
  const from = values.get('f')?.toString() ?? '';
  const batch = values.get('b');
  if (batch !== undefined) return { kind: 'batch', id, from, batch, stamp: values.get('s')?.toString() };
  const evicted = values.get('e');
  if (evicted !== undefined)
    return {
      kind: 'evict',
      id,
      from,
      clientId: evicted.toString(),
      epoch: Number(values.get('ep')?.toString()),
    };
  return {
    kind: 'handoff',
    id,
    from,
    clientId: values.get('h')?.toString() ?? '',
    delivery: values.get('d') ?? Buffer.alloc(0),
    stamp: values.get('s')?.toString(),
  };
}

/** The URL without its password, for logs and errors. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}

/** Close a connection unless it is already closed (ioredis would otherwise hold a 2 s timer for nothing). */
export function hangUp(redis: Redis): void {
  if (redis.status !== 'end') redis.disconnect();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
