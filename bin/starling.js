#!/usr/bin/env -S node --max-semi-space-size=4 --no-allocation-site-pretenuring
// Thin launcher: the compiled CLI lives in dist/ (built by `npm install` through the `prepare` script).
import { main } from '../dist/src/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    if (typeof code === 'number') process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`starling: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
