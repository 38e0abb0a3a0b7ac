/**
 * /metrics and /api/v1/stats keep answering when the process has run out of file descriptors (a
 * connection flood reaches the limit): process.memoryUsage() needs a descriptor to read /proc and throws
 * EMFILE then, which used to escape the request handler and end the whole broker process.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('../support/emfile-http-broker.js', import.meta.url));
let child: ChildProcess | undefined;
after(() => {
  child?.kill('SIGKILL');
});

function get(agent: http.Agent, port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
  });
}

test('with no file descriptor left, /metrics and /api/v1/stats still answer and the broker lives', async () => {
  // A low descriptor limit so exhausting it is quick; the HTTP connection is opened before, kept alive.
  child = spawn('sh', ['-c', `ulimit -n 128 && exec "${process.execPath}" "${CHILD}"`], {
    env: { ...process.env, STARLING_EMFILE_CHILD: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async (): Promise<string> => {
    const line = await lines.next();
    if (line.done === true) throw new Error(`child ended: ${stderr}`);
    return line.value;
  };
  const port = Number((await next()).replace('port ', ''));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    assert.equal((await get(agent, port, '/healthz')).status, 200);
    child.stdin?.write('exhaust\n');
    assert.match(await next(), /^exhausted \d+$/);
    const metrics = await get(agent, port, '/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.body, /^starling_memory_bytes\{kind="heapUsed"\} \d+$/m);
    assert.match(
      metrics.body,
      /^starling_memory_bytes\{kind="rss"\} NaN$/m,
      'RSS unknown without a descriptor',
    );
    const stats = await get(agent, port, '/api/v1/stats');
    assert.equal(stats.status, 200);
    assert.ok((JSON.parse(stats.body) as { memory: { heapUsed: number } }).memory.heapUsed > 0);
    assert.equal(child.exitCode, null, `the broker process is still running\n${stderr}`);
  } finally {
    agent.destroy();
  }
});
