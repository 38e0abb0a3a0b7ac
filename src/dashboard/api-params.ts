import { isValidTopicFilter, isValidTopicName } from '../packets/index.js';
import type { PageQuery } from './admin-port.js';

/** A request the API refuses with 400 (or another 4xx): the message says what was wrong. */
export class ApiRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiRequestError';
  }
}

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 500;
/** Longest search string, client id or topic the API takes in a query. */
const MAX_TEXT = 65_535;

/**
 * The query string of one API call: every parameter is read once through a typed getter that refuses a bad
 * value with a 400 naming the parameter; `done()` refuses parameters nobody read, so a typo is an error,
 * not a silently ignored filter.
 */
export class QueryParams {
  private readonly read = new Set<string>();

  constructor(private readonly params: URLSearchParams) {
    for (const key of new Set(params.keys())) {
      if (params.getAll(key).length > 1) throw bad(key, 'given more than once');
    }
  }

  /** A free text parameter; undefined when absent. */
  text(name: string): string | undefined {
    this.read.add(name);
    const value = this.params.get(name);
    if (value === null) return undefined;
    if (value.length > MAX_TEXT) throw bad(name, `longer than ${MAX_TEXT} characters`);
    return value;
  }

  /** A text parameter that must be given (it may be empty when `allowEmpty`). */
  requiredText(name: string, allowEmpty = false): string {
    const value = this.text(name);
    if (value === undefined) throw new ApiRequestError(400, `missing parameter '${name}'`);
    if (!allowEmpty && value === '') throw bad(name, 'must not be empty');
    return value;
  }

  /** An integer within [min, max]; `fallback` when absent. */
  integer(name: string, min: number, max: number, fallback: number): number {
    const raw = this.text(name);
    if (raw === undefined) return fallback;
    if (!/^-?\d{1,16}$/.test(raw)) throw bad(name, `must be an integer from ${min} to ${max}, got '${raw}'`);
    const value = Number(raw);
    if (value < min || value > max) throw bad(name, `must be from ${min} to ${max}, got ${value}`);
    return value;
  }

  /** `true` or `false`; undefined when absent. */
  boolean(name: string): boolean | undefined {
    const raw = this.text(name);
    if (raw === undefined) return undefined;
    if (raw === 'true') return true;
    if (raw === 'false') return false;
    throw bad(name, `must be true or false, got '${raw}'`);
  }

  /** `offset` (default 0) and `limit` (default 50, at most 500). */
  page(): PageQuery {
    return {
      offset: this.integer('offset', 0, 1_000_000_000, 0),
      limit: this.integer('limit', 1, MAX_LIMIT, DEFAULT_LIMIT),
    };
  }

  /** A topic name (no wildcards, not empty). */
  topicName(name: string): string {
    const topic = this.requiredText(name);
    if (!isValidTopicName(topic)) throw bad(name, `'${topic}' is not a valid topic name`);
    return topic;
  }

  /** A topic filter; `fallback` when absent. */
  topicFilter(name: string, fallback: string): string {
    const filter = this.text(name) ?? fallback;
    if (!isValidTopicFilter(filter)) throw bad(name, `'${filter}' is not a valid topic filter`);
    return filter;
  }

  /** Refuse any parameter no getter asked for. */
  done(): void {
    for (const key of this.params.keys()) {
      if (!this.read.has(key)) throw new ApiRequestError(400, `unknown parameter '${key}'`);
    }
  }
}

function bad(name: string, why: string): ApiRequestError {
  return new ApiRequestError(400, `bad parameter '${name}': ${why}`);
}

/** What POST /api/v1/publish takes, checked. */
export interface PublishBody {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly qos: 0 | 1 | 2;
  readonly retain: boolean;
}

/**
 * Check a publish body: `topic` (a topic name), `payload` (text, UTF-8) or `payloadBase64` (bytes), `qos`
 * (0, 1 or 2; default 0), `retain` (default false). Unknown fields are refused.
 */
export function parsePublishBody(body: unknown): PublishBody {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new ApiRequestError(400, 'body must be a JSON object');
  const fields = body as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (!['topic', 'payload', 'payloadBase64', 'qos', 'retain'].includes(key))
      throw new ApiRequestError(400, `unknown field '${key}'`);
  }
  const { topic, payload, payloadBase64, qos = 0, retain = false } = fields;
  if (typeof topic !== 'string') throw field('topic', 'must be a string');
  if (!isValidTopicName(topic)) throw field('topic', `'${topic}' is not a valid topic name`);
  if (qos !== 0 && qos !== 1 && qos !== 2)
    throw field('qos', `must be 0, 1 or 2, got ${JSON.stringify(qos)}`);
  if (typeof retain !== 'boolean') throw field('retain', 'must be true or false');
  if (payload !== undefined && payloadBase64 !== undefined)
    throw new ApiRequestError(400, "give 'payload' or 'payloadBase64', not both");
  let bytes: Uint8Array;
  if (payloadBase64 !== undefined) {
    if (typeof payloadBase64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(payloadBase64))
      throw field('payloadBase64', 'must be a base64 string');
    bytes = Buffer.from(payloadBase64, 'base64');
  } else {
    if (payload !== undefined && typeof payload !== 'string') throw field('payload', 'must be a string');
    bytes = Buffer.from(payload ?? '', 'utf8');
  }
  return { topic, payload: bytes, qos, retain };
}

function field(name: string, why: string): ApiRequestError {
  return new ApiRequestError(400, `bad field '${name}': ${why}`);
}

/** The payload as text when it is valid UTF-8, else undefined (the base64 form is always there). */
export function utf8OrUndefined(bytes: Uint8Array): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}
