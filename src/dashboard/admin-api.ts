import type { IncomingMessage, ServerResponse } from 'node:http';
import { type AdminAuth, isRefusal, type Principal, refuseCrossSite, SESSION_COOKIE } from './admin-auth.js';
import type { AdminPort } from './admin-port.js';
import { ApiRequestError, parsePublishBody, QueryParams, utf8OrUndefined } from './api-params.js';
import { EventStream, readJsonBody, sendError, sendJson } from './http-util.js';
import type { StatsRecorder } from './stats-history.js';
import type { RetainedMessageView } from './wire-types.js';

/** Where the API lives; `/api/v1/stats` under it stays the HTTP listener's. */
export const API_PREFIX = '/api/v1/';
/** Live streams served at once; beyond it the stream request gets 503. */
const MAX_STREAMS = 64;
/** Entries of each list in a session's details, unless the caller asks for another number. */
const DEFAULT_DETAIL_ITEMS = 100;

type Method = 'GET' | 'POST' | 'DELETE';

interface Call {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly query: QueryParams;
  /** The path's `{id}` part, decoded. */
  readonly id: string;
  readonly principal: Principal;
}

interface Route {
  readonly method: Method;
  /** Path segments after `/api/v1/`; `{id}` matches one segment. */
  readonly path: readonly string[];
  /** Whether the caller must be authenticated (everything but whoami and login). */
  readonly auth: boolean;
  /** A write only role admin may make (all but logout). */
  readonly needsAdmin: boolean;
  run(call: Call): Promise<void>;
}

/** Where an unexpected failure is reported (the broker's logger). */
export interface ApiLogger {
  error(obj: object, msg?: string): void;
}

/**
 * The admin REST API and its live stream. Every answer is JSON; every list is paged (`offset`, `limit`);
 * a bad parameter is a 400 naming it; 401 without credentials, 403 for a wrong role or a write that fails
 * the CSRF checks, 429 while an address is locked out for wrong passwords.
 */
export class AdminApi {
  /** Open live streams, each with the check that its caller may still read. */
  private readonly streams = new Map<EventStream, () => boolean>();
  private readonly routes: readonly Route[];
  private readonly stopPoints: () => void;

  constructor(
    private readonly port: AdminPort,
    private readonly auth: AdminAuth,
    private readonly recorder: StatsRecorder,
    private readonly logger: ApiLogger,
  ) {
    this.stopPoints = recorder.onPoint((point) => {
      for (const [stream, allowed] of this.streams) {
        // A stream outlives nothing it was authorized by: logout, expiry or a removed user ends it.
        if (allowed()) stream.send('sample', point);
        else stream.close();
      }
    });
    this.routes = this.buildRoutes();
  }

  /** Answer one request whose path starts with `/api/v1/`. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    try {
      await this.dispatch(req, res, url);
    } catch (err) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof ApiRequestError) sendError(res, err.status, err.message);
      else {
        this.logger.error({ err, path: url.pathname }, 'admin API request failed');
        sendError(res, 500, 'internal error');
      }
    }
  }

  /** End every live stream (before the HTTP server closes, or it would wait for them). */
  close(): void {
    this.stopPoints();
    for (const stream of this.streams.keys()) stream.close();
    this.streams.clear();
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const segments = url.pathname.slice(API_PREFIX.length).split('/');
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    let id = '';
    const matching = this.routes.filter((route) => {
      if (route.path.length !== segments.length) return false;
      return route.path.every((part, i) => part === '{id}' || part === segments[i]);
    });
    if (matching.length === 0) {
      sendError(res, 404, `no such API route: ${url.pathname}`);
      return;
    }
    const route = matching.find((r) => r.method === method);
    if (route === undefined) {
      const allow = matching.map((r) => r.method).join(', ');
      sendError(res, 405, `${req.method} is not allowed here; use ${allow}`, { allow });
      return;
    }
    const at = route.path.indexOf('{id}');
    if (at >= 0) {
      try {
        id = decodeURIComponent(segments[at] ?? '');
      } catch {
        throw new ApiRequestError(400, `bad path: '${segments[at]}' is not valid percent-encoding`);
      }
    }
    const query = new QueryParams(url.searchParams);
    if (!route.auth) {
      await route.run({
        req,
        res,
        query,
        id,
        principal: { username: undefined, role: 'read-only', mode: 'open', csrfToken: undefined },
      });
      return;
    }
    const outcome = await this.auth.authenticate(req);
    if (isRefusal(outcome)) {
      const headers: Record<string, string> = {};
      if (outcome.retryAfter !== undefined) headers['retry-after'] = String(outcome.retryAfter);
      // The page sends X-Requested-With: a browser shown a Basic challenge would pop up its own login box.
      if (outcome.status === 401 && req.headers['x-requested-with'] === undefined)
        headers['www-authenticate'] = 'Basic realm="starling admin", charset="UTF-8"';
      sendError(res, outcome.status, outcome.error, headers);
      return;
    }
    if (method !== 'GET') {
      const refusal = this.auth.refuseWrite(req, outcome, route.needsAdmin);
      if (refusal !== undefined) {
        sendError(res, 403, refusal);
        return;
      }
    }
    await route.run({ req, res, query, id, principal: outcome });
  }

  private buildRoutes(): Route[] {
    const port = this.port;
    const get = (path: string, run: (call: Call) => Promise<void>): Route => ({
      method: 'GET',
      path: path.split('/'),
      auth: true,
      needsAdmin: false,
      run,
    });
    const write = (method: Method, path: string, run: (call: Call) => Promise<void>): Route => ({
      method,
      path: path.split('/'),
      auth: true,
      needsAdmin: true,
      run,
    });
    return [
      { method: 'GET', path: ['whoami'], auth: false, needsAdmin: false, run: (call) => this.whoami(call) },
      { method: 'POST', path: ['login'], auth: false, needsAdmin: false, run: (call) => this.login(call) },
      { ...write('POST', 'logout', (call) => this.logout(call)), needsAdmin: false },
      get('stats/history', async ({ res, query }) => {
        query.done();
        sendJson(res, 200, this.recorder.history());
      }),
      get('live', async ({ req, res, query, principal }) => this.live(req, res, query, principal)),
      get('clients', async ({ res, query }) => {
        const search = query.text('search');
        const page = query.page();
        query.done();
        sendJson(res, 200, await port.clients({ ...page, search }));
      }),
      get('clients/{id}', async ({ res, query, id }) => {
        const items = query.integer('items', 0, 10_000, DEFAULT_DETAIL_ITEMS);
        query.done();
        const details = await port.session(id, items);
        if (details?.client === undefined) sendError(res, 404, `client '${id}' is not connected`);
        else sendJson(res, 200, details);
      }),
      write('POST', 'clients/{id}/disconnect', async ({ res, query, id }) => {
        query.done();
        if (await port.disconnectClient(id)) sendJson(res, 200, { disconnected: id });
        else sendError(res, 404, `client '${id}' is not connected`);
      }),
      get('sessions', async ({ res, query }) => {
        const search = query.text('search');
        const connected = query.boolean('connected');
        const page = query.page();
        query.done();
        sendJson(res, 200, await port.sessions({ ...page, search, connected }));
      }),
      get('sessions/{id}', async ({ res, query, id }) => {
        const items = query.integer('items', 0, 10_000, DEFAULT_DETAIL_ITEMS);
        query.done();
        const details = await port.session(id, items);
        if (details === undefined) sendError(res, 404, `no session for client '${id}'`);
        else sendJson(res, 200, details);
      }),
      write('DELETE', 'sessions/{id}', async ({ res, query, id }) => {
        query.done();
        if (await port.deleteSession(id)) sendJson(res, 200, { deleted: id });
        else sendError(res, 404, `no session for client '${id}'`);
      }),
      get('subscriptions', async ({ res, query }) => {
        const clientId = query.text('clientId');
        const search = query.text('search');
        const page = query.page();
        query.done();
        sendJson(res, 200, await port.subscriptions({ ...page, clientId, search }));
      }),
      get('retained', async ({ res, query }) => {
        const filter = query.topicFilter('filter', '#');
        const page = query.page();
        query.done();
        sendJson(res, 200, await port.retained({ ...page, filter }));
      }),
      get('retained/message', async ({ res, query }) => {
        const topic = query.topicName('topic');
        query.done();
        const message = await port.retainedMessage(topic);
        if (message === undefined) {
          sendError(res, 404, `no retained message at '${topic}'`);
          return;
        }
        const view: RetainedMessageView = {
          ...message,
          payloadText: utf8OrUndefined(Buffer.from(message.payloadBase64, 'base64')),
        };
        sendJson(res, 200, view);
      }),
      write('DELETE', 'retained/message', async ({ res, query }) => {
        const topic = query.topicName('topic');
        query.done();
        if (await port.deleteRetained(topic)) sendJson(res, 200, { deleted: topic });
        else sendError(res, 404, `no retained message at '${topic}'`);
      }),
      get('topics', async ({ res, query }) => {
        const parent = query.text('parent');
        const page = query.page();
        query.done();
        if (parent !== undefined && !validTreePath(parent))
          throw new ApiRequestError(400, `bad parameter 'parent': '${parent}' is not a topic or filter path`);
        const children = await port.topicChildren({ ...page, parent });
        if (children === undefined) sendError(res, 404, `no topic tree node '${parent}'`);
        else sendJson(res, 200, children);
      }),
      get('listeners', async ({ res, query }) => {
        query.done();
        sendJson(res, 200, { items: await port.listeners() });
      }),
      get('cluster', async ({ res, query }) => {
        query.done();
        const nodes = await port.clusterNodes();
        sendJson(res, 200, { clustered: nodes.length > 0, items: nodes });
      }),
      write('POST', 'publish', async ({ req, res, query }) => {
        query.done();
        const message = parsePublishBody(await readJsonBody(req));
        const deliveries = await port.publish(message);
        sendJson(res, 200, { topic: message.topic, deliveries });
      }),
    ];
  }

  private async logout({ req, res, query }: Call): Promise<void> {
    query.done();
    this.auth.logout(req);
    const cookie = `${SESSION_COOKIE}=; ${cookieAttributes(req)}; Max-Age=0`;
    sendJson(res, 200, { loggedOut: true }, { 'set-cookie': cookie });
  }

  private async whoami({ req, res, query }: Call): Promise<void> {
    query.done();
    sendJson(res, 200, this.auth.whoami(await this.auth.authenticate(req)));
  }

  private async login({ req, res, query }: Call): Promise<void> {
    query.done();
    const crossSite = refuseCrossSite(req);
    if (crossSite !== undefined) throw new ApiRequestError(403, crossSite);
    const body = await readJsonBody(req);
    const { username, password } = (typeof body === 'object' && body !== null ? body : {}) as Record<
      string,
      unknown
    >;
    if (typeof username !== 'string' || username === '')
      throw new ApiRequestError(400, "bad field 'username': must be a non-empty string");
    if (typeof password !== 'string')
      throw new ApiRequestError(400, "bad field 'password': must be a string");
    const result = await this.auth.login(req, username, password);
    if (isRefusal(result)) {
      const headers: Record<string, string> = {};
      if (result.retryAfter !== undefined) headers['retry-after'] = String(result.retryAfter);
      sendError(res, result.status, result.error, headers);
      return;
    }
    sendJson(res, 200, this.auth.whoami(result.principal), {
      'set-cookie': `${SESSION_COOKIE}=${result.cookie}; ${cookieAttributes(req)}`,
    });
  }

  /** Server-sent events: `history` (everything kept) once, then a `sample` each second. */
  private async live(
    req: IncomingMessage,
    res: ServerResponse,
    query: QueryParams,
    principal: Principal,
  ): Promise<void> {
    query.done();
    if (this.streams.size >= MAX_STREAMS) {
      sendError(res, 503, `too many live streams open (${MAX_STREAMS})`);
      return;
    }
    if (req.method === 'HEAD') {
      sendJson(res, 200, {});
      return;
    }
    const stream = new EventStream(res);
    this.streams.set(stream, () => this.auth.stillValid(req, principal));
    stream.onClose(() => this.streams.delete(stream));
    stream.send('history', this.recorder.history());
  }
}

/** HttpOnly (no script reads it), SameSite=Strict (no other site sends it), Secure over TLS. */
function cookieAttributes(req: IncomingMessage): string {
  const secure = (req.socket as { encrypted?: boolean }).encrypted === true ? '; Secure' : '';
  return `Path=/; HttpOnly; SameSite=Strict${secure}`;
}

/** A tree path: a topic name whose levels may also be a whole `+` or `#` (a filter without `$share`). */
function validTreePath(path: string): boolean {
  if (path.includes('\u0000')) return false;
  return path.split('/').every((level) => level === '+' || level === '#' || !/[+#]/.test(level));
}
