import type { IncomingMessage, ServerResponse } from 'node:http';
import { AdminApi, API_PREFIX, type ApiLogger } from './admin-api.js';
import { AdminAuth, type AdminAuthOptions, type AdminUser } from './admin-auth.js';
import type { AdminPort } from './admin-port.js';
import { sendError } from './http-util.js';
import { StaticAssets } from './static-assets.js';
import { type StatsHistoryOptions, StatsRecorder } from './stats-history.js';

export interface DashboardOptions {
  /** The broker, seen through the dashboard's port. */
  readonly port: AdminPort;
  /** Admin users from the config; none means loopback-only without login. */
  readonly users?: readonly AdminUser[];
  readonly logger?: ApiLogger;
  readonly auth?: AdminAuthOptions;
  readonly stats?: StatsHistoryOptions;
  /** Directory of the bundled page (default: next to this module in dist). */
  readonly assetDir?: string;
}

/**
 * The broker dashboard as an HTTP request handler, to mount on the broker's HTTP port ahead of its own
 * routes. It answers `/` (the page), `/assets/*` (its script and style) and `/api/v1/*` except
 * `/api/v1/stats`, and leaves every other request to the next handler.
 */
export interface DashboardHandler {
  /** Answer the request if it is the dashboard's; false leaves it untouched for the next handler. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  /** A line to log at start (as a warning) when there is something to say: see OPEN_DASHBOARD_NOTICE. */
  readonly notice: string | undefined;
  /** Replace the admin users (a config reload). */
  setUsers(users: readonly AdminUser[]): void;
  /** Stop sampling and end the live streams; call before closing the HTTP server. */
  close(): void;
}

/** Paths the HTTP listener keeps answering itself. */
const LISTENER_PATHS = new Set(['/api/v1/stats']);

/** Build the dashboard handler and start sampling the broker once a second. */
export function createDashboard(options: DashboardOptions): DashboardHandler {
  const logger = options.logger ?? { error() {} };
  const auth = new AdminAuth(options.users ?? [], options.auth);
  const recorder = new StatsRecorder(options.port, {
    ...options.stats,
    onError:
      options.stats?.onError ?? ((err) => logger.error({ err }, 'dashboard: reading broker stats failed')),
  });
  const api = new AdminApi(options.port, auth, recorder, logger);
  const assets = new StaticAssets(options.assetDir);
  recorder.start();
  return {
    notice: auth.notice,
    setUsers: (users) => auth.setUsers(users),
    handle(req, res) {
      let url: URL;
      try {
        url = new URL(req.url ?? '/', 'http://dashboard.invalid');
      } catch {
        return false;
      }
      const path = url.pathname;
      if (path.startsWith(API_PREFIX) && !LISTENER_PATHS.has(path)) {
        void api.handle(req, res, url);
        return true;
      }
      const asset = path === '/' || path === '/index.html' ? 'broker.html' : StaticAssets.fromPath(path);
      if (asset === undefined) return false;
      if (req.method !== 'GET' && req.method !== 'HEAD')
        sendError(res, 405, `${req.method} is not allowed here`, { allow: 'GET, HEAD' });
      else assets.serve(res, asset);
      return true;
    },
    close() {
      recorder.stop();
      api.close();
    },
  };
}
