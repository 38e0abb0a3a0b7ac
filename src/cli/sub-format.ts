/**
 * How `starling sub` prints a message, as `mosquitto_sub` does: the payload alone, `-v` (topic, space,
 * payload; an empty payload shows as `(null)`), or a `-F` format string. A newline follows every message
 * unless `-N` is given.
 *
 * `-F` sequences:
 * - `%t` topic, `%p` payload, `%q` QoS, `%r` retain flag (0/1), `%l` payload length, `%m` packet id (0 for
 *   QoS 0), `%x` / `%X` payload as lower / upper case hex, `%%` a literal `%`
 * - v5 properties, empty when absent: `%A` topic alias, `%C` content type, `%D` correlation data, `%E`
 *   message expiry interval, `%F` payload format indicator, `%P` user properties (`key:value`, space
 *   separated), `%R` response topic, `%S` subscription identifiers
 * - time: `%I` ISO 8601 local time with offset, `%U` Unix time with nanoseconds, `%j` / `%J` a JSON object
 *   with the time, topic, QoS, retain flag, payload length and payload (as a JSON string for `%j`, as raw
 *   JSON for `%J`, which must then be valid JSON)
 * - `@X` strftime conversions: `@Y @m @d @H @M @S @y @j @F @T @s @z @N` (nanoseconds) and `@@`
 * - escapes: `\\ \0 \a \e \n \r \t \v`
 * - printf-style flags, width and precision: `%-10t`, `%05l`, `%10.10t`
 */
import type { Message } from '../client/types.js';

/** How messages are printed. */
export interface OutputFormat {
  /** -v */
  verbose: boolean;
  /** -N: no newline after each message. */
  noEol: boolean;
  /** -F */
  format: string | undefined;
}

/** Thrown for a %J message whose payload is not JSON: mosquitto prints it to stderr and skips the message. */
export class PayloadNotJsonError extends Error {
  constructor(topic: string) {
    super(`Error: Message payload is not valid JSON on topic ${topic}`);
    this.name = 'PayloadNotJsonError';
  }
}

const NUMERIC = new Set(['A', 'E', 'F', 'l', 'm', 'S', 'X', 'x']);
const TRUNCATABLE = new Set(['C', 'I', 'R', 't']);
/** The conversions that take a field width (mosquitto ignores it on the others, e.g. %q). */
const WIDTHABLE = new Set(['A', 'C', 'E', 'F', 'I', 'l', 'm', 'p', 'R', 'S', 't', 'x', 'X']);

function pad2(n: number): string {
  return n.toString().padStart(2, '0');
}

/** The local UTC offset as +hhmm. */
function offset(now: Date): string {
  const minutes = -now.getTimezoneOffset();
  const sign = minutes >= 0 ? '+' : '-';
  const abs = Math.abs(minutes);
  return `${sign}${pad2(Math.floor(abs / 60))}${pad2(abs % 60)}`;
}

function isoLocal(now: Date): string {
  return (
    `${now.getFullYear()}-${pad2(now.getMonth() + 1)}-${pad2(now.getDate())}T` +
    `${pad2(now.getHours())}:${pad2(now.getMinutes())}:${pad2(now.getSeconds())}${offset(now)}`
  );
}

/** `now` with microseconds, as mosquitto's JSON `tst`. */
function jsonTime(now: Date, nanos: bigint): string {
  const micros = ((nanos / 1000n) % 1_000_000n).toString().padStart(6, '0');
  return `${isoLocal(now).slice(0, 19)}.${micros}${offset(now)}`;
}

function strftime(spec: string, now: Date, nanos: bigint): string {
  switch (spec) {
    case 'Y':
      return String(now.getFullYear());
    case 'y':
      return pad2(now.getFullYear() % 100);
    case 'm':
      return pad2(now.getMonth() + 1);
    case 'd':
      return pad2(now.getDate());
    case 'H':
      return pad2(now.getHours());
    case 'M':
      return pad2(now.getMinutes());
    case 'S':
      return pad2(now.getSeconds());
    case 'j': {
      const start = new Date(now.getFullYear(), 0, 1);
      const day = Math.floor((now.getTime() - start.getTime()) / 86_400_000) + 1;
      return day.toString().padStart(3, '0');
    }
    case 'F':
      return `${now.getFullYear()}-${pad2(now.getMonth() + 1)}-${pad2(now.getDate())}`;
    case 'T':
      return `${pad2(now.getHours())}:${pad2(now.getMinutes())}:${pad2(now.getSeconds())}`;
    case 's':
      return String(Math.floor(now.getTime() / 1000));
    case 'z':
      return offset(now);
    case 'N':
      return (nanos % 1_000_000_000n).toString().padStart(9, '0');
    case '@':
      return '@';
    default:
      return `@${spec}`;
  }
}

function jsonObject(message: Message, now: Date, nanos: bigint, rawPayload: boolean): string {
  const head =
    `{"tst":${JSON.stringify(jsonTime(now, nanos))},"topic":${JSON.stringify(message.topic)},` +
    `"qos":${message.qos},"retain":${message.retain ? 1 : 0},"payloadlen":${message.payload.length}`;
  const text = message.payload.toString('utf8');
  if (rawPayload) {
    try {
      JSON.parse(text);
    } catch {
      throw new PayloadNotJsonError(message.topic);
    }
    return `${head},"payload":${text}}`;
  }
  return `${head},"payload":${JSON.stringify(text)}}`;
}

/** The value of one `%` conversion, or undefined for an unknown one (printed literally). */
function conversion(c: string, message: Message, now: Date, nanos: bigint): string | Buffer | undefined {
  const p = message.properties;
  switch (c) {
    case 't':
      return message.topic;
    case 'p':
      return message.payload;
    case 'q':
      return String(message.qos);
    case 'r':
      return message.retain ? '1' : '0';
    case 'l':
      return String(message.payload.length);
    case 'm':
      return String(message.packetId ?? 0);
    case 'x':
      return message.payload.toString('hex');
    case 'X':
      return message.payload.toString('hex').toUpperCase();
    case 'A':
      return p?.topicAlias === undefined ? '' : String(p.topicAlias);
    case 'C':
      return p?.contentType ?? '';
    case 'D':
      return p?.correlationData ?? '';
    case 'E':
      return p?.messageExpiryInterval === undefined ? '' : String(p.messageExpiryInterval);
    case 'F':
      return p?.payloadFormatIndicator === undefined ? '' : String(p.payloadFormatIndicator);
    case 'P':
      return (p?.userProperties ?? []).map(([k, v]) => `${k}:${v}`).join(' ');
    case 'R':
      return p?.responseTopic ?? '';
    case 'S':
      return (p?.subscriptionIdentifiers ?? []).join(',');
    case 'I':
      return isoLocal(now);
    case 'U':
      return `${nanos / 1_000_000_000n}.${(nanos % 1_000_000_000n).toString().padStart(9, '0')}`;
    case 'j':
      return jsonObject(message, now, nanos, false);
    case 'J':
      return jsonObject(message, now, nanos, true);
    case '%':
      return '%';
    default:
      return undefined;
  }
}

const ESCAPES: Readonly<Record<string, string>> = {
  '\\': '\\',
  '0': '\0',
  a: '\x07',
  e: '\x1b',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};

/** Applies width/precision/flags to a converted value. */
function applyWidth(c: string, value: string | Buffer, spec: string): string | Buffer {
  if (spec === '' || typeof value !== 'string' || !WIDTHABLE.has(c)) return value;
  const m = /^([-0]*)(\d*)(?:\.(\d+))?$/.exec(spec);
  if (m === null) return value;
  const [, flags = '', width = '', precision] = m;
  let text = value;
  if (precision !== undefined && TRUNCATABLE.has(c)) text = text.slice(0, Number(precision));
  const w = width === '' ? 0 : Number(width);
  if (flags.includes('-')) return text.padEnd(w, ' ');
  return text.padStart(w, flags.includes('0') && NUMERIC.has(c) ? '0' : ' ');
}

/** Renders one message with a `-F` format string; `now`/`nanos` are the receive time. */
export function renderFormat(format: string, message: Message, now: Date, nanos: bigint): Buffer {
  const parts: (string | Buffer)[] = [];
  let text = '';
  const flush = (): void => {
    if (text !== '') parts.push(text);
    text = '';
  };
  // Bounded by the format's length: every step consumes at least one character.
  for (let i = 0; i < format.length; i++) {
    const ch = format[i] as string;
    if (ch === '%') {
      const m = /^([-0]*\d*(?:\.\d+)?)([^-0-9.])/.exec(format.slice(i + 1));
      const c = m?.[2];
      const value = m === null || c === undefined ? undefined : conversion(c, message, now, nanos);
      if (m === null || c === undefined || value === undefined) {
        text += ch;
        continue;
      }
      const shaped = applyWidth(c, value, m[1] ?? '');
      if (typeof shaped === 'string') text += shaped;
      else {
        flush();
        parts.push(shaped);
      }
      i += m[0].length;
    } else if (ch === '@' && i + 1 < format.length) {
      text += strftime(format[i + 1] as string, now, nanos);
      i++;
    } else if (ch === '\\' && i + 1 < format.length) {
      const escaped = ESCAPES[format[i + 1] as string];
      text += escaped ?? `\\${format[i + 1]}`;
      i++;
    } else {
      text += ch;
    }
  }
  flush();
  return Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part) : part)));
}

/** The bytes printed for one message (including the newline unless -N). */
export function formatMessage(
  output: OutputFormat,
  message: Message,
  now: Date = new Date(),
  nanos: bigint = BigInt(now.getTime()) * 1_000_000n,
): Buffer {
  let body: Buffer;
  if (output.format !== undefined) body = renderFormat(output.format, message, now, nanos);
  else if (output.verbose) {
    const payload = message.payload.length === 0 ? Buffer.from('(null)') : message.payload;
    body = Buffer.concat([Buffer.from(`${message.topic} `), payload]);
  } else body = message.payload;
  return output.noEol ? body : Buffer.concat([body, Buffer.from('\n')]);
}
