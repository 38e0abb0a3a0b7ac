/** The topic trie as an operator's topic tree shows it: one level, and what sits at and below it. */
import type { TopicNode } from './topic-node.js';

/** One level of the trie as `children` describes it. */
export interface TopicLevel {
  readonly level: string;
  /** Levels directly below. */
  readonly children: number;
  /** A retained message is stored at exactly this level. */
  readonly retained: boolean;
  /** Retained messages at this level and below. */
  readonly retainedBelow: number;
  /** Subscriptions whose filter ends exactly here (shared members counted one by one). */
  readonly subscriptions: number;
}

/** The levels directly below `node`, literal levels sorted, then `+` and `#` (see `TopicIndex.children`). */
export function levelsBelow<S, R>(node: TopicNode<S, R>): TopicLevel[] {
  const entries: [string, TopicNode<S, R>][] = [...(node.children ?? [])];
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (node.plus !== undefined) entries.push(['+', node.plus]);
  if (node.hash !== undefined) entries.push(['#', node.hash]);
  return entries.map(([level, child]) => ({
    level,
    children: (child.children?.size ?? 0) + (child.plus ? 1 : 0) + (child.hash ? 1 : 0),
    retained: child.retained !== undefined,
    retainedBelow: child.retainedBelow,
    subscriptions:
      child.subscriberCount +
      (child.extras?.shared?.items.reduce((sum, group) => sum + group.members.size, 0) ?? 0),
  }));
}
