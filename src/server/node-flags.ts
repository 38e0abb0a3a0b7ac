/**
 * The V8 flags `starling` runs Node with: its bin's shebang and `npm start` pass them (a test checks that they
 * match this list), and the benchmarks start their Starling processes with them, to measure what users run.
 * A program that embeds `Broker` chooses its own.
 *
 * - `--max-semi-space-size=4`: V8's young generation stays at 4 MiB semi-spaces instead of growing to 16
 *   during a burst of connections, which would add about 1 KiB per client at 5 000 clients (README, "Memory
 *   after a burst").
 * - `--no-allocation-site-pretenuring`: V8 allocates objects from an allocation site straight in the old
 *   generation once most of them outlived a young collection. In the first second of a fan-out to a
 *   thousand readers that never read, one turn lasts half a second, every parsed packet outlives a young
 *   collection, and V8 decided (`--trace-pretenuring`) to allocate every later one in the old generation: a
 *   full mark-compact every 80-100 ms for the rest of the run (13 a second against none), and the healthy
 *   reader's rate held at 150-250k msg/s instead of 250-450k. Messages live for microseconds here, so the
 *   guess does not pay; without it the broker benchmark's rows did not move (3 alternated rounds).
 */
export const BROKER_NODE_FLAGS: readonly string[] = [
  '--max-semi-space-size=4',
  '--no-allocation-site-pretenuring',
];
