/**
 * The controller's connection to one agent: the WebSocket with the token, request/answer pairs (hello,
 * time exchanges, prepare), the run's one-way messages, the agent's stream of ticks, and liveness: an
 * agent whose connection closes or that stops answering pings is lost, and says why.
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { type RawData, WebSocket } from 'ws';
import type { LocalPlan } from '../local-runner.js';
import { nowMillis } from '../payload.js';
import type { ClockTable } from '../scenarios/common.js';
import { type ClockEstimate, ClockEstimator } from './clock-sync.js';
import {
  AGENT_PROTOCOL,
  type AgentInfo,
  type AgentPartResult,
  decodeFromAgent,
  encodeMessage,
  type FromAgent,
  type ToAgent,
} from './protocol.js';

/** A tick from the agent. */
export type AgentTick = Extract<FromAgent, { type: 'tick' }>;

/** Events of an {@link AgentLink}. */
export interface AgentLinkEvents {
  tick: [AgentTick];
  subscribed: [];
  published: [];
  'stop-request': [string];
  /** The agent is gone: connection closed or no answer. Emitted once. */
  lost: [string];
}

/** How to reach the agents. */
export interface AgentConnectOptions {
  /** The shared token, sent as `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** Bound on connecting and on each answer, default 10 000 ms. */
  readonly timeoutMs?: number;
  /**
   * An agent that sends nothing and answers no ping for this long is lost, default 30 000 ms: a generator
   * on a saturated machine can stall for seconds (slow binds, CPU starvation) and still be working.
   */
  readonly livenessMs?: number;
}

/** `host:port` (or a ws:// URL) as the WebSocket URL of the agent. */
export function agentUrl(endpoint: string): string {
  if (/^wss?:\/\//.test(endpoint)) return endpoint;
  if (!/^(\[[0-9a-fA-F:.]+\]|[^:\s/]+):\d{1,5}$/.test(endpoint)) {
    throw new RangeError(`an agent is HOST:PORT (or ws://HOST:PORT), got '${endpoint}'`);
  }
  return `ws://${endpoint}/`;
}

function refusal(endpoint: string, status: number | undefined): string {
  switch (status) {
    case 401:
      return `agent ${endpoint} refused the token (wrong or missing --token)`;
    case 403:
      return `agent ${endpoint} has no token and serves loopback controllers only`;
    case 409:
      return `agent ${endpoint} is busy with another controller`;
    default:
      return `agent ${endpoint} refused the connection (HTTP ${status ?? '?'})`;
  }
}

/** One agent, as the controller sees it. */
export class AgentLink extends EventEmitter<AgentLinkEvents> {
  readonly name: string;
  readonly clock = new ClockEstimator();
  #info: AgentInfo | undefined;
  readonly #ws: WebSocket;
  readonly #timeoutMs: number;
  #lost: string | undefined;
  #nextId = 1;
  readonly #waiting = new Map<
    string,
    { resolve: (message: FromAgent) => void; reject: (error: Error) => void }
  >();
  #lastPongAt = Date.now();
  #pinger: NodeJS.Timeout | undefined;

  private constructor(name: string, ws: WebSocket, options: AgentConnectOptions) {
    super();
    this.name = name;
    this.#ws = ws;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    ws.on('message', (data: RawData) => {
      // Any message shows the agent alive, as a pong does.
      this.#lastPongAt = Date.now();
      this.#onMessage(data.toString());
    });
    ws.on('pong', () => {
      this.#lastPongAt = Date.now();
    });
    ws.on('close', (code, reason) =>
      this.#onLost(`connection closed (${code}${reason.length > 0 ? ` ${reason.toString()}` : ''})`),
    );
    ws.on('error', (error) => this.#onLost(`connection error: ${error.message}`));
    const liveness = options.livenessMs ?? 30_000;
    this.#pinger = setInterval(
      () => {
        if (Date.now() - this.#lastPongAt > liveness) {
          this.#onLost(`no answer for ${Math.round(liveness / 1000)} s`);
          ws.terminate();
          return;
        }
        if (ws.readyState === ws.OPEN) ws.ping();
      },
      Math.min(1000, liveness / 3),
    );
    this.#pinger.unref();
  }

  /** Connects to the agent at `endpoint` (`host:port`); rejects with a sentence saying why it could not. */
  static connect(endpoint: string, options: AgentConnectOptions = {}): Promise<AgentLink> {
    const url = agentUrl(endpoint);
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, {
        handshakeTimeout: options.timeoutMs ?? 10_000,
        maxPayload: 1024 * 1024 * 1024,
        ...(options.token === undefined ? {} : { headers: { authorization: `Bearer ${options.token}` } }),
      });
      const fail = (message: string): void => {
        ws.removeAllListeners();
        ws.on('error', () => undefined);
        ws.terminate();
        reject(new Error(message));
      };
      ws.once('unexpected-response', (_request, response: IncomingMessage) => {
        response.resume();
        fail(refusal(endpoint, response.statusCode));
      });
      ws.once('error', (error: Error & { code?: string }) => {
        fail(
          error.code === 'ECONNREFUSED'
            ? `cannot reach agent ${endpoint}: connection refused (is 'starling bench agent' running there?)`
            : `cannot reach agent ${endpoint}: ${error.message}`,
        );
      });
      ws.once('open', () => {
        ws.removeAllListeners();
        resolve(new AgentLink(endpoint, ws, options));
      });
    });
  }

  /** What the agent said about itself in `hello`. */
  get info(): AgentInfo | undefined {
    return this.#info;
  }

  /** Why the agent was lost; undefined while it is there. */
  get lost(): string | undefined {
    return this.#lost;
  }

  /** The current offset estimate; zero with no exchange yet. */
  get estimate(): ClockEstimate {
    return (
      this.clock.estimate() ?? {
        offsetMs: 0,
        uncertaintyMs: Number.POSITIVE_INFINITY,
        delayMs: 0,
        samples: 0,
      }
    );
  }

  /** Asks the agent who it is. */
  async hello(version: string): Promise<AgentInfo> {
    const reply = await this.#ask('info', { type: 'hello', protocol: AGENT_PROTOCOL, version });
    if (reply.type !== 'info') throw new Error(`agent ${this.name} answered hello with ${reply.type}`);
    this.#info = reply.info;
    return reply.info;
  }

  /** One time exchange, added to the estimator. */
  async exchangeTime(): Promise<void> {
    const id = this.#nextId++;
    const t1 = nowMillis();
    const reply = await this.#ask(`time:${id}`, { type: 'time', id, t1 });
    const t4 = nowMillis();
    if (reply.type === 'time') this.clock.add({ t1, t2: reply.t2, t3: reply.t3, t4 });
  }

  /** `count` exchanges `spacingMs` apart (a burst before the run: the lowest round trip wins). */
  async syncClock(count: number, spacingMs: number): Promise<ClockEstimate> {
    for (let i = 0; i < count; i++) {
      await this.exchangeTime();
      if (i < count - 1) await new Promise((resolve) => setTimeout(resolve, spacingMs));
    }
    return this.estimate;
  }

  /** Hands the agent its part; rejects with the agent's reason when it refuses. */
  async prepare(runId: string, agent: number, plan: LocalPlan, clockOffsetMs: number): Promise<void> {
    // Forking the part's processes and probing the broker take a while.
    const reply = await this.#ask(
      `prepare:${runId}`,
      { type: 'prepare', runId, agent, plan, clockOffsetMs },
      60_000,
    );
    if (reply.type === 'refused') throw new Error(`agent ${this.name} refused its part: ${reply.reason}`);
  }

  /** Resolves with the part's result; rejects when the part failed or the agent was lost. */
  result(runId: string): Promise<AgentPartResult> {
    return new Promise((resolve, reject) => {
      if (this.#lost !== undefined) {
        reject(new Error(this.#lost));
        return;
      }
      this.#waiting.set(`result:${runId}`, {
        resolve: (message) => {
          if (message.type === 'result') resolve(message.result);
          else if (message.type === 'failed') reject(new Error(`its part failed: ${message.reason}`));
        },
        reject,
      });
    });
  }

  start(runId: string, atMs: number): void {
    this.#send({ type: 'start', runId, atMs });
  }

  publish(runId: string, atMs: number): void {
    this.#send({ type: 'publish', runId, atMs });
  }

  publishersDone(runId: string): void {
    this.#send({ type: 'publishers-done', runId });
  }

  setClock(runId: string, clock: ClockTable): void {
    this.#send({ type: 'clock', runId, clock });
  }

  stop(runId: string, reason: string): void {
    this.#send({ type: 'stop', runId, reason });
  }

  /**
   * Closes the connection (the agent stops whatever it still runs for us) and resolves once it is closed,
   * so the agent is free for the next controller.
   */
  async close(): Promise<void> {
    clearInterval(this.#pinger);
    this.#lost ??= 'closed by the controller';
    const ws = this.#ws;
    if (ws.readyState === ws.CLOSED) return;
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    if (ws.readyState === ws.OPEN) ws.close(1000);
    else if (ws.readyState === ws.CONNECTING) ws.terminate();
    const timer = setTimeout(() => ws.terminate(), 2000);
    await closed;
    clearTimeout(timer);
  }

  /** Declares the agent lost (e.g. killed by the test, or no result in time). */
  markLost(reason: string): void {
    this.#onLost(reason);
    this.#ws.terminate();
  }

  #send(message: ToAgent): void {
    if (this.#ws.readyState === this.#ws.OPEN) this.#ws.send(encodeMessage(message));
  }

  #ask(key: string, message: ToAgent, timeoutMs = this.#timeoutMs): Promise<FromAgent> {
    if (this.#lost !== undefined) return Promise.reject(new Error(`agent ${this.name} lost: ${this.#lost}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(key);
        reject(new Error(`agent ${this.name} did not answer ${message.type} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiting.set(key, {
        resolve: (reply) => {
          clearTimeout(timer);
          resolve(reply);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.#send(message);
    });
  }

  #answer(key: string, message: FromAgent): void {
    const waiter = this.#waiting.get(key);
    if (waiter === undefined) return;
    this.#waiting.delete(key);
    waiter.resolve(message);
  }

  #onMessage(text: string): void {
    let message: FromAgent;
    try {
      message = decodeFromAgent(text);
    } catch (error) {
      this.markLost((error as Error).message);
      return;
    }
    switch (message.type) {
      case 'info':
        this.#answer('info', message);
        return;
      case 'time':
        this.#answer(`time:${message.id}`, message);
        return;
      case 'prepared':
      case 'refused':
        this.#answer(`prepare:${message.runId}`, message);
        return;
      case 'tick':
        this.emit('tick', message);
        return;
      case 'subscribed':
        this.emit('subscribed');
        return;
      case 'published':
        this.emit('published');
        return;
      case 'stop-request':
        this.emit('stop-request', message.reason);
        return;
      case 'result':
      case 'failed':
        this.#answer(`result:${message.runId}`, message);
        return;
    }
  }

  #onLost(reason: string): void {
    if (this.#lost !== undefined) return;
    this.#lost = reason;
    clearInterval(this.#pinger);
    const error = new Error(reason);
    for (const waiter of this.#waiting.values()) waiter.reject(error);
    this.#waiting.clear();
    this.emit('lost', reason);
  }
}
