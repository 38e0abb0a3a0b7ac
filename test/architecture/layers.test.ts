/**
 * The import rules of ARCHITECTURE.md, checked on the source: every import in `src/` goes one way down the
 * layer order, and no file reaches itself again through its imports (type-only imports count too).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const src = join(root, 'src');

/**
 * The layers, lowest first: a file may import from its own folder and from any layer below its own.
 * Folders on one row are independent of each other. `src/index.ts` is the package entry.
 */
export const LAYERS: readonly (readonly string[])[] = [
  ['packets'],
  ['broker'],
  ['hooks', 'storage', 'cluster'],
  ['listeners'],
  ['dashboard'],
  ['server'],
  ['config'],
  ['index.ts'],
  ['client'],
  ['bench'],
  ['cli'],
];

function rankOf(folder: string): number {
  const rank = LAYERS.findIndex((row) => row.includes(folder));
  assert.ok(rank >= 0, `src/${folder} is in no layer of ARCHITECTURE.md`);
  return rank;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** Relative specifiers of every static, re-export, type-only and dynamic import of a file. */
export function importsOf(text: string): string[] {
  const found: string[] = [];
  const patterns = [/\bfrom\s+'(\.[^']+)'/g, /\bimport\s+'(\.[^']+)'/g, /\bimport\(\s*'(\.[^']+)'\s*\)/g];
  for (const pattern of patterns) for (const match of text.matchAll(pattern)) found.push(match[1] as string);
  return found;
}

/** `src/broker/x.ts` -> `broker`; `src/index.ts` -> `index.ts`. */
function folderOf(file: string): string {
  const rel = relative(src, file).split('/');
  return rel.length === 1 ? (rel[0] as string) : (rel[0] as string);
}

function graph(): Map<string, string[]> {
  const edges = new Map<string, string[]>();
  for (const file of sourceFiles(src)) {
    const targets = importsOf(readFileSync(file, 'utf8')).map((spec) =>
      resolve(dirname(file), spec.replace(/\.js$/, '.ts')),
    );
    edges.set(file, targets);
  }
  return edges;
}

test('every import in src/ follows the layer order', () => {
  const wrong: string[] = [];
  for (const [file, targets] of graph()) {
    const from = folderOf(file);
    for (const target of targets) {
      assert.ok(target.startsWith(src), `${relative(root, file)} imports outside src/: ${target}`);
      const to = folderOf(target);
      if (to === from) continue;
      if (rankOf(to) >= rankOf(from)) wrong.push(`${relative(src, file)} -> ${relative(src, target)}`);
    }
  }
  assert.deepEqual(wrong, [], `imports against the layer order:\n  ${wrong.join('\n  ')}`);
});

test('no import cycle in src/', () => {
  const edges = graph();
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const path: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    path.push(file);
    for (const target of edges.get(file) ?? []) {
      const seen = state.get(target);
      if (seen === 'open') {
        const loop = path.slice(path.indexOf(target)).concat(target);
        cycles.push(loop.map((f) => relative(src, f)).join(' -> '));
      } else if (seen === undefined && edges.has(target)) {
        visit(target);
      }
    }
    path.pop();
    state.set(file, 'done');
  };
  for (const file of edges.keys()) if (!state.has(file)) visit(file);
  assert.deepEqual(cycles, [], `import cycles:\n  ${cycles.join('\n  ')}`);
});

test('the import scanner sees every kind of import', () => {
  const text = [
    "import { a } from './a.js';",
    "import type { B } from '../b.js';",
    "export { c } from './c.js';",
    "export type * from './d.js';",
    "const e = await import('./e.js');",
    "import './f.js';",
    "import { g } from 'node:fs';",
  ].join('\n');
  assert.deepEqual(importsOf(text).sort(), ['../b.js', './a.js', './c.js', './d.js', './e.js', './f.js']);
});
