/**
 * What a refused commit sends again. Several commits may be in flight, and Redis may refuse one and take the
 * next: out of memory it refuses writes (HSET, SADD, XADD) but still takes deletions (HDEL, DEL, SREM). So a
 * delivery saved by a refused commit and deleted by the next (the subscriber acknowledged it at once) would
 * come back if the save were simply sent again. Before it is kept for the retry, a refused batch loses every
 * write that a batch sent after it rewrites or deletes: that later batch's state is the newer one, whether
 * it was taken or is itself retried (after this one).
 *
 * Operations as in `COMMIT_SCRIPT` (`redis-scripts.ts`): a code, then a fixed number of arguments.
 */
/** One argument of the commit script. */
export type Arg = string | Buffer;

/** Arguments after the code, per operation. */
const ARITY: Readonly<Record<string, number>> = {
  S: 3,
  D: 2,
  B: 4,
  b: 3,
  Q: 5,
  U: 4,
  q: 3,
  I: 3,
  i: 3,
  W: 3,
  L: 2,
  R: 2,
  r: 1,
  X: 3,
  A: 1,
  a: 1,
  H: 4,
  C: 1,
};

/** Writes a later operation on the same record makes moot (deletions and appends are always kept). */
const WRITES = new Set(['S', 'B', 'Q', 'U', 'I', 'W', 'R', 'A']);
/** Operations on a session's hash, which a later session deletion (`D`) makes moot. */
const SESSION_HASH = new Set(['S', 'B', 'Q', 'U', 'I']);

/** The record an operation writes or deletes (a delivery's state update names its delivery), if any. */
function recordOf(op: string, args: readonly Arg[], at: number): string | undefined {
  const first = String(args[at + 1]);
  switch (op) {
    case 'S':
      return `S ${first}`;
    case 'B':
    case 'b':
      return `B ${first}\n${String(args[at + 3])}`;
    case 'Q':
    case 'U':
    case 'q':
      return `Q ${first}\n${String(args[at + 3])}`;
    case 'I':
    case 'i':
      return `I ${first}\n${String(args[at + 3])}`;
    case 'W':
      return `W ${first}`;
    case 'R':
    case 'r':
      return `R ${first}`;
    case 'A':
    case 'a':
      return `A ${first}`;
    default:
      return undefined;
  }
}

/** Call `visit(op, at)` for each operation of a batch (`at`: the index of its code). */
function eachOp(args: readonly Arg[], visit: (op: string, at: number) => void): void {
  for (let at = 0; at < args.length; ) {
    const op = String(args[at]);
    const arity = ARITY[op];
    if (arity === undefined) throw new Error(`cluster commit: unknown operation ${op}`);
    visit(op, at);
    at += 1 + arity;
  }
}

/** `refused` without the writes that a batch in `later` (sent after it) rewrites or deletes. */
export function withoutSuperseded(refused: readonly Arg[], later: readonly (readonly Arg[])[]): Arg[] {
  const touched = new Set<string>();
  const deletedSessions = new Set<string>();
  for (const batch of later) {
    eachOp(batch, (op, at) => {
      if (op === 'D') deletedSessions.add(String(batch[at + 1]));
      // A state update alone does not replace the delivery it names.
      else if (op !== 'U') {
        const record = recordOf(op, batch, at);
        if (record !== undefined) touched.add(record);
      }
    });
  }
  if (touched.size === 0 && deletedSessions.size === 0) return [...refused];
  const kept: Arg[] = [];
  eachOp(refused, (op, at) => {
    if (WRITES.has(op)) {
      const record = recordOf(op, refused, at);
      if (record !== undefined && touched.has(record)) return;
      if (SESSION_HASH.has(op) && deletedSessions.has(String(refused[at + 1]))) return;
    }
    for (let i = at; i <= at + (ARITY[op] as number); i++) kept.push(refused[i] as Arg);
  });
  return kept;
}
