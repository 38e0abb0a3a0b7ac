import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PAGE_CSP, SECURITY_HEADERS, sendError } from './http-util.js';

/**
 * Where `npm run build` puts the bundled page (scripts/build-dashboard.mjs): next to this module in dist,
 * so the installed package carries it.
 */
export const DEFAULT_ASSET_DIR = fileURLToPath(new URL('./assets/', import.meta.url));

const TYPES: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
};

/** The files the page bundle holds; nothing else is ever read from disk. */
export const ASSET_FILES = ['broker.html', 'broker.js', 'bench.html', 'bench.js', 'style.css'] as const;
export type AssetName = (typeof ASSET_FILES)[number];

/** The bundled page files, read once on first use and served from memory. */
export class StaticAssets {
  private files: Map<string, Buffer> | undefined;

  constructor(private readonly dir: string = DEFAULT_ASSET_DIR) {}

  /** Serve one bundled file (HEAD: headers only); 503 when the bundle was never built. */
  serve(res: ServerResponse, name: AssetName): void {
    const body = this.load()?.get(name);
    if (body === undefined) {
      sendError(res, 503, `dashboard page not built: ${join(this.dir, name)} is missing (run npm run build)`);
      return;
    }
    const ext = name.slice(name.lastIndexOf('.') + 1);
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': TYPES[ext] ?? 'application/octet-stream',
      'content-length': body.length,
      ...(ext === 'html' ? { 'content-security-policy': PAGE_CSP } : {}),
    });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  }

  /** The asset a `/assets/NAME` path names, if it is one. */
  static fromPath(path: string): AssetName | undefined {
    const name = path.startsWith('/assets/') ? path.slice('/assets/'.length) : '';
    return (ASSET_FILES as readonly string[]).includes(name) && !name.endsWith('.html')
      ? (name as AssetName)
      : undefined;
  }

  private load(): Map<string, Buffer> | undefined {
    if (this.files !== undefined) return this.files;
    const files = new Map<string, Buffer>();
    try {
      for (const name of ASSET_FILES) files.set(name, readFileSync(join(this.dir, name)));
    } catch {
      // Not cached: a build finishing while the server runs is picked up on the next request.
      return files.size === 0 ? undefined : files;
    }
    this.files = files;
    return files;
  }
}
