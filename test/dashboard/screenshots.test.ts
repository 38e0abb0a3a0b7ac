/**
 * The README screenshot script, run into a temporary directory with a short run: both PNGs are written,
 * have the page's size, and are not blank (decoded in Chromium: many colours, much more than background).
 * Also the page weight: everything the browser loads for either page stays under 300 KiB, from this origin.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { takeDashboardScreenshots } from '../../bench/dashboard-screenshots.js';
import { startBenchDashboard } from '../../src/dashboard/bench-dashboard.js';
import { launchChromium, startDashboardBroker } from './harness.js';

const PAGE_WEIGHT_LIMIT = 300 * 1024;

/** Width and height from a PNG's IHDR chunk (after the signature and the chunk's length and type). */
function pngSize(png: Buffer): { width: number; height: number } {
  assert.deepEqual(
    [...png.subarray(0, 8)],
    [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
    'PNG signature',
  );
  assert.equal(png.subarray(12, 16).toString('latin1'), 'IHDR');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

interface PixelCensus {
  readonly colours: number;
  /** Share of pixels that differ from the most common colour (the background). */
  readonly foreground: number;
}

/** Decode a PNG in Chromium and count its colours (5 bits a channel) and non-background pixels. */
async function census(png: Buffer): Promise<PixelCensus> {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const dataUrl = `data:image/png;base64,${png.toString('base64')}`;
    return await page.evaluate(async (src) => {
      const win = globalThis as unknown as {
        Image: new () => { src: string; width: number; height: number; decode(): Promise<void> };
        OffscreenCanvas: new (
          w: number,
          h: number,
        ) => {
          getContext(kind: '2d'): {
            drawImage(image: unknown, x: number, y: number): void;
            getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
          };
        };
      };
      const image = new win.Image();
      image.src = src;
      await image.decode();
      const context = new win.OffscreenCanvas(image.width, image.height).getContext('2d');
      context.drawImage(image, 0, 0);
      const { data } = context.getImageData(0, 0, image.width, image.height);
      const counts = new Map<number, number>();
      for (let i = 0; i < data.length; i += 4) {
        const key = ((data[i]! >> 3) << 10) | ((data[i + 1]! >> 3) << 5) | (data[i + 2]! >> 3);
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
      const pixels = data.length / 4;
      const background = Math.max(...counts.values());
      return { colours: counts.size, foreground: (pixels - background) / pixels };
    }, dataUrl);
  } finally {
    await browser.close();
  }
}

/** The page and everything its HTML loads (scripts, stylesheets), with the byte count of each. */
async function pageWeight(pageUrl: string): Promise<{ total: number; files: string[] }> {
  const html = await (await fetch(pageUrl)).text();
  const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)]
    .map((m) => m[1] ?? '')
    .filter((r) => !r.startsWith('data:'));
  assert.ok(refs.length >= 2, `the page loads its script and style: ${refs.join(', ')}`);
  let total = Buffer.byteLength(html);
  for (const ref of refs) {
    assert.ok(ref.startsWith('/'), `${ref} is served by the dashboard itself (no CDN)`);
    const response = await fetch(new URL(ref, pageUrl));
    assert.equal(response.status, 200, ref);
    const body = Buffer.from(await response.arrayBuffer());
    assert.doesNotMatch(
      body.toString('utf8'),
      /https?:\/\/(?!www\.w3\.org\/)/,
      `${ref} reaches no other site`,
    );
    total += body.length;
  }
  return { total, files: refs };
}

describe('dashboard screenshots and page weight', () => {
  const dir = mkdtempSync(join(tmpdir(), 'starling-shots-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('the screenshot script writes both dashboards, and neither picture is blank', async (t) => {
    const files = await takeDashboardScreenshots(dir, { trafficMs: 2_500 });
    assert.deepEqual(files, [join(dir, 'dashboard-broker.png'), join(dir, 'dashboard-bench.png')]);
    for (const file of files) {
      const png = readFileSync(file);
      const { width, height } = pngSize(png);
      assert.equal(width, 1400, file);
      assert.ok(height >= 900, `${file} is a full page (${height} px high)`);
      const pixels = await census(png);
      t.diagnostic(
        `${file}: ${png.length} bytes, ${pixels.colours} colours, ${(pixels.foreground * 100).toFixed(1)}% foreground`,
      );
      assert.ok(pixels.colours > 50, `${file} has ${pixels.colours} colours`);
      assert.ok(
        pixels.foreground > 0.1,
        `${file} is ${(pixels.foreground * 100).toFixed(1)}% non-background`,
      );
    }
  });

  test('each page weighs under 300 KiB in all and loads nothing from elsewhere', async (t) => {
    const broker = await startDashboardBroker();
    const bench = await startBenchDashboard();
    try {
      for (const url of [`${broker.baseUrl}/`, bench.url]) {
        const { total, files } = await pageWeight(url);
        t.diagnostic(`${url}: ${total} bytes (${(total / 1024).toFixed(1)} KiB) with ${files.join(', ')}`);
        assert.ok(total < PAGE_WEIGHT_LIMIT, `${url} weighs ${total} bytes`);
      }
    } finally {
      await bench.close();
      await broker.close();
    }
  });
});
