/** The dashboard layer's public surface: the broker dashboard handler, its port, and the load-run dashboard. */

export type { AdminUser } from './admin-auth.js';
export { OPEN_DASHBOARD_NOTICE } from './admin-auth.js';
export type {
  AdminPort,
  AdminPublish,
  AdminStats,
  ClientQuery,
  PageQuery,
  RetainedQuery,
  SessionQuery,
  SubscriptionQuery,
  TopicQuery,
} from './admin-port.js';
export { type BenchDashboard, type BenchDashboardOptions, startBenchDashboard } from './bench-dashboard.js';
export type { BenchLiveAgentRow, BenchLiveSample } from './bench-live.js';
export { createDashboard, type DashboardHandler, type DashboardOptions } from './dashboard-handler.js';
export { collectPage, containsFolded } from './paging.js';
export type * from './wire-types.js';
