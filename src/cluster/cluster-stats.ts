/** The cluster's own counters on this node, for `/metrics` and `$SYS/broker/cluster/...`. */
export class ClusterStats {
  /** Messages sent to another node (one per message and node), by QoS. */
  readonly forwarded: [number, number, number] = [0, 0, 0];
  /** Messages from other nodes processed here (inbox and QoS 0 channel). */
  received = 0;
  /** QoS 0 messages for other nodes dropped while the backend was unavailable. */
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
}
