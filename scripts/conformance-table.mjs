#!/usr/bin/env node
// Writes CONFORMANCE.md from scripts/spec-statements.json and the `[MQTT-x]` tags found in src/ (where a
// rule is enforced) and in test titles under test/ (what checks it).
//
//   node scripts/conformance-table.mjs          regenerate CONFORMANCE.md
//   node scripts/conformance-table.mjs --check  exit 1 if a server statement tagged in src/ has neither a
//                                               test nor a written reason, or src/ tags an unknown id
//
// Which version a tag means: MQTT 5.0 unless a "3.1.1" marker stands before it in the same group
// (`3.1.1 [MQTT-x]`, `(3.1.1: [MQTT-x] [MQTT-y])`), the house style for tagging both numberings. A 3.1.1
// statement is also covered by the tests of its MQTT 5.0 counterpart (`v5` in the JSON).

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const TAG = /\[(MQTT-\d+(?:\.\d+)*-\d+)\]/g;
const FIXTURE_NAME = /\bname:\s*(['"`])((?:\\.|(?!\1)[^\\])*)\1/g;
const TITLE = /\b(?:it|test|describe)\(\s*(['"`])((?:\\.|(?!\1)[^\\])*)\1/gs;

/** Every .ts file under `dir`, recursively, in a stable order. */
function tsFiles(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...tsFiles(path));
    else if (entry.name.endsWith('.ts')) out.push(path);
  }
  return out;
}

function versionAt(text, index) {
  // A "3.1.1" marker applies to the tags after it until the group closes (`)`), the line ends, or a `;`.
  const before = text.slice(0, index);
  const marker = before.lastIndexOf('3.1.1');
  if (marker < 0) return '5.0';
  return /[)\n;]/.test(before.slice(marker)) ? '5.0' : '3.1.1';
}

function lineOf(text, index) {
  let line = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

const key = (version, id) => `${version} ${id}`;

function push(map, k, value) {
  const list = map.get(k);
  if (list === undefined) map.set(k, [value]);
  else if (!list.some((v) => JSON.stringify(v) === JSON.stringify(value))) list.push(value);
}

/** Statements, where src/ tags them and which test titles name them. */
export function analyse(root) {
  const { statements } = JSON.parse(readFileSync(join(root, 'scripts', 'spec-statements.json'), 'utf8'));
  const known = new Set(statements.map((s) => s.id));
  const enforced = new Map();
  const unknownTags = [];
  for (const file of tsFiles(join(root, 'src'))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(TAG)) {
      const where = `${relative(root, file)}:${lineOf(text, m.index)}`;
      if (!known.has(m[1])) unknownTags.push(`${m[1]} at ${where}`);
      push(enforced, key(versionAt(text, m.index), m[1]), where);
    }
  }
  const tested = new Map();
  for (const file of tsFiles(join(root, 'test'))) {
    const text = readFileSync(file, 'utf8');
    // Fixture names become test titles (`decode refuses: <name>` in test/packets/fixtures.test.ts and the
    // broker tests that replay fixtures), so a tag in a fixture name counts like one in a test title.
    const titles = [...text.matchAll(TITLE)].map((t) => t[2]);
    if (file.endsWith(join('fixtures', 'packets.ts')))
      titles.push(...[...text.matchAll(FIXTURE_NAME)].map((t) => t[2]));
    for (const title of titles) {
      const ref = { file: relative(root, file), title };
      for (const m of title.matchAll(TAG)) {
        const version = versionAt(title, m.index);
        push(tested, key(version, m[1]), ref);
      }
    }
  }
  const rows = statements.map((s) => {
    const direct = tested.get(key(s.version, s.id)) ?? [];
    const viaV5 = s.v5 === undefined ? [] : (tested.get(key('5.0', s.v5)) ?? []);
    return {
      ...s,
      enforcedAt: enforced.get(key(s.version, s.id)) ?? [],
      tests: direct,
      testsViaV5: viaV5.filter((r) => !direct.some((d) => d.file === r.file && d.title === r.title)),
    };
  });
  const missing = rows.filter(
    (r) =>
      r.binds !== 'client' &&
      r.enforcedAt.length > 0 &&
      r.tests.length === 0 &&
      r.testsViaV5.length === 0 &&
      r.reason === undefined,
  );
  return { rows, missing, unknownTags };
}

const cell = (text) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

/** A reason that only says the test is still to be written: the statement counts as not tested. */
const isNotYet = (reason) => reason?.startsWith('not yet') === true;

function coverage(row) {
  const refs = [...row.tests, ...row.testsViaV5.map((r) => ({ ...r, via: row.v5 }))];
  if (refs.length > 0) {
    // One reference per row keeps the (padded) table readable; the rest are counted.
    const first = refs[0];
    const title = first.title.length > 90 ? `${first.title.slice(0, 87)}...` : first.title;
    const via = first.via === undefined ? '' : `(via 5.0 ${first.via}) `;
    const more = refs.length > 1 ? ` (+${refs.length - 1} more)` : '';
    return `${via}\`${first.file}\`: ${cell(title)}${more}`;
  }
  if (row.reason === undefined) return '**not tested**';
  return isNotYet(row.reason) ? `**not tested** (${cell(row.reason)})` : cell(row.reason);
}

/** `a.ts:1`, `a.ts:9`, `b.ts:3` -> `a.ts:1,9`, `b.ts:3`: one entry per file keeps the column narrow. */
function enforcedCell(places) {
  const byFile = new Map();
  for (const place of places) {
    const at = place.lastIndexOf(':');
    const file = place.slice(0, at);
    byFile.set(file, [...(byFile.get(file) ?? []), place.slice(at + 1)]);
  }
  return [...byFile].map(([file, lines]) => `\`${file}:${lines.join(',')}\``).join(', ');
}

function table(rows) {
  const lines = ['| Statement | Says | Enforced in | Covered by |', '| --- | --- | --- | --- |'];
  for (const r of rows) {
    const where = enforcedCell(r.enforcedAt);
    lines.push(`| ${r.id} | ${cell(r.summary)} | ${where} | ${coverage(r)} |`);
  }
  return lines.join('\n');
}

function counts(rows) {
  const server = rows.filter((r) => r.binds !== 'client');
  const withTest = server.filter((r) => r.tests.length + r.testsViaV5.length > 0).length;
  const withReason = server.filter(
    (r) => r.tests.length + r.testsViaV5.length === 0 && r.reason !== undefined && !isNotYet(r.reason),
  ).length;
  return `${server.length} statements bind the server: ${withTest} have a test, ${withReason} a written reason, ${server.length - withTest - withReason} are not tested.`;
}

/** The text of CONFORMANCE.md. */
export function render(analysis) {
  const { rows } = analysis;
  const v5 = rows.filter((r) => r.version === '5.0');
  const v311 = rows.filter((r) => r.version === '3.1.1');
  const client = rows.filter((r) => r.binds === 'client');
  return `# Conformance

Generated by \`node scripts/conformance-table.mjs\` from \`scripts/spec-statements.json\`; do not edit by hand.

Every numbered normative statement of MQTT 5.0 and MQTT 3.1.1 that binds a server (alone or together with
the client), with where \`src/\` tags it as enforced and the test whose title names it. A test counts when its
\`it\`/\`describe\` title carries the tag, e.g. \`it('[MQTT-3.8.4-1] ...')\`; a comment in a test does not.
A tag means the MQTT 5.0 statement unless written \`3.1.1 [MQTT-x]\`. A 3.1.1 statement is also covered by
the tests of the 5.0 statement with the same rule ("via 5.0"). "**not tested**" means exactly that.

## MQTT 5.0

${counts(v5)}

${table(v5.filter((r) => r.binds !== 'client'))}

## MQTT 3.1.1

${counts(v311)}

${table(v311.filter((r) => r.binds !== 'client'))}

## Statements that bind only the client

The broker does not act on these (they are the client's duties); the Starling client library is measured
against them separately.

${client.map((r) => `- ${r.version} ${r.id}: ${r.summary}`).join('\n')}
`;
}

/** `text` as the repository's formatter writes CONFORMANCE.md (it pads the tables). */
export function formatted(root, text) {
  const biome = join(root, 'node_modules', '.bin', 'biome');
  if (!existsSync(biome)) return text;
  const result = spawnSync(biome, ['format', '--stdin-file-path=CONFORMANCE.md'], {
    cwd: root,
    input: text,
    encoding: 'utf8',
  });
  return result.status === 0 ? result.stdout : text;
}

function main(argv) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const analysis = analyse(root);
  if (argv.includes('--check')) {
    for (const r of analysis.missing) {
      process.stderr.write(`${r.version} ${r.id} is tagged in src/ but has no test and no reason\n`);
    }
    for (const u of analysis.unknownTags) process.stderr.write(`unknown statement ${u}\n`);
    return analysis.missing.length + analysis.unknownTags.length === 0 ? 0 : 1;
  }
  // Formatted as the repository's formatter would, so \`biome check .\` accepts the file as written.
  writeFileSync(join(root, 'CONFORMANCE.md'), formatted(root, render(analysis)));
  process.stdout.write(`CONFORMANCE.md: ${analysis.rows.length} statements\n`);
  return 0;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = main(process.argv.slice(2));
}
