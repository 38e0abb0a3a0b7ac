/**
 * The broker dashboard in headless Chromium against a real broker and MQTT.js clients: the page loads
 * clean, its curves and counts follow live traffic within 2 s, the clients page finds a client and
 * disconnects it, and with admin users configured a login is needed and roles hold.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import type { Browser, Page } from 'playwright-core';
import { type DashboardBroker, emitter, launchChromium, startDashboardBroker, testUsers } from './harness.js';

/** The page's window as far as these tests read it (the project compiles without the DOM library). */
interface PageDocument {
  querySelector(
    selector: string,
  ): { getAttribute(name: string): string | null; textContent: string | null } | null;
}
declare const document: PageDocument;

/** Open a page that records console errors and any request leaving the dashboard's origin. */
async function openPage(
  browser: Browser,
  url: string,
): Promise<{ page: Page; errors: string[]; foreign: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors: string[] = [];
  const foreign: string[] = [];
  const origin = new URL(url).origin;
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('request', (request) => {
    if (!request.url().startsWith(origin) && !request.url().startsWith('data:')) foreign.push(request.url());
  });
  await page.goto(url, { waitUntil: 'load', timeout: 15_000 });
  return { page, errors, foreign };
}

/** Publish QoS 0 messages every 20 ms until stopped (at most 20 s). */
function keepPublishing(client: MqttClient): () => void {
  const started = Date.now();
  const timer = setInterval(() => {
    if (Date.now() - started > 20_000) clearInterval(timer);
    else client.publish('load/demo', 'x');
  }, 20);
  return () => clearInterval(timer);
}

describe('broker dashboard page (no admin user: loopback, no login)', () => {
  let b: DashboardBroker;
  let browser: Browser;
  const clients: MqttClient[] = [];
  const connect = async (clientId: string): Promise<MqttClient> => {
    const client = await mqtt.connectAsync(b.mqttUrl, { clientId, reconnectPeriod: 0 });
    clients.push(client);
    return client;
  };

  before(async () => {
    b = await startDashboardBroker();
    browser = await launchChromium();
  });
  after(async () => {
    await browser.close();
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await b.close();
  });

  test('loads clean; with a publisher running, the message-rate curve and the client count move within 2 s', async () => {
    const { page, errors, foreign } = await openPage(browser, `${b.baseUrl}/`);
    await page.waitForSelector('#live-state.on', { timeout: 5_000 });
    await page.waitForSelector('#chart-messages-in canvas', { timeout: 5_000 });
    const clientsTile = page.locator('[data-tile="clients"]');
    await page.waitForFunction(
      () => document.querySelector('[data-tile="clients"]')?.textContent === '0',
      undefined,
      {
        timeout: 5_000,
      },
    );
    const publisher = await connect('publisher-1');
    const stop = keepPublishing(publisher);
    try {
      await page.waitForFunction(
        () => {
          const last = document.querySelector('#chart-messages-in')?.getAttribute('data-last');
          return last !== null && last !== undefined && (JSON.parse(last) as number[])[0]! > 0;
        },
        undefined,
        { timeout: 2_000 },
      );
      assert.equal(await clientsTile.textContent(), '1');
      const inRate = await page.locator('[data-tile="messages in"]').textContent();
      assert.match(inRate ?? '', /^[\d.]+k?\/s$/);
      assert.notEqual(inRate, '0/s');
    } finally {
      stop();
    }
    const points = Number(await page.locator('#chart-connections').getAttribute('data-points'));
    assert.ok(points >= 2, `the connections chart has points (${points})`);
    assert.deepEqual(errors, []);
    assert.deepEqual(foreign, [], 'nothing is fetched from anywhere but the broker');
    await page.context().close();
  });

  test('the clients page finds a client by id; its disconnect button disconnects it', async () => {
    const target = await connect('find-me-42');
    await target.subscribeAsync('plant/+/status');
    await connect('someone-else');
    const { page, errors } = await openPage(browser, `${b.baseUrl}/#/clients`);
    await page.fill('#clients input.search', 'find-me');
    const row = page.locator('#clients tbody tr', { hasText: 'find-me-42' });
    await row.waitFor({ timeout: 5_000 });
    await page.waitForFunction(
      () => document.querySelector('#clients .pager-status')?.textContent === '1–1 of 1',
    );
    assert.equal(await page.locator('#clients tbody tr').count(), 1);
    const cells = await row.locator('td').allTextContents();
    assert.deepEqual(cells.slice(4, 9), ['3.1.1', '60s', '0', '0', '1']);
    const closed = once(emitter(target), 'close');
    await row.locator('button[data-disconnect="find-me-42"]').click();
    await closed;
    assert.equal(target.connected, false);
    await page.waitForSelector('.toast.ok', { timeout: 5_000 });
    await page.locator('#clients td.empty').waitFor({ timeout: 5_000 });
    assert.deepEqual(errors, []);
    await page.context().close();
  });

  test('a session page shows its subscriptions; the topic tree shows a retained message', async () => {
    const client = await connect('detail-7');
    await client.subscribeAsync('home/+/light', { qos: 1 });
    await client.publishAsync('home/kitchen/light', 'on', { retain: true });
    const { page, errors } = await openPage(browser, `${b.baseUrl}/#/session/detail-7`);
    await page.locator('td', { hasText: 'home/+/light' }).waitFor({ timeout: 5_000 });
    await page.goto(`${b.baseUrl}/#/topics/${encodeURIComponent('home/kitchen/light')}`);
    await page.locator('#retained-message pre.payload', { hasText: 'on' }).waitFor({ timeout: 5_000 });
    assert.deepEqual(errors, []);
    await page.context().close();
  });
});

describe('broker dashboard page (admin users configured)', () => {
  let b: DashboardBroker;
  let browser: Browser;
  let client: MqttClient;

  before(async () => {
    b = await startDashboardBroker({ users: await testUsers() });
    browser = await launchChromium();
    client = await mqtt.connectAsync(b.mqttUrl, { clientId: 'guarded', reconnectPeriod: 0 });
  });
  after(async () => {
    await browser.close();
    await client.endAsync(true);
    await b.close();
  });

  async function logIn(page: Page, username: string, password: string): Promise<void> {
    await page.fill('#login input[name="username"]', username);
    await page.fill('#login input[name="password"]', password);
    await page.click('#login button[type="submit"]');
  }

  test('a login is required, and a wrong password is refused', async () => {
    const { page } = await openPage(browser, `${b.baseUrl}/#/clients`);
    await page.waitForSelector('#login', { timeout: 5_000 });
    assert.equal(await page.locator('#clients').count(), 0, 'nothing but the login form is shown');
    await logIn(page, 'admin', 'not-the-password');
    await page.waitForFunction(
      () => document.querySelector('#login-error')?.textContent === 'wrong username or password',
    );
    assert.equal(await page.locator('#login').count(), 1);
    await logIn(page, 'admin', 'admin-pw');
    await page.locator('#clients tbody tr', { hasText: 'guarded' }).waitFor({ timeout: 5_000 });
    assert.equal(
      await page.locator('button[data-disconnect="guarded"]').count(),
      1,
      'admin sees the disconnect button',
    );
    await page.context().close();
  });

  test('a read-only user sees the clients but no disconnect button, and the API refuses the write', async () => {
    const { page } = await openPage(browser, `${b.baseUrl}/#/clients`);
    await page.waitForSelector('#login', { timeout: 5_000 });
    await logIn(page, 'viewer', 'viewer-pw');
    await page.locator('#clients tbody tr', { hasText: 'guarded' }).waitFor({ timeout: 5_000 });
    assert.equal(await page.locator('button[data-disconnect]').count(), 0);
    // Even a hand-made request from the page, with the session's CSRF token, is refused for the role.
    const status = await page.evaluate(async () => {
      const who = (await (await fetch('/api/v1/whoami')).json()) as { csrfToken: string };
      const answer = await fetch('/api/v1/clients/guarded/disconnect', {
        method: 'POST',
        headers: { 'x-csrf-token': who.csrfToken },
      });
      return answer.status;
    });
    assert.equal(status, 403);
    assert.equal(client.connected, true);
    await page.context().close();
  });
});
