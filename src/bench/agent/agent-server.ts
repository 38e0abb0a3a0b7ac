/**
 * `starling bench agent`: a long-running process that takes parts of distributed bench runs from a
 * controller over one WebSocket. One controller at a time (another gets 409 Busy); a controller must send
 * the shared token (`Authorization: Bearer <token>`, 401 otherwise). Without a token the agent only listens
 * on a loopback address and only serves loopback peers: a load generator that anyone on the network could
 * drive would be a weapon.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { availableParallelism, freemem, hostname, totalmem } from 'node:os';
import type { Duplex } from 'node:stream';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import { nowMillis } from '../payload.js';
import { localPortsInUse, readSystemLimits } from '../system-limits.js';
import { AgentPart } from './agent-part.js';
import {
  AGENT_PROTOCOL,
  type AgentInfo,
  decodeToAgent,
  encodeMessage,
  type FromAgent,
  type ToAgent,
} from './protocol.js';

/** Options of a {@link BenchAgent}. */
export interface BenchAgentOptions {
  /** Address to listen on; a non-loopback one needs a token. */
  readonly host: string;
  /** Port, 0 for a free one. */
  readonly port: number;
  /** The shared token controllers must present; none: loopback only. */
  readonly token?: string;
  /** The agent's Starling version, reported to controllers (which refuse a different one). */
  readonly version: string;
  /** Local addresses keepalive connections bind, round-robin. */
  readonly sourceAddresses?: readonly string[];
  /** Where the agent says what it does; default nowhere. */
  readonly log?: (line: string) => void;
}

/** Largest control message accepted: plans are small; results come the other way. */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** True for 127.0.0.0/8, ::1 (also IPv4-mapped) and `localhost`. */
function isLoopbackAddress(address: string): boolean {
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1' || address === 'localhost';
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** True when `header` is `Bearer <token>`; compared in constant time. */
function tokenMatches(header: string | undefined, token: string): boolean {
  const given = header?.startsWith('Bearer ') === true ? header.slice('Bearer '.length) : '';
  return timingSafeEqual(digest(given), digest(token));
}

function refuseUpgrade(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\n${text}\n`);
}

/** What this agent and its machine are. */
export function agentInfo(version: string, sourceAddresses: readonly string[]): AgentInfo {
  const limits = readSystemLimits();
  const used = limits.portRange === undefined ? undefined : localPortsInUse(limits.portRange);
  return {
    protocol: AGENT_PROTOCOL,
    version,
    hostname: hostname(),
    platform: process.platform,
    pid: process.pid,
    cores: availableParallelism(),
    totalMemoryBytes: totalmem(),
    freeMemoryBytes: freemem(),
    openFilesSoft: limits.openFilesSoft ?? null,
    openFilesHard: limits.openFilesHard ?? null,
    portRange: limits.portRange ?? null,
    freePorts:
      limits.portRange === undefined || used === undefined
        ? null
        : limits.portRange.high - limits.portRange.low + 1 - used,
    sourceAddresses,
  };
}

/** A bench agent serving controllers. */
export class BenchAgent {
  readonly options: BenchAgentOptions;
  readonly #http: Server;
  readonly #wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  readonly #sessions = new Set<Session>();
  /** The previous controller's part, still winding down; the next controller's waits for it. */
  #windingDown: Promise<void> = Promise.resolve();

  constructor(options: BenchAgentOptions) {
    if (options.token === undefined && !isLoopbackAddress(options.host)) {
      throw new RangeError(
        `listening on ${options.host} needs a token (--token or STARLING_AGENT_TOKEN): without one an agent serves loopback only`,
      );
    }
    if (options.token !== undefined && options.token.length < 8) {
      throw new RangeError('the token must have at least 8 characters');
    }
    this.options = options;
    this.#http = createServer((_request, response) => {
      response.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
      response.end('starling bench agent: controllers connect with a WebSocket\n');
    });
    this.#http.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.#onUpgrade(request, socket, head),
    );
  }

  /** Starts listening; resolves with the address (the port chosen when 0 was given). */
  listen(): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.#http.once('error', reject);
      this.#http.listen(this.options.port, this.options.host, () => {
        this.#http.off('error', reject);
        const address = this.#http.address();
        const port = typeof address === 'object' && address !== null ? address.port : this.options.port;
        resolve({ host: this.options.host, port });
      });
    });
  }

  /** Stops any run in progress, closes the controller's connection and stops listening. */
  async close(): Promise<void> {
    await Promise.all([...this.#sessions].map((session) => session.close('agent shutting down')));
    this.#wss.close();
    await new Promise<void>((resolve) => this.#http.close(() => resolve()));
  }

  #log(line: string): void {
    this.options.log?.(line);
  }

  #onUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const peer = `${request.socket.remoteAddress ?? '?'}:${request.socket.remotePort ?? '?'}`;
    const { token } = this.options;
    if (token === undefined) {
      if (!isLoopbackAddress(request.socket.remoteAddress ?? '')) {
        this.#log(`refused ${peer}: not a loopback peer and this agent has no token`);
        refuseUpgrade(socket, 403, 'Forbidden');
        return;
      }
    } else if (!tokenMatches(request.headers.authorization, token)) {
      this.#log(`refused ${peer}: wrong or missing token`);
      refuseUpgrade(socket, 401, 'Unauthorized');
      return;
    }
    // A controller whose connection is already closing no longer counts: it is on its way out.
    if ([...this.#sessions].some((session) => session.open)) {
      this.#log(`refused ${peer}: busy with another controller`);
      refuseUpgrade(socket, 409, 'Busy');
      return;
    }
    this.#wss.handleUpgrade(request, socket, head, (ws) => {
      this.#log(`controller ${peer} connected`);
      const session = new Session(ws, this.options, (line) => this.#log(line), this.#windingDown);
      this.#sessions.add(session);
      ws.once('close', () => {
        this.#sessions.delete(session);
        this.#windingDown = session.close('controller gone');
        this.#log(`controller ${peer} disconnected`);
      });
    });
  }
}

/** One controller's connection. */
class Session {
  readonly #ws: WebSocket;
  readonly #options: BenchAgentOptions;
  readonly #log: (line: string) => void;
  readonly #previous: Promise<void>;
  #part: AgentPart | undefined;
  #running: Promise<void> = Promise.resolve();

  constructor(
    ws: WebSocket,
    options: BenchAgentOptions,
    log: (line: string) => void,
    previous: Promise<void>,
  ) {
    this.#ws = ws;
    this.#options = options;
    this.#log = log;
    this.#previous = previous;
    ws.on('message', (data: RawData, isBinary: boolean) => {
      // Stamped first, so the time exchange's t2 is as close to the arrival as it can be.
      const receivedAt = nowMillis();
      if (isBinary) {
        this.#protocolError('binary frames are not part of the protocol');
        return;
      }
      let message: ToAgent;
      try {
        message = decodeToAgent(data.toString());
      } catch (error) {
        this.#protocolError((error as Error).message);
        return;
      }
      void this.#handle(message, receivedAt);
    });
  }

  /** True while the controller's connection is open. */
  get open(): boolean {
    return this.#ws.readyState === this.#ws.OPEN;
  }

  /** Stops the part (its result still goes out if the socket is open) and closes the connection. */
  async close(reason: string): Promise<void> {
    const part = this.#part;
    if (part !== undefined) {
      part.stop(reason);
      await part.dismiss();
      // A stopped part ends within its clients' close timeouts; bounded all the same.
      await Promise.race([this.#running, new Promise((resolve) => setTimeout(resolve, 15_000).unref())]);
    }
    if (this.#ws.readyState === this.#ws.OPEN) this.#ws.close(1000, reason.slice(0, 100));
  }

  #send(message: FromAgent): void {
    if (this.#ws.readyState === this.#ws.OPEN) this.#ws.send(encodeMessage(message));
  }

  #protocolError(reason: string): void {
    this.#log(`closing the controller's connection: ${reason}`);
    this.#ws.close(1002, reason.slice(0, 100));
  }

  /** The part of `runId`, when it is the current one. */
  #current(runId: string): AgentPart | undefined {
    return this.#part?.runId === runId ? this.#part : undefined;
  }

  async #handle(message: ToAgent, receivedAt: number): Promise<void> {
    switch (message.type) {
      case 'hello':
        if (message.protocol !== AGENT_PROTOCOL) {
          this.#log(`controller speaks protocol ${message.protocol}, this agent ${AGENT_PROTOCOL}`);
        }
        this.#send({
          type: 'info',
          info: agentInfo(this.#options.version, this.#options.sourceAddresses ?? []),
        });
        return;
      case 'time':
        this.#send({ type: 'time', id: message.id, t1: message.t1, t2: receivedAt, t3: nowMillis() });
        return;
      case 'prepare': {
        if (this.#part !== undefined) {
          this.#send({ type: 'refused', runId: message.runId, reason: 'a run is already in progress here' });
          return;
        }
        // The previous controller's processes must be gone before this one's are counted against the limits.
        await this.#previous;
        const part = await AgentPart.prepare(
          message,
          (reply) => this.#send(reply),
          this.#options.sourceAddresses ?? [],
        );
        if (part === undefined) {
          this.#log(`run ${message.runId}: refused`);
          return;
        }
        if (this.#ws.readyState !== this.#ws.OPEN) {
          await part.dismiss();
          return;
        }
        this.#part = part;
        this.#log(`run ${message.runId}: prepared ${part.processes} process(es)`);
        return;
      }
      case 'start': {
        const part = this.#current(message.runId);
        if (part === undefined) return;
        this.#log(`run ${message.runId}: starting`);
        this.#running = part.start(message.atMs);
        await this.#running;
        this.#log(`run ${message.runId}: done`);
        if (this.#part === part) this.#part = undefined;
        return;
      }
      case 'publish':
        this.#current(message.runId)?.publish(message.atMs);
        return;
      case 'publishers-done':
        this.#current(message.runId)?.publishersDone();
        return;
      case 'clock':
        this.#current(message.runId)?.setClock(message.clock);
        return;
      case 'stop': {
        const part = this.#current(message.runId);
        if (part === undefined) return;
        this.#log(`run ${message.runId}: stopping (${message.reason})`);
        part.stop(message.reason);
        // A part stopped before it started ends here; a running one sends its partial result.
        await part.dismiss();
        return;
      }
    }
  }
}
