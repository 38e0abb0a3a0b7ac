/**
 * Turns a URL and `ClientOptions` into a validated configuration and the CONNECT packet.
 */
import { randomBytes } from 'node:crypto';
import type { ConnectPacket, Properties, ProtocolVersionNumber, WillMessage } from '../packets/types.js';
import { type ReconnectPolicy, resolveReconnectPolicy } from './reconnect.js';
import type { ClientOptions } from './types.js';

/** The transports, by URL scheme. */
export const TransportKind = {
  'mqtt:': 'tcp',
  'tcp:': 'tcp',
  'mqtts:': 'tls',
  'ssl:': 'tls',
  'ws:': 'ws',
  'wss:': 'wss',
} as const;

export type TransportKindName = (typeof TransportKind)[keyof typeof TransportKind];

const DEFAULT_PORTS: Record<TransportKindName, number> = { tcp: 1883, tls: 8883, ws: 80, wss: 443 };

/** Where to connect: parsed from the URL. */
export interface Endpoint {
  readonly kind: TransportKindName;
  readonly host: string;
  readonly port: number;
  /** Path and query of a WebSocket URL. */
  readonly path: string;
  /** The URL as given, for WebSocket transports. */
  readonly href: string;
}

/** `ClientOptions` with defaults applied and the URL parsed. */
export interface ResolvedOptions {
  readonly endpoint: Endpoint;
  readonly protocolVersion: ProtocolVersionNumber;
  readonly clean: boolean;
  readonly keepalive: number;
  readonly connectTimeoutMs: number;
  readonly reconnect: ReconnectPolicy | undefined;
  readonly autoAssignTopicAlias: boolean;
  /** Inbound topic aliases we accept (v5). */
  readonly topicAliasMaximum: number;
  /** Session Expiry Interval sent in CONNECT (v5), 0 when absent. */
  readonly sessionExpiryInterval: number;
  readonly authenticationMethod: string | undefined;
  readonly raw: ClientOptions;
}

/** Parses the broker URL. Throws TypeError for unknown schemes or bad URLs. */
export function parseEndpoint(url: string): Endpoint {
  const parsed = new URL(url);
  const kind = TransportKind[parsed.protocol as keyof typeof TransportKind];
  if (kind === undefined) throw new TypeError(`unsupported URL scheme ${parsed.protocol} (${url})`);
  // URL keeps IPv6 hosts bracketed; sockets want them bare.
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1') || 'localhost';
  const port = parsed.port === '' ? DEFAULT_PORTS[kind] : Number(parsed.port);
  return { kind, host, port, path: (parsed.pathname || '/') + parsed.search, href: parsed.href };
}

/** A random client identifier `starling-` + 8 hex digits (17 characters, valid for MQTT 3.1 too). */
export function randomClientId(): string {
  return `starling-${randomBytes(4).toString('hex')}`;
}

function checkRange(name: string, value: number | undefined, min: number, max: number): void {
  if (value !== undefined && !(Number.isInteger(value) && value >= min && value <= max)) {
    throw new RangeError(`${name} must be an integer in ${min}..${max}, got ${value}`);
  }
}

/** Applies defaults and validates. Throws RangeError/TypeError for invalid options. */
export function resolveOptions(url: string, options: ClientOptions = {}): ResolvedOptions {
  const endpoint = parseEndpoint(url);
  const protocolVersion = options.protocolVersion ?? 5;
  if (protocolVersion !== 3 && protocolVersion !== 4 && protocolVersion !== 5) {
    throw new RangeError(`protocolVersion must be 3, 4 or 5, got ${String(protocolVersion)}`);
  }
  checkRange('keepalive', options.keepalive, 0, 0xffff);
  checkRange('receiveMaximum', options.receiveMaximum, 1, 0xffff);
  checkRange('topicAliasMaximum', options.topicAliasMaximum, 0, 0xffff);
  checkRange('maximumPacketSize', options.maximumPacketSize, 1, 0xffffffff);
  checkRange('sessionExpiryInterval', options.sessionExpiryInterval, 0, 0xffffffff);
  const authenticationMethod = options.authenticationMethod ?? options.properties?.authenticationMethod;
  if (options.auth !== undefined && authenticationMethod === undefined) {
    throw new TypeError('auth needs an authenticationMethod');
  }
  if (protocolVersion < 5 && authenticationMethod !== undefined) {
    throw new TypeError('enhanced authentication needs protocolVersion 5');
  }
  if (protocolVersion < 5 && options.clientId === '' && options.clean === false) {
    // 3.1.1 section 3.1.3.1: an empty client id requires Clean Session 1.
    throw new TypeError('an empty clientId needs clean: true before MQTT 5');
  }
  return {
    endpoint,
    protocolVersion,
    clean: options.clean ?? true,
    keepalive: options.keepalive ?? 60,
    connectTimeoutMs: options.connectTimeoutMs ?? 30_000,
    reconnect: resolveReconnectPolicy(options.reconnect),
    autoAssignTopicAlias: options.autoAssignTopicAlias === true && protocolVersion === 5,
    topicAliasMaximum: protocolVersion === 5 ? (options.topicAliasMaximum ?? 0) : 0,
    sessionExpiryInterval: options.sessionExpiryInterval ?? options.properties?.sessionExpiryInterval ?? 0,
    authenticationMethod,
    raw: options,
  };
}

function toBuffer(value: Buffer | string): Buffer {
  return typeof value === 'string' ? Buffer.from(value) : value;
}

/** Copies the defined entries of `source` into `target`. */
function assignDefined(target: Properties, source: Properties): void {
  for (const [name, value] of Object.entries(source)) {
    if (value !== undefined) (target as Record<string, unknown>)[name] = value;
  }
}

/** The CONNECT packet for the resolved options, URL credentials and current client id. */
export function buildConnectPacket(resolved: ResolvedOptions, clientId: string): ConnectPacket {
  const { raw, protocolVersion } = resolved;
  const url = new URL(resolved.endpoint.href);
  const username = raw.username ?? (url.username === '' ? undefined : decodeURIComponent(url.username));
  const password =
    raw.password !== undefined
      ? toBuffer(raw.password)
      : url.password === ''
        ? undefined
        : Buffer.from(decodeURIComponent(url.password));
  const packet: ConnectPacket = {
    type: 'connect',
    protocolName: protocolVersion === 3 ? 'MQIsdp' : 'MQTT',
    protocolVersion,
    clean: resolved.clean,
    keepalive: resolved.keepalive,
    clientId,
  };
  if (username !== undefined) packet.username = username;
  if (password !== undefined) packet.password = password;
  if (raw.will !== undefined) {
    const will: WillMessage = {
      topic: raw.will.topic,
      payload: toBuffer(raw.will.payload),
      qos: raw.will.qos ?? 0,
      retain: raw.will.retain ?? false,
    };
    if (protocolVersion === 5 && raw.will.properties !== undefined) will.properties = raw.will.properties;
    packet.will = will;
  }
  if (protocolVersion === 5) {
    const properties: Properties = {};
    if (raw.properties !== undefined) assignDefined(properties, raw.properties);
    assignDefined(properties, {
      sessionExpiryInterval: raw.sessionExpiryInterval,
      receiveMaximum: raw.receiveMaximum,
      maximumPacketSize: raw.maximumPacketSize,
      topicAliasMaximum: raw.topicAliasMaximum,
      authenticationMethod: raw.authenticationMethod,
      authenticationData: raw.authenticationData,
    });
    if (Object.keys(properties).length > 0) packet.properties = properties;
  }
  return packet;
}
