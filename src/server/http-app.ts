import type { Engine } from '../broker/engine.js';
import {
  createDashboard,
  type DashboardHandler,
  type DashboardOptions,
} from '../dashboard/dashboard-handler.js';
import type { ClusterNodeInfo } from '../dashboard/wire-types.js';
import type { HttpRequestHandler } from '../listeners/http.js';
import type { Listener, ListenerAddress } from '../listeners/listener.js';
import { adminPort } from './admin-port.js';
import { OperationsEndpoints } from './ops-http.js';

/** The dashboard as a Broker option: admin users (and tuning), or false for the operations endpoints only. */
export type DashboardSetting = false | Omit<DashboardOptions, 'port' | 'logger'>;

/** What the HTTP application reads besides the engine. */
export interface HttpAppSources {
  readonly listeners: () => readonly {
    readonly listener: Listener;
    readonly address: ListenerAddress | undefined;
  }[];
  readonly isUp: () => boolean;
  readonly clusterNodes: () => Promise<readonly ClusterNodeInfo[]>;
  /** Labels on every `/metrics` sample (a cluster's `node`). */
  readonly metricLabels?: Readonly<Record<string, string>>;
  /** More `/metrics` text (a cluster's own metrics). */
  readonly extraMetrics?: () => string;
}

/**
 * What every HTTP listener of a broker serves: the dashboard and admin API (made when the first HTTP listener
 * opens), then the operations endpoints (`/healthz`, `/metrics`, `/api/v1/stats`).
 */
export class HttpApp {
  private readonly ops: OperationsEndpoints;
  private dashboard: DashboardHandler | undefined;
  readonly handle: HttpRequestHandler = (req, res) => {
    if (this.dashboard?.handle(req, res) === true) return;
    this.ops.handle(req, res);
  };

  constructor(
    private readonly engine: Engine,
    private readonly setting: DashboardSetting,
    private readonly sources: HttpAppSources,
  ) {
    this.ops = new OperationsEndpoints(engine, sources.isUp, sources.metricLabels, sources.extraMetrics);
  }

  get dashboardHandler(): DashboardHandler | undefined {
    return this.dashboard;
  }

  /** An HTTP listener opened: measure the event loop, and mount the dashboard unless turned off. */
  start(): void {
    this.ops.start();
    if (this.setting === false || this.dashboard !== undefined) return;
    const engine = this.engine;
    this.dashboard = createDashboard({
      ...this.setting,
      port: adminPort(engine, { listeners: this.sources.listeners, clusterNodes: this.sources.clusterNodes }),
      logger: engine.logger,
    });
    if (this.dashboard.notice !== undefined) engine.logger.warn({}, this.dashboard.notice);
  }

  /** End the live streams and the sampling, before the HTTP listeners close. */
  close(): void {
    this.dashboard?.close();
    this.dashboard = undefined;
    this.ops.stop();
  }
}
