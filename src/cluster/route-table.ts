import { TopicIndex } from '../broker/topic-index.js';
import { parseSharedFilter } from '../packets/topic.js';
import type { RouteTableSnapshot } from './backend.js';

/**
 * This node's copy of the cluster's route table: which nodes have local subscribers for which filters,
 * and which nodes are members of which shared groups, in a topic trie (the engine's `TopicIndex`, keyed by
 * node id), so routing a message costs one trie walk whatever the number of filters. This node's own routes
 * are in it too (counted per local subscriber, so the backend hears only of a route's first and last one).
 */
export class RouteTable {
  readonly index = new TopicIndex<string, never>();
  /** Route key (a filter, or `$share/G/F`) -> local client ids subscribed with it. */
  private readonly local = new Map<string, Set<string>>();
  /** Other node -> its route keys. */
  private readonly remote = new Map<string, Set<string>>();
  private remoteCount = 0;

  constructor(readonly self: string) {}

  /** True when another node has any route (otherwise the local index alone routes). */
  get hasRemote(): boolean {
    return this.remoteCount > 0;
  }

  /** Route keys with local subscribers. */
  localKeys(): IterableIterator<string> {
    return this.local.keys();
  }

  /** Nodes with routes, this one included when it has any. */
  nodes(): string[] {
    const out = [...this.remote.keys()];
    if (this.local.size > 0) out.push(this.self);
    return out;
  }

  routesOf(node: string): number {
    return node === this.self ? this.local.size : (this.remote.get(node)?.size ?? 0);
  }

  /** A local subscription was added; true when it is the key's first here (the backend must hear of it). */
  addLocal(key: string, clientId: string): boolean {
    let clients = this.local.get(key);
    const first = clients === undefined;
    if (clients === undefined) {
      clients = new Set();
      this.local.set(key, clients);
      this.insert(this.self, key);
    }
    clients.add(clientId);
    return first;
  }

  /** A local subscription was removed; true when it was the key's last here. */
  removeLocal(key: string, clientId: string): boolean {
    const clients = this.local.get(key);
    if (clients === undefined || !clients.delete(clientId) || clients.size > 0) return false;
    this.local.delete(key);
    this.delete(this.self, key);
    return true;
  }

  /** Another node's route came or went. */
  setRemote(node: string, key: string, added: boolean): void {
    if (node === this.self) return;
    let keys = this.remote.get(node);
    if (added) {
      if (keys === undefined) {
        keys = new Set();
        this.remote.set(node, keys);
      }
      if (keys.has(key)) return;
      keys.add(key);
      this.remoteCount++;
      this.insert(node, key);
    } else {
      if (keys === undefined || !keys.delete(key)) return;
      this.remoteCount--;
      this.delete(node, key);
      if (keys.size === 0) this.remote.delete(node);
    }
  }

  /** A node left: every route of it goes. */
  dropNode(node: string): void {
    const keys = this.remote.get(node);
    if (keys === undefined) return;
    for (const key of [...keys]) this.setRemote(node, key, false);
  }

  /** The other nodes' routes as read from the backend (at start, or after a reconnect). */
  replaceRemote(snapshot: RouteTableSnapshot): void {
    for (const node of [...this.remote.keys()]) {
      if (!snapshot.has(node)) this.dropNode(node);
    }
    for (const [node, keys] of snapshot) {
      if (node === this.self) continue;
      const wanted = new Set(keys);
      for (const key of [...(this.remote.get(node) ?? [])])
        if (!wanted.has(key)) this.setRemote(node, key, false);
      for (const key of wanted) this.setRemote(node, key, true);
    }
  }

  private insert(node: string, key: string): void {
    const shared = parseSharedFilter(key);
    if (shared === undefined) this.index.subscribe(node, key, node);
    else this.index.subscribe(node, shared.filter, node, shared.group);
  }

  private delete(node: string, key: string): void {
    const shared = parseSharedFilter(key);
    if (shared === undefined) this.index.unsubscribe(node, key);
    else this.index.unsubscribe(node, shared.filter, shared.group);
  }
}
