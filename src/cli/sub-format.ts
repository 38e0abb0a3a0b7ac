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
 * - `@X` strftime conversions (C locale): `@a @A @b @B @c @C @d @D @e @F @h @H @I @j @k @l @m @M @n @p @R
 *   @s @S @t @T @u @w @y @Y @z @Z`, `@N` nanoseconds and `@@`; an unknown one prints as `%X`, as strftime does
 * - escapes: `\\ \0 \a \e \n \r \t \v`
 * - flags, width and precision: `%[-][0][width][.precision]c`. Width pads `%A %C %E %F %I %l %m %S %t`
 *   (`%R` only when present) and cuts `%p %x %X` as mosquitto does; precision cuts `%C %I %R %t`; the
 *   other conversions ignore both.
 *
 * The format is checked once, before connecting ({@link compileFormat}), with mosquitto's error texts.
 */
import type { Message } from '../client/types.js';
import { isoLocal, jsonTime, type ReceiveTime, receiveTime, strftime } from './sub-time.js';
import { UsageError } from './usage-error.js';

/** One piece of a compiled `-F` format. */
export type FormatToken =
  | { kind: 'text'; text: string }
  | {
      kind: 'field';
      conversion: string;
      leftAlign: boolean;
      zeroPad: boolean;
      width: number;
      precision: number | undefined;
    }
  | { kind: 'time'; spec: string };

/** How messages are printed. */
export interface OutputFormat {
  /** -v */
  verbose: boolean;
  /** -N: no newline after each message. */
  noEol: boolean;
  /** -F, compiled. */
  format: readonly FormatToken[] | undefined;
}

const CONVERSIONS = new Set('ACDEFIJPRSUXjlmpqrtx%');
const NUMERIC = new Set(['A', 'E', 'F', 'l', 'm', 'S']);
const TRUNCATABLE = new Set(['C', 'I', 'R', 't']);
/** Conversions padded to the field width like printf's `%s`/`%d`; `%p %x %X` have their own rule. */
const PADDED = new Set(['A', 'C', 'E', 'F', 'I', 'l', 'm', 'R', 'S', 't']);

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

/** Parses and checks a `-F` format; a UsageError carries mosquitto's text for a bad one. */
export function compileFormat(format: string): FormatToken[] {
  const tokens: FormatToken[] = [];
  let text = '';
  const flush = (): void => {
    if (text !== '') tokens.push({ kind: 'text', text });
    text = '';
  };
  // Bounded by the format's length: every step consumes at least one character.
  for (let i = 0; i < format.length; i++) {
    const ch = format[i] as string;
    if (ch === '%') {
      // One '-', one or more '0', digits, '.' digits, then the conversion: anything else is reported at
      // the character where the grammar stops.
      const m = /^(-?)(0*)(\d*)(?:\.(\d*))?/.exec(format.slice(i + 1)) as RegExpExecArray;
      const c = format[i + 1 + m[0].length];
      if (c === undefined) throw new UsageError('Incomplete format specifier.');
      if (!CONVERSIONS.has(c)) throw new UsageError(`Invalid format specifier '${c}'.`);
      flush();
      tokens.push({
        kind: 'field',
        conversion: c,
        leftAlign: m[1] === '-',
        zeroPad: (m[2] ?? '') !== '',
        width: m[3] === undefined || m[3] === '' ? 0 : Number(m[3]),
        precision: m[4] === undefined ? undefined : Number(m[4] === '' ? 0 : m[4]),
      });
      i += m[0].length + 1;
    } else if (ch === '@') {
      const spec = format[i + 1];
      if (spec === undefined) throw new UsageError('Incomplete format specifier.');
      flush();
      tokens.push({ kind: 'time', spec });
      i++;
    } else if (ch === '\\') {
      const escaped = format[i + 1];
      if (escaped === undefined) throw new UsageError('Incomplete escape specifier.');
      const value = ESCAPES[escaped];
      if (value === undefined) throw new UsageError(`Invalid escape specifier '${escaped}'.`);
      text += value;
      i++;
    } else {
      text += ch;
    }
  }
  flush();
  return tokens;
}

/** mosquitto's names for the properties `%j` / `%J` show. */
const JSON_PROPERTY_NAMES: Readonly<Record<string, string>> = {
  payloadFormatIndicator: 'payload-format-indicator',
  messageExpiryInterval: 'message-expiry-interval',
  contentType: 'content-type',
  responseTopic: 'response-topic',
  correlationData: 'correlation-data',
  userProperties: 'user-properties',
};

/**
 * The v5 properties in `%j` / `%J`, in the order they came on the wire (the decoder fills the object in
 * that order), as mosquitto prints them; undefined when there are none. Topic alias and subscription
 * identifiers are left out.
 */
function jsonProperties(message: Message): string | undefined {
  const entries: string[] = [];
  for (const [field, value] of Object.entries(message.properties ?? {})) {
    const name = JSON_PROPERTY_NAMES[field];
    if (name === undefined || value === undefined) continue;
    const shown = Buffer.isBuffer(value)
      ? value.toString('utf8')
      : field === 'userProperties'
        ? Object.fromEntries(value as [string, string][])
        : value;
    entries.push(`${JSON.stringify(name)}:${JSON.stringify(shown)}`);
  }
  return entries.length === 0 ? undefined : `{${entries.join(',')}}`;
}

/** The JSON object of `%j` / `%J`, or undefined when `%J` finds a payload that is not JSON. */
function jsonObject(message: Message, time: ReceiveTime, rawPayload: boolean): string | undefined {
  let head =
    `{"tst":${JSON.stringify(jsonTime(time))},"topic":${JSON.stringify(message.topic)},` +
    `"qos":${message.qos},"retain":${message.retain ? 1 : 0},"payloadlen":${message.payload.length}`;
  const properties = jsonProperties(message);
  const text = message.payload.toString('utf8');
  if (properties !== undefined) head += `,"properties":${properties}`;
  if (rawPayload) {
    try {
      JSON.parse(text);
    } catch {
      return undefined;
    }
    return `${head},"payload":${text}}`;
  }
  return `${head},"payload":${JSON.stringify(text)}}`;
}

/**
 * The value of one `%` conversion; undefined for an absent `%R`, which mosquitto leaves out entirely
 * (no padding), unlike the other absent properties.
 */
function conversion(c: string, message: Message, time: ReceiveTime): string | undefined {
  const p = message.properties;
  switch (c) {
    case 't':
      return message.topic;
    case 'q':
      return String(message.qos);
    case 'r':
      return message.retain ? '1' : '0';
    case 'l':
      return String(message.payload.length);
    case 'm':
      return String(message.packetId ?? 0);
    case 'A':
      return p?.topicAlias === undefined ? '' : String(p.topicAlias);
    case 'C':
      return p?.contentType ?? '';
    case 'E':
      return p?.messageExpiryInterval === undefined ? '' : String(p.messageExpiryInterval);
    case 'F':
      return p?.payloadFormatIndicator === undefined ? '' : String(p.payloadFormatIndicator);
    case 'P':
      return (p?.userProperties ?? []).map(([k, v]) => `${k}:${v}`).join(' ');
    case 'R':
      return p?.responseTopic;
    case 'S':
      return (p?.subscriptionIdentifiers ?? []).join(',');
    case 'I':
      return isoLocal(time.now);
    case 'U':
      return `${time.nanos / 1_000_000_000n}.${(time.nanos % 1_000_000_000n).toString().padStart(9, '0')}`;
    default:
      return '%';
  }
}

type Field = Extract<FormatToken, { kind: 'field' }>;

/**
 * `%p %x %X` with a width, as mosquitto: at most `width` payload bytes are shown (for hex, half of that,
 * rounded down), padded to the width with the pad character (spaces after the value when left-aligned).
 */
function payloadField(field: Field, payload: Buffer): Buffer {
  const hex = field.conversion !== 'p';
  const encode = (bytes: Buffer): Buffer => {
    if (!hex) return bytes;
    const digits = bytes.toString('hex');
    return Buffer.from(field.conversion === 'X' ? digits.toUpperCase() : digits);
  };
  if (field.width === 0) return encode(payload);
  let shown = Math.min(payload.length, field.width);
  if (hex) shown = Math.floor(shown / 2);
  const padding = field.width - (hex ? shown * 2 : shown);
  const body = encode(payload.subarray(0, shown));
  if (field.leftAlign) return Buffer.concat([body, Buffer.from(' '.repeat(padding))]);
  return Buffer.concat([Buffer.from((field.zeroPad ? '0' : ' ').repeat(padding)), body]);
}

/** Width and precision for the printf-like conversions. */
function shape(field: Field, value: string): string {
  if (!PADDED.has(field.conversion)) return value;
  let text = value;
  if (field.precision !== undefined && TRUNCATABLE.has(field.conversion)) {
    text = text.slice(0, field.precision);
  }
  if (field.leftAlign) return text.padEnd(field.width, ' ');
  return text.padStart(field.width, field.zeroPad && NUMERIC.has(field.conversion) ? '0' : ' ');
}

/**
 * Renders one message with a compiled `-F` format. `warn` receives mosquitto's error line for a `%J`
 * payload that is not JSON; the conversion is then left out and the rest is printed.
 */
export function renderFormat(
  tokens: readonly FormatToken[],
  message: Message,
  time: ReceiveTime,
  warn: (line: string) => void,
): Buffer {
  const parts: Buffer[] = [];
  for (const token of tokens) {
    if (token.kind === 'text') parts.push(Buffer.from(token.text));
    else if (token.kind === 'time') parts.push(Buffer.from(strftime(token.spec, time)));
    else if (token.conversion === 'p' || token.conversion === 'x' || token.conversion === 'X') {
      parts.push(payloadField(token, message.payload));
    } else if (token.conversion === 'D') {
      // Binary: the bytes as they are, no width.
      parts.push(message.properties?.correlationData ?? Buffer.alloc(0));
    } else if (token.conversion === 'j' || token.conversion === 'J') {
      const json = jsonObject(message, time, token.conversion === 'J');
      if (json === undefined) warn(`Error: Message payload is not valid JSON on topic ${message.topic}.`);
      else parts.push(Buffer.from(json));
    } else {
      const value = conversion(token.conversion, message, time);
      if (value !== undefined) parts.push(Buffer.from(shape(token, value)));
    }
  }
  return Buffer.concat(parts);
}

/** The bytes printed for one message (including the newline unless -N). */
export function formatMessage(
  output: OutputFormat,
  message: Message,
  time: ReceiveTime = receiveTime(),
  warn: (line: string) => void = () => undefined,
): Buffer {
  let body: Buffer;
  if (output.format !== undefined) body = renderFormat(output.format, message, time, warn);
  else if (output.verbose) {
    const payload = message.payload.length === 0 ? Buffer.from('(null)') : message.payload;
    body = Buffer.concat([Buffer.from(`${message.topic} `), payload]);
  } else body = message.payload;
  return output.noEol ? body : Buffer.concat([body, Buffer.from('\n')]);
}
