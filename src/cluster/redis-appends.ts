/**
 * The commit of a turn that only appends to other nodes' inboxes and moves this node's checkpoint (no
 * session, retained, route or ownership change, nothing to send again): plain commands instead of the
 * commit script (see `RedisSessionStore.commit`).
 */
import type { Redis } from 'ioredis';
import type { Arg } from './commit-retry.js';

/**
 * A batch of `X node stamp batch` appends and at most one `C id` checkpoint, as plain commands: each
 * append an `XADD ... NOMKSTREAM` (a node's inbox exists exactly while it is registered, see `OPEN_INBOX` in
 * `redis-scripts.ts`, so an append to a node taken over is refused, as the script's check refuses it),
 * the checkpoint a SET and an XTRIM; several commands go as one MULTI/EXEC, all or nothing like the
 * script. Redis runs an XADD in a fraction of the script's time (no Lua, no copy of the batch into a Lua
 * string). Resolves like the script: `!node` for each append refused.
 */
export async function appendOnly(
  redis: Redis,
  prefix: string,
  nodeId: string,
  args: readonly Arg[],
): Promise<string[]> {
  /** Each append's node and the index of its command. */
  const appends: [string, number][] = [];
  const commands: Arg[][] = [];
  for (let i = 0; i < args.length; ) {
    if (args[i] === 'X') {
      const node = String(args[i + 1]);
      appends.push([node, commands.length]);
      commands.push([
        'XADD',
        `${prefix}in:${node}`,
        'NOMKSTREAM',
        '*',
        'b',
        args[i + 3] as Buffer,
        'f',
        nodeId,
        's',
        args[i + 2] as string,
      ]);
      i += 4;
    } else {
      const id = String(args[i + 1]);
      commands.push(['SET', `${prefix}cp:${nodeId}`, id]);
      commands.push(['XTRIM', `${prefix}in:${nodeId}`, 'MINID', id]);
      i += 2;
    }
  }
  let replies: unknown[];
  if (commands.length === 1) {
    const [name, ...rest] = commands[0] as [string, ...Arg[]];
    replies = [await redis.call(name, ...rest)];
  } else {
    const multi = redis.multi();
    for (const [name, ...rest] of commands as [string, ...Arg[]][]) multi.call(name, ...rest);
    const results = (await multi.exec()) ?? [];
    if (results.length !== commands.length) throw new Error('cluster commit: the transaction was discarded');
    replies = results.map(([err, reply]) => {
      if (err !== null) throw err;
      return reply;
    });
  }
  return appends.filter(([, at]) => replies[at] === null).map(([node]) => `!${node}`);
}
