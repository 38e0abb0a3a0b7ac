/**
 * The Starling version agents and controllers compare: the two ends of a distributed run must run the
 * same code, or their plans and results might not mean the same thing.
 */
import { readFileSync } from 'node:fs';

/** The package version, read once from package.json (three or four levels above this file). */
export const STARLING_VERSION: string = (() => {
  for (const relative of ['../../../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'starling' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // try the next candidate
    }
  }
  return '0.0.0';
})();
