import { hostname } from 'node:os';
import type { Engine } from '../broker/engine.js';
import type { NodeInfo, NodeRecord } from './backend.js';
import type { NodeLinks } from './node-links.js';
import { bootId } from './predecessor.js';

/** The cluster's own counters on this node, for `/metrics` and `$SYS/broker/cluster/...`. */
export class ClusterStats {
  /** Messages sent to another node (one per message and node), by QoS. */
  readonly forwarded: [number, number, number] = [0, 0, 0];
  /** Messages from other nodes processed here (inbox and QoS 0 channel). */
  received = 0;
  /** QoS 0 messages for other nodes dropped: the backend was unavailable, or the node's link was backed up. */
  qos0Dropped = 0;
  /** Deliveries handed here by a session's previous owner after a take-over. */
  handoffs = 0;
  /** Sessions another node took over from this one. */
  evictions = 0;
  /** Dead nodes taken over by this one, and their sessions. */
  nodesAdopted = 0;
  sessionsAdopted = 0;
  /** Writes the backend skipped: sessions this node no longer owned. */
  fencedWrites = 0;
  /** Times the backend connection came back after a loss. */
  reconnects = 0;
  /** Inbox entries dropped as a second copy of one processed before (an append resent after a lost reply). */
  duplicatesDropped = 0;
  /** Inbox appends delivered ahead, from the copy their sender sent over a direct link. */
  earlyDelivered = 0;
  /** Time the inbox reader waited for local subscribers to drain their queues (ms). */
  inboxWaitMs = 0;
  /** Sessions the inbox reader stopped waiting for: their queue did not move for `STALL_MS`. */
  inboxStalled = 0;
  /** Times the inbox reader stopped waiting, behind for `MAX_BEHIND_MS`. */
  inboxOverdue = 0;
}

/** The cluster's metrics in Prometheus text format, every sample labelled with the node. */
export function clusterMetrics(
  nodeId: string,
  s: ClusterStats,
  nodesAlive: number,
  backendUp: boolean,
  links?: { readonly framesSent: number; readonly framesReceived: number },
): string {
  const lines: string[] = [];
  const node = `node="${nodeId.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
  const metric = (name: string, type: string, help: string, samples: readonly [string, number][]): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) lines.push(`${name}{${node}${labels}} ${value}`);
  };
  metric('starling_cluster_nodes', 'gauge', 'Nodes alive in the cluster, as last seen.', [['', nodesAlive]]);
  metric('starling_cluster_backend_up', 'gauge', '1 while the cluster backend answers.', [
    ['', backendUp ? 1 : 0],
  ]);
  metric(
    'starling_cluster_forwarded_total',
    'counter',
    'Messages sent to other nodes (one per message and node), by QoS.',
    s.forwarded.map((value, qos) => [`,qos="${qos}"`, value] as const),
  );
  const counters: [string, string, number][] = [
    ['received', 'Messages from other nodes processed here.', s.received],
    [
      'qos0_dropped',
      "QoS 0 messages for other nodes dropped while the backend was away or the node's link was backed up.",
      s.qos0Dropped,
    ],
    ['handoffs', "Deliveries handed over by a session's previous owner.", s.handoffs],
    ['evictions', 'Sessions other nodes took over from this one.', s.evictions],
    ['nodes_adopted', 'Dead nodes taken over by this one.', s.nodesAdopted],
    ['sessions_adopted', 'Sessions taken over from dead nodes.', s.sessionsAdopted],
    ['fenced_writes', 'Writes skipped for sessions this node no longer owned.', s.fencedWrites],
    ['reconnects', 'Times the backend connection came back.', s.reconnects],
    [
      'duplicates_dropped',
      'Inbox entries dropped as a resent copy of one processed before.',
      s.duplicatesDropped,
    ],
    [
      'early_delivered',
      'Inbox appends delivered ahead, from the copy their sender sent over the direct link.',
      s.earlyDelivered,
    ],
    [
      'inbox_stalled',
      'Sessions the inbox reader stopped waiting for: their queue did not move for 500 ms.',
      s.inboxStalled,
    ],
    ['inbox_overdue', 'Times the inbox reader stopped waiting for subscribers, 5 s behind.', s.inboxOverdue],
  ];
  for (const [name, help, value] of counters)
    metric(`starling_cluster_${name}_total`, 'counter', help, [['', value]]);
  metric(
    'starling_cluster_inbox_wait_seconds_total',
    'counter',
    'Time the inbox reader waited for local subscribers to drain their queues.',
    [['', s.inboxWaitMs / 1000]],
  );
  if (links !== undefined)
    metric(
      'starling_cluster_link_frames_total',
      'counter',
      'Frames over the direct links to the other nodes.',
      [
        [',direction="sent"', links.framesSent],
        [',direction="received"', links.framesReceived],
      ],
    );
  return `${lines.join('\n')}\n`;
}

/** `$SYS/broker/cluster/...` values: this node's id, and the totals of the nodes alive in the registry. */
export function clusterTotals(
  nodeId: string,
  nodes: readonly NodeRecord[],
  stats: ClusterStats,
): Record<string, string | number> {
  const alive = nodes.filter((n) => n.alive && n.info !== undefined);
  const sum = (pick: (info: NodeInfo) => number): number =>
    alive.reduce((total, n) => total + pick(n.info as NodeInfo), 0);
  return {
    node: nodeId,
    nodes: alive.length,
    'clients/connected': sum((i) => i.clients),
    'clients/total': sum((i) => i.sessions),
    'subscriptions/count': sum((i) => i.subscriptions),
    'publish/messages/received': sum((i) => i.messagesReceived),
    'publish/messages/sent': sum((i) => i.messagesSent),
    'forwarded/messages': stats.forwarded[0] + stats.forwarded[1] + stats.forwarded[2],
    'forwarded/dropped': stats.qos0Dropped,
  };
}

/** What this node says of itself in the registry (refreshed with each heartbeat). */
export function nodeInfo(engine: Engine | undefined, links: NodeLinks | undefined): NodeInfo {
  let subscriptions = 0;
  if (engine !== undefined) for (const s of engine.sessions.values()) subscriptions += s.subscriptions.size;
  return {
    startedAt: engine?.stats.startedAt ?? Date.now(),
    pid: process.pid,
    host: hostname(),
    boot: bootId(),
    link: links?.address,
    linkTls: links?.tls === true,
    clients: engine?.stats.clientsConnected ?? 0,
    sessions: engine?.sessions.size ?? 0,
    subscriptions,
    retained: engine?.router.count ?? 0,
    messagesReceived: engine?.stats.messagesReceived ?? 0,
    messagesSent: engine?.stats.messagesSent ?? 0,
  };
}
