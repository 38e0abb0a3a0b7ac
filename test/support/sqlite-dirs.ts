/**
 * Data directories for SQLite store tests: fresh temporary directories removed after the test file, and
 * the crash image of one (its database files copied while the store has them open, as kill -9 leaves them).
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { DATABASE_FILE } from '../../src/storage/sqlite.js';

export interface SqliteDirs {
  /** A new empty directory. */
  freshDir(): string;
  /** The database files of `dir` as a kill -9 now would leave them, in a new directory. */
  crashImage(dir: string): string;
}

/** Call at the top level of a test file (it registers the file's cleanup). */
export function sqliteDirs(prefix: string): SqliteDirs {
  const dirs: string[] = [];
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  const freshDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(dir);
    return dir;
  };
  return {
    freshDir,
    crashImage(dir) {
      const image = freshDir();
      for (const name of [DATABASE_FILE, `${DATABASE_FILE}-wal`]) {
        if (existsSync(join(dir, name))) copyFileSync(join(dir, name), join(image, name));
      }
      return image;
    },
  };
}
