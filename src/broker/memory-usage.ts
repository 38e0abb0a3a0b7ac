/**
 * `process.memoryUsage()` reads /proc: with every file descriptor in use (a broker at its open-file limit)
 * it throws EMFILE. Statistics must never take the broker down, so the last reading stands in.
 */
let last: NodeJS.MemoryUsage = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };

export function memoryUsage(): NodeJS.MemoryUsage {
  try {
    last = process.memoryUsage();
  } catch {
    // Out of file descriptors (EMFILE) or /proc unreadable: report the last reading.
  }
  return last;
}
