/**
 * Starts a real `mosquitto` broker for tests: its own temporary configuration, loopback listeners on
 * free ports, started and stopped by the test. Needs the `mosquitto` binary (Debian package `mosquitto`).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

/** Options of {@link startMosquitto}. */
export interface MosquittoOptions {
  /** Accept clients without credentials, default true. */
  allowAnonymous?: boolean;
  /** Also open a WebSocket listener (`protocol websockets`), default false. */
  websockets?: boolean;
  /** MQTT port to listen on, default a free one (pass the old port to restart "the same" broker). */
  port?: number;
  /** WebSocket port, default a free one. */
  wsPort?: number;
  /** user name -> password, written to a password file with `mosquitto_passwd`. */
  users?: Record<string, string>;
  /** Extra configuration lines, e.g. `max_inflight_messages 2`. */
  config?: string[];
  /** How long to wait for the listeners to accept connections, default 5000 ms. */
  startTimeoutMs?: number;
}

/** A running mosquitto. */
export interface MosquittoBroker {
  port: number;
  wsPort?: number;
  /** `mqtt://127.0.0.1:<port>` */
  url: string;
  /** `ws://127.0.0.1:<wsPort>` when websockets are on. */
  wsUrl?: string;
  /** Stops the broker and removes its temporary directory. */
  stop(): Promise<void>;
}

/** A port that was free a moment ago (bound to 0 and released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Starts mosquitto and resolves once every listener accepts connections. */
export async function startMosquitto(options: MosquittoOptions = {}): Promise<MosquittoBroker> {
  const port = options.port ?? (await freePort());
  const wsPort = options.websockets === true ? (options.wsPort ?? (await freePort())) : undefined;
  const dir = mkdtempSync(join(tmpdir(), 'starling-mosquitto-'));
  const lines = [
    'per_listener_settings false',
    `allow_anonymous ${options.allowAnonymous === false ? 'false' : 'true'}`,
    'persistence false',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    // Running as root, mosquitto would switch to the `mosquitto` user; stay as whoever runs the tests.
    `user ${userInfo().username}`,
    `listener ${port} 127.0.0.1`,
  ];
  if (wsPort !== undefined) lines.push(`listener ${wsPort} 127.0.0.1`, 'protocol websockets');
  if (options.users !== undefined) {
    const passwordFile = join(dir, 'passwords');
    writeFileSync(passwordFile, '', { mode: 0o600 });
    for (const [user, password] of Object.entries(options.users)) {
      execFileSync('mosquitto_passwd', ['-b', passwordFile, user, password], { stdio: 'ignore' });
    }
    lines.push(`password_file ${passwordFile}`);
  }
  lines.push(...(options.config ?? []));
  const configFile = join(dir, 'mosquitto.conf');
  writeFileSync(configFile, `${lines.join('\n')}\n`);

  const child = spawn('mosquitto', ['-c', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  let spawnError: Error | undefined;
  child.once('error', (error) => {
    spawnError = error;
  });

  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited(child);
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 5000);
  const ports = wsPort === undefined ? [port] : [port, wsPort];
  for (let attempt = 0; attempt < 500; attempt++) {
    if (spawnError !== undefined || child.exitCode !== null) {
      await stop();
      throw new Error(`mosquitto did not start: ${spawnError?.message ?? stderr}`);
    }
    const ready = await Promise.all(ports.map(canConnect));
    if (ready.every(Boolean)) {
      const broker: MosquittoBroker = { port, url: `mqtt://127.0.0.1:${port}`, stop };
      if (wsPort !== undefined) {
        broker.wsPort = wsPort;
        broker.wsUrl = `ws://127.0.0.1:${wsPort}`;
      }
      return broker;
    }
    if (Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await stop();
  throw new Error(`mosquitto did not accept connections on ${ports.join(', ')}: ${stderr}`);
}
