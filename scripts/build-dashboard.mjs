/**
 * Bundles the dashboard pages (src/dashboard/page) with esbuild into dist/src/dashboard/assets, where the
 * dashboard servers read them: broker.js, bench.js, style.css (uPlot's stylesheet included) and the two
 * HTML shells. Run by `npm run build` after tsc, so a fresh clone gets the page with `npm install`.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pageDir = join(root, 'src/dashboard/page');
const outDir = join(root, 'dist/src/dashboard/assets');
mkdirSync(outDir, { recursive: true });

await build({
  absWorkingDir: root,
  entryPoints: {
    broker: join(pageDir, 'broker.ts'),
    bench: join(pageDir, 'bench.ts'),
    style: join(pageDir, 'style.css'),
  },
  outdir: outDir,
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['chrome110', 'firefox110', 'safari16'],
  legalComments: 'none',
  logLevel: 'warning',
});
for (const name of ['broker.html', 'bench.html']) copyFileSync(join(pageDir, name), join(outDir, name));
