import { getHeapStatistics } from 'node:v8';

/**
 * `process.memoryUsage()` reads /proc: with every file descriptor in use (a broker at its open-file limit)
 * it throws EMFILE. Statistics must never take the broker down: the heap figures come from V8 then (no
 * descriptor needed) and the RSS is unknown (NaN).
 */
export function memoryUsage(): NodeJS.MemoryUsage {
  try {
    return process.memoryUsage();
  } catch {
    const heap = getHeapStatistics();
    return {
      rss: Number.NaN,
      heapTotal: heap.total_heap_size,
      heapUsed: heap.used_heap_size,
      external: heap.external_memory,
      arrayBuffers: 0,
    };
  }
}
