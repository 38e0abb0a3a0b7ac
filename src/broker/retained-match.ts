/** The walk behind `TopicIndex.matchRetained`: the retained messages a topic filter matches, found in the trie. */
import type { TopicNode } from './topic-node.js';

const DOLLAR = 0x24;

/**
 * Visit every retained message under `root` whose topic matches `filter` (see `TopicIndex.matchRetained`);
 * returns how many trie nodes the walk examined.
 */
export function matchRetainedIn<S, R>(
  root: TopicNode<S, R>,
  filter: string,
  visit: (topic: string, value: R) => void,
): number {
  const levels = filter.split('/');
  // Local stacks: `visit` may call back into the index, even into another matchRetained.
  const nodes: TopicNode<S, R>[] = [root];
  const depths: number[] = [0];
  let visits = 0;
  while (nodes.length > 0) {
    const node = nodes.pop()!;
    const depth = depths.pop()!;
    visits++;
    if (node.retainedBelow === 0) continue;
    if (depth === levels.length) {
      if (node.retained !== undefined) visit(node.retainedTopic, node.retained);
      continue;
    }
    const level = levels[depth]!;
    if (level === '#') {
      // `#` matches this node (its parent level, 4.7.1.2) and every level below it: the children
      // stay at the same filter depth so each of them is matched against `#` again.
      if (node.retained !== undefined) visit(node.retainedTopic, node.retained);
      pushChildren(node, depth, node === root, nodes, depths);
    } else if (level === '+') {
      pushChildren(node, depth + 1, node === root, nodes, depths);
    } else {
      const child = node.children?.get(level);
      if (child !== undefined && child.retainedBelow > 0) {
        nodes.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return visits;
}

/** Queues the literal children that hold retained messages, all at filter depth `depth`. */
function pushChildren<S, R>(
  node: TopicNode<S, R>,
  depth: number,
  firstLevel: boolean,
  nodes: TopicNode<S, R>[],
  depths: number[],
): void {
  if (node.children === undefined) return;
  for (const [key, child] of node.children) {
    if (child.retainedBelow === 0) continue;
    // [MQTT-4.7.2-1] a wildcard as the first filter level never matches a `$` topic.
    if (firstLevel && key.charCodeAt(0) === DOLLAR) continue;
    nodes.push(child);
    depths.push(depth);
  }
}
