/**
 * The broker `starling bench` runs against when no -H/--url is given: a Starling broker in its own child
 * process (so the load generator's CPU and the broker's are measured apart and do not share an event loop),
 * listening on a free port on 127.0.0.1, stopped when the run ends.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Broker } from '../index.js';

/** A running embedded broker. */
export interface EmbeddedBroker {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** Stops the broker process (SIGKILL after `timeoutMs`, default 3000). */
  stop(timeoutMs?: number): Promise<void>;
}

type FromBroker =
  | { readonly type: 'listening'; readonly port: number }
  | { readonly type: 'error'; readonly message: string };

/** The module to fork for a given file of this directory: the .ts source under tsx, the .js build otherwise. */
export function siblingModule(name: string): { path: string; execArgv: string[] } {
  const underTsx = import.meta.url.endsWith('.ts');
  const path = fileURLToPath(new URL(`./${name}.${underTsx ? 'ts' : 'js'}`, import.meta.url));
  // Only the loader is passed on: the parent's own execArgv may hold `-e <script>` (the CLI under tsx).
  return { path, execArgv: underTsx ? ['--import', 'tsx'] : [] };
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Starts the broker process; rejects when it cannot listen within `timeoutMs` (default 15000). */
export async function startEmbeddedBroker(
  options: { timeoutMs?: number; sysIntervalSeconds?: number } = {},
): Promise<EmbeddedBroker> {
  const { path, execArgv } = siblingModule('embedded-broker');
  const child = fork(path, [String(options.sysIntervalSeconds ?? 1)], {
    execArgv,
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('the embedded broker did not start in time'));
    }, options.timeoutMs ?? 15_000);
    child.once('message', (message: FromBroker) => {
      clearTimeout(timer);
      if (message.type === 'listening') resolve(message.port);
      else reject(new Error(`the embedded broker failed: ${message.message}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the embedded broker exited (code ${code})`));
    });
  });
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    pid: child.pid ?? 0,
    async stop(timeoutMs = 3000) {
      if (child.connected) child.send('stop');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited(child);
      clearTimeout(timer);
    },
  };
}

/** Child side: serve until told to stop or until the parent goes away. */
async function serveBroker(): Promise<void> {
  // Ctrl-C goes to the whole process group; the bench stops the broker after printing its results.
  process.on('SIGINT', () => undefined);
  const sysInterval = Number(process.argv[2] ?? '1');
  const broker = new Broker({ sysInterval });
  let address: { port: number };
  try {
    address = await broker.listen({ host: '127.0.0.1', port: 0 });
  } catch (error) {
    process.send?.({ type: 'error', message: error instanceof Error ? error.message : String(error) });
    process.exit(1);
  }
  const stop = (): void => {
    const forced = setTimeout(() => process.exit(0), 2000);
    forced.unref();
    broker.close().then(
      () => process.exit(0),
      () => process.exit(0),
    );
  };
  process.on('message', (message) => {
    if (message === 'stop') stop();
  });
  process.on('disconnect', stop);
  process.send?.({ type: 'listening', port: address.port });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href)
  void serveBroker();
