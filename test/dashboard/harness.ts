/**
 * A broker with the dashboard mounted on its HTTP listener (today's Broker, through the legacy AdminPort),
 * a fetch helper for the admin API, and Chromium for the page tests.
 */
import assert from 'node:assert/strict';
import type { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import type { MqttClient } from 'mqtt';
import { type Browser, chromium } from 'playwright-core';
import type { AdminUser } from '../../src/dashboard/admin-auth.js';
import type { DashboardHandler, DashboardOptions } from '../../src/dashboard/dashboard-handler.js';
import { hashPassword } from '../../src/hooks/password.js';
import { Broker } from '../../src/index.js';
import { dashboardOf } from '../../src/server/broker.js';

export interface DashboardBroker {
  readonly broker: Broker;
  readonly dashboard: DashboardHandler;
  /** `mqtt://127.0.0.1:PORT` */
  readonly mqttUrl: string;
  /** `http://127.0.0.1:PORT` (no trailing slash) */
  readonly baseUrl: string;
  close(): Promise<void>;
}

export interface DashboardBrokerOptions {
  readonly users?: readonly AdminUser[];
  readonly auth?: DashboardOptions['auth'];
  readonly stats?: DashboardOptions['stats'];
}

/** A broker on 127.0.0.1 with MQTT over TCP and the dashboard on an HTTP listener, both on free ports. */
export async function startDashboardBroker(options: DashboardBrokerOptions = {}): Promise<DashboardBroker> {
  const broker = new Broker({
    sysInterval: 0,
    dashboard: {
      users: options.users ?? [],
      ...(options.auth === undefined ? {} : { auth: options.auth }),
      ...(options.stats === undefined ? {} : { stats: options.stats }),
    },
  });
  const tcp = await broker.listen({ host: '127.0.0.1', port: 0 });
  const address = await broker.addListener({ type: 'http', host: '127.0.0.1', port: 0 });
  assert.ok(typeof address !== 'string');
  const dashboard = dashboardOf(broker);
  assert.ok(dashboard !== undefined, 'the dashboard is mounted on the HTTP listener');
  return {
    broker,
    dashboard,
    mqttUrl: `mqtt://127.0.0.1:${tcp.port}`,
    baseUrl: `http://127.0.0.1:${address.port}`,
    async close() {
      await broker.close();
    },
  };
}

/** Users for auth tests: `admin`/`admin-pw` (admin) and `viewer`/`viewer-pw` (read-only). */
export async function testUsers(): Promise<AdminUser[]> {
  return [
    { username: 'admin', password: await hashPassword('admin-pw'), role: 'admin' },
    { username: 'viewer', password: await hashPassword('viewer-pw'), role: 'read-only' },
  ];
}

export interface JsonAnswer<T = unknown> {
  readonly status: number;
  readonly body: T;
  readonly headers: Headers;
}

/** Call the API and read the JSON answer. */
export async function call<T = Record<string, unknown>>(
  baseUrl: string,
  method: string,
  path: string,
  init: { headers?: Record<string, string>; body?: unknown } = {},
): Promise<JsonAnswer<T>> {
  const headers: Record<string, string> = { ...init.headers };
  const request: RequestInit = { method, headers };
  if (init.body !== undefined) {
    headers['content-type'] ??= 'application/json';
    request.body = typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
  }
  const response = await fetch(`${baseUrl}${path}`, request);
  const text = await response.text();
  return {
    status: response.status,
    body: (text === '' ? undefined : JSON.parse(text)) as T,
    headers: response.headers,
  };
}

export function basic(username: string, password: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` };
}

/** An MQTT.js client as the plain EventEmitter it is, for `events.once` (its typed events do not fit it). */
export function emitter(client: MqttClient): EventEmitter {
  return client as unknown as EventEmitter;
}

/** Poll `check` until it returns true or `ms` passes. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  ms: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export const CHROMIUM = '/usr/bin/chromium';

/** Headless Chromium as the house launches it (Debian package; missing is a failure, not a skip). */
export async function launchChromium(): Promise<Browser> {
  assert.ok(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}: apt-get install -y chromium`);
  return chromium.launch({
    executablePath: CHROMIUM,
    timeout: 20_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
