/**
 * The admin API and the dashboard of a cluster node (real Redis, two nodes in this process, headless
 * Chromium): the cluster view lists both nodes with their link addresses, and shows whether this node's
 * link to the other is up, or its messages go through Redis.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import type { ClusterNodeInfo } from '../../src/dashboard/wire-types.js';
import { clusterOf, dashboardOf } from '../../src/server/broker.js';
import { call, launchChromium } from '../dashboard/harness.js';
import { makeTestPki } from '../listeners/certs.js';
import { type RedisServer, startRedis } from '../support/redis.js';
import { type Node, startNode, until } from './cluster-harness.js';

/** The page's window as far as this test reads it (the project compiles without the DOM library). */
declare const document: { body: { innerText: string } };

let redis: RedisServer;
let a: Node;
let b: Node;
let baseUrl: string;
let browser: Browser;

before(async () => {
  redis = await startRedis();
  a = await startNode(redis, 'dash-a', 'dash:', { dashboard: { users: [] } });
  b = await startNode(redis, 'dash-b', 'dash:');
  const http = await a.broker.addListener({ type: 'http', host: '127.0.0.1', port: 0 });
  assert.ok(typeof http !== 'string' && dashboardOf(a.broker) !== undefined);
  baseUrl = `http://127.0.0.1:${http.port}`;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await b?.broker.close().catch(() => undefined);
  await a?.broker.close();
  await redis?.stop();
});

async function clusterView(): Promise<{ clustered: boolean; items: ClusterNodeInfo[] }> {
  const answer = await call<{ clustered: boolean; items: ClusterNodeInfo[] }>(
    baseUrl,
    'GET',
    '/api/v1/cluster',
  );
  assert.equal(answer.status, 200);
  return answer.body;
}

test("a node's cluster view: both nodes, their link addresses, and whether the link to the other is up", async () => {
  const linkA = clusterOf(a.broker)?.links?.address;
  const linkB = clusterOf(b.broker)?.links?.address;
  assert.ok(linkA !== undefined && linkB !== undefined, 'both nodes listen for links');
  let view = await clusterView();
  await until(
    () => view.items.find((n) => n.id === b.id)?.linked === true,
    "A's link to B up",
    10_000,
    async () => {
      view = await clusterView();
    },
  );
  assert.equal(view.clustered, true);
  const byId = new Map(view.items.map((n) => [n.id, n]));
  const row = (id: string) => {
    const n = byId.get(id);
    return [n?.self, n?.link, n?.linked, n?.state, n?.linkTls];
  };
  assert.deepEqual(
    row(a.id),
    [true, linkA, undefined, 'up', false],
    'A, the node that answered, with its own link address (plain TCP)',
  );
  assert.deepEqual(row(b.id), [false, linkB, true, 'up', false], 'B, linked (plain TCP)');

  // The page shows the same.
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${baseUrl}/#/listeners`, { waitUntil: 'load', timeout: 15_000 });
  await page.waitForFunction(() => document.body.innerText.includes('· linked'), undefined, {
    timeout: 10_000,
  });
  const text = await page.evaluate(() => document.body.innerText);
  assert.match(text, new RegExp(`${a.id} \\(this node\\)`));
  assert.ok(text.includes(`${linkB} · linked`), `B's link shown as up in: ${text}`);

  // B leaves: A no longer lists it as linked (gone from the registry, or listed with its link down).
  await b.broker.close();
  await until(
    () => view.items.every((n) => n.id !== b.id || n.linked === false),
    "A's link to B down",
    10_000,
    async () => {
      view = await clusterView();
    },
  );
  await context.close();
});

test('the Listeners page marks TLS links', async () => {
  const pki = makeTestPki();
  const linkTls = { cert: pki.cert, key: pki.key, ca: pki.ca };
  const c = await startNode(redis, 'dash-c', 'dash-tls:', { dashboard: { users: [] } }, { linkTls });
  const d = await startNode(redis, 'dash-d', 'dash-tls:', {}, { linkTls });
  const context = await browser.newContext();
  try {
    const http = await c.broker.addListener({ type: 'http', host: '127.0.0.1', port: 0 });
    assert.ok(typeof http !== 'string');
    const linkC = clusterOf(c.broker)?.links?.address;
    const linkD = clusterOf(d.broker)?.links?.address;
    assert.ok(linkC !== undefined && linkD !== undefined);
    // The page shows what the API says when it loads: wait for C's link to D first.
    const base = `http://127.0.0.1:${http.port}`;
    let linked = false;
    await until(
      () => linked,
      "C's TLS link to D up",
      10_000,
      async () => {
        const answer = await call<{ items: ClusterNodeInfo[] }>(base, 'GET', '/api/v1/cluster');
        linked = answer.body.items.some((n) => n.id === d.id && n.linked === true && n.linkTls);
      },
    );
    const page = await context.newPage();
    await page.goto(`${base}/#/listeners`, { waitUntil: 'load', timeout: 15_000 });
    await page.waitForFunction(() => document.body.innerText.includes('(TLS) · linked'), undefined, {
      timeout: 10_000,
    });
    const text = await page.evaluate(() => document.body.innerText);
    assert.ok(text.includes(`${linkD} (TLS) · linked`), `D's TLS link shown as up in: ${text}`);
    assert.ok(text.includes(`${linkC} (TLS)`), `C's own link marked TLS in: ${text}`);
  } finally {
    await context.close();
    await d.broker.close();
    await c.broker.close();
  }
});
