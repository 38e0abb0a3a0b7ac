/**
 * Topic index match throughput: 10 000 subscriptions, a quarter of them with wildcards, matched against
 * a fixed set of random topic names.
 *
 *   node --import tsx bench/topic-index.bench.ts        (from source)
 *   node dist/bench/topic-index.bench.js                (after `npm run build`)
 *
 * Options: `--seconds N` (default 2) and `--subscriptions N` (default 10000).
 */
import { performance } from 'node:perf_hooks';
import { type MatchResult, TopicIndex } from '../src/broker/topic-index.js';
import { parseArgs } from './lib/cli-args.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '2' },
    subscriptions: { type: 'string', default: '10000' },
  },
});
const seconds = Number(values.seconds);
const subscriptionTarget = Number(values.subscriptions);

const SITES = 50;
const DEVICES = 200;
const METRICS = ['temp', 'hum', 'state'] as const;
const TOPIC_POOL = 4096;
// Bounds both ways: at most this many matches, and at most `seconds` of wall time.
const MAX_MATCHES = 50_000_000;
const CHECK_EVERY = 4096;

/** Deterministic pseudo-random numbers (a 32-bit xorshift), so runs compare with each other. */
function makeRandom(seed: number): (bound: number) => number {
  let state = seed >>> 0 || 1;
  return (bound) => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state % bound;
  };
}

const random = makeRandom(0x5eed);
const pick = <T>(items: readonly T[]): T => items[random(items.length)]!;

const index = new TopicIndex<number, never>();
const mix = { exact: 0, plus: 0, hash: 0, mixed: 0, shared: 0 };
for (let n = 0; index.subscriptionCount < subscriptionTarget && n < subscriptionTarget * 10; n++) {
  const client = `client-${random(2000)}`;
  const site = random(SITES);
  const device = random(DEVICES);
  const metric = pick(METRICS);
  const roll = random(100);
  if (roll < 75) {
    index.subscribe(client, `site/${site}/dev/${device}/${metric}`, 0);
    mix.exact++;
  } else if (roll < 88) {
    index.subscribe(client, `site/${site}/dev/+/${metric}`, 1);
    mix.plus++;
  } else if (roll < 96) {
    index.subscribe(client, `site/${site}/dev/${device}/#`, 1);
    mix.hash++;
  } else if (roll < 99) {
    index.subscribe(client, `site/+/dev/${device}/+`, 2);
    mix.mixed++;
  } else {
    index.subscribe(client, `site/${site}/#`, 1, `workers-${random(4)}`);
    mix.shared++;
  }
}

const topics: string[] = [];
for (let i = 0; i < TOPIC_POOL; i++) {
  topics.push(`site/${random(SITES)}/dev/${random(DEVICES)}/${pick(METRICS)}`);
}

const out: MatchResult<number> = { subscribers: [], shared: [] };
let delivered = 0;

function runFor(limitMs: number, maxMatches: number): { matches: number; elapsedMs: number } {
  const start = performance.now();
  let matches = 0;
  let elapsedMs = 0;
  while (matches < maxMatches) {
    for (let i = 0; i < CHECK_EVERY; i++) {
      out.subscribers.length = 0;
      out.shared.length = 0;
      index.match(topics[(matches + i) & (TOPIC_POOL - 1)]!, out);
      delivered += out.subscribers.length + out.shared.length;
    }
    matches += CHECK_EVERY;
    elapsedMs = performance.now() - start;
    if (elapsedMs >= limitMs) break;
  }
  return { matches, elapsedMs };
}

// Warm-up lets the JIT settle before measuring.
runFor(Math.min(500, seconds * 250), MAX_MATCHES);
delivered = 0;
const heapBefore = process.memoryUsage().heapUsed;
const { matches, elapsedMs } = runFor(seconds * 1000, MAX_MATCHES);
const heapAfter = process.memoryUsage().heapUsed;

const perSecond = matches / (elapsedMs / 1000);
console.log(
  `topic-index: ${index.subscriptionCount} subscriptions (subscribe calls: exact ${mix.exact}, a/+/b ${mix.plus}, a/# ${mix.hash}, ` +
    `+/x/+ ${mix.mixed}, shared ${mix.shared}), ${index.nodeCount} nodes`,
);
console.log(
  `match: ${Math.round(perSecond).toLocaleString('en-US')} matches/s ` +
    `(${((elapsedMs * 1e6) / matches).toFixed(0)} ns/match, ${(delivered / matches).toFixed(2)} entries/match, ` +
    `${matches.toLocaleString('en-US')} matches in ${(elapsedMs / 1000).toFixed(2)} s, ` +
    `heap ${((heapAfter - heapBefore) / 1024 / 1024).toFixed(1)} MiB delta)`,
);
