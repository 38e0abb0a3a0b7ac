import type { ApiError, WhoAmI } from '../wire-types.js';

/** A refused or failed API call, with the server's reason. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type Params = Readonly<Record<string, string | number | boolean | undefined>>;

/**
 * Calls the admin API as the logged-in user: every write carries the CSRF token from whoami, and a 401
 * anywhere sends the page back to its login form.
 */
export class Api {
  csrfToken: string | undefined;

  constructor(private readonly onUnauthorized: () => void) {}

  whoami(): Promise<WhoAmI> {
    return this.call<WhoAmI>('GET', 'whoami');
  }

  get<T>(path: string, params: Params = {}): Promise<T> {
    return this.call<T>('GET', path, params);
  }

  post<T>(path: string, body?: unknown, params: Params = {}): Promise<T> {
    return this.call<T>('POST', path, params, body);
  }

  del<T>(path: string, params: Params = {}): Promise<T> {
    return this.call<T>('DELETE', path, params);
  }

  private async call<T>(method: string, path: string, params: Params = {}, body?: unknown): Promise<T> {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(params))
      if (value !== undefined && value !== '') query.set(key, String(value));
    const url = `/api/v1/${path}${query.size > 0 ? `?${query}` : ''}`;
    // X-Requested-With keeps the server from answering 401 with a Basic challenge (a browser login box).
    const headers: Record<string, string> = { 'x-requested-with': 'starling-dashboard' };
    if (method !== 'GET' && this.csrfToken !== undefined) headers['x-csrf-token'] = this.csrfToken;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const init: RequestInit = { method, headers, credentials: 'same-origin' };
    if (body !== undefined) init.body = JSON.stringify(body);
    const response = await fetch(url, init);
    const data = (await response.json().catch(() => ({ error: response.statusText }))) as T | ApiError;
    if (response.status === 401 && path !== 'login') this.onUnauthorized();
    if (!response.ok) throw new ApiFailure(response.status, (data as ApiError).error ?? response.statusText);
    return data as T;
  }
}

/** Encode one path segment (a client id may hold `/`). */
export function segment(value: string): string {
  return encodeURIComponent(value);
}
