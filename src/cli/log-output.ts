import { writeSync } from 'node:fs';
import { type DestinationStream, pino } from 'pino';
import type { LogFormat } from '../config/load.js';
import type { BrokerLogger } from '../server/broker.js';

const LEVEL_NAMES: Readonly<Record<number, string>> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

/** Keys every pino line carries, shown in the text line's head rather than as fields. */
const HEAD_KEYS = new Set(['level', 'time', 'pid', 'msg', 'hostname']);

/**
 * One pino JSON line as a text line, as Mosquitto and Mochi print theirs:
 * `2026-12-07T20:39:24.785Z INFO  [3601] listener tcp started  listener=tcp port=1883`.
 * An error's stack follows on indented lines. A line that is not JSON is returned as it came.
 */
export function textLine(json: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const time = typeof entry.time === 'number' ? new Date(entry.time).toISOString() : '-';
  const level = LEVEL_NAMES[entry.level as number] ?? String(entry.level);
  let line = `${time} ${level.padEnd(5)} [${String(entry.pid ?? '-')}] ${String(entry.msg ?? '')}`;
  const fields: string[] = [];
  let stack: string | undefined;
  for (const [key, value] of Object.entries(entry)) {
    if (HEAD_KEYS.has(key)) continue;
    if (key === 'err' && value !== null && typeof value === 'object') {
      const err = value as { message?: unknown; stack?: unknown };
      fields.push(`err=${JSON.stringify(String(err.message ?? ''))}`);
      if (typeof err.stack === 'string') stack = err.stack;
      continue;
    }
    fields.push(`${key}=${fieldValue(value)}`);
  }
  if (fields.length > 0) line += `  ${fields.join(' ')}`;
  if (stack !== undefined && (entry.level as number) >= 50) {
    line += `\n${stack
      .split('\n')
      .map((l) => `    ${l.trim()}`)
      .join('\n')}`;
  }
  return `${line}\n`;
}

/** A field's value: bare when it is a plain word or number, quoted (JSON) otherwise. */
function fieldValue(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return /^[\w.:/@+-]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value) ?? String(value);
}

/** The broker's logger on stderr (written synchronously, so nothing is lost when the process exits). */
export function stderrLogger(level: string, format: LogFormat): BrokerLogger {
  const options = { level, base: { pid: process.pid } };
  if (format === 'json') return pino(options, pino.destination({ fd: 2, sync: true }));
  const text: DestinationStream = {
    write(line: string): void {
      writeSync(2, textLine(line));
    },
  };
  return pino(options, text);
}
