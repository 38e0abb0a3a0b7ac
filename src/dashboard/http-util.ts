import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiRequestError } from './api-params.js';

/** Headers every dashboard answer carries: nothing is cached, sniffed, framed or leaked by referrer. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

/** The page loads only its own scripts and styles and talks only to its own origin. */
export const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/** Answer with a JSON body (HEAD: headers only). */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

/** Answer with `{ "error": message }`. */
export function sendError(
  res: ServerResponse,
  status: number,
  message: string,
  headers: Readonly<Record<string, string>> = {},
): void {
  sendJson(res, status, { error: message }, headers);
}

/** Largest request body accepted (a publish payload rides in it, base64 or text). */
export const MAX_BODY_BYTES = 1_048_576;

/**
 * Read a JSON request body. It must say `Content-Type: application/json`, which a form on another site
 * cannot send without a CORS preflight this server never grants. An empty body reads as `{}`.
 */
export async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const type = req.headers['content-type'];
  const hasBody = req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0';
  if (
    (hasBody || req.headers['transfer-encoding'] !== undefined) &&
    !/^application\/json\b/i.test(type ?? '')
  )
    throw new ApiRequestError(415, 'the body must be JSON (Content-Type: application/json)');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new ApiRequestError(413, `body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ApiRequestError(400, `body is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * A server-sent events stream: `send` writes one event, `close` ends it. The caller keeps it in a set and
 * drops it on `onClose`, which fires when the browser goes away.
 */
export class EventStream {
  private closed = false;

  constructor(private readonly res: ServerResponse) {
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      connection: 'keep-alive',
    });
    // Tells EventSource how long to wait before reconnecting after a drop.
    res.write('retry: 2000\n\n');
    res.on('close', () => {
      this.closed = true;
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  onClose(callback: () => void): void {
    this.res.on('close', callback);
  }

  send(event: string, data: unknown): void {
    if (this.closed) return;
    this.res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.res.end();
  }
}
