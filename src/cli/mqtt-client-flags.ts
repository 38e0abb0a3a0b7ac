/**
 * The connection flags `starling pub` and `starling sub` share with `mosquitto_pub`/`mosquitto_sub`
 * (-h -p -L -i -I -u -P -k -V -c -x -d -D --will-* --cafile --cert --key --insecure --quiet), their
 * parsing into `ClientOptions`. The `-D` properties are in `mqtt-property-flags.ts`, mosquitto's wording for
 * errors in `mosquitto-text.ts`, its `-d` lines in `debug-log.ts`.
 */
import { readFileSync } from 'node:fs';
import type { ClientOptions, WillOptions } from '../client/types.js';
import type { Properties, ProtocolVersionNumber, QoS } from '../packets/types.js';
import { applyProperty, type PropertyStageName } from './mqtt-property-flags.js';
import { UsageError } from './usage-error.js';

/** Everything the shared flags set. */
export interface ClientFlags {
  host: string;
  port: number | undefined;
  /** From -L: the whole URL; -h/-p are then ignored. */
  url: string | undefined;
  /** From -L: the topic part of the URL. */
  urlTopic: string | undefined;
  clientId: string | undefined;
  idPrefix: string | undefined;
  username: string | undefined;
  password: string | undefined;
  keepalive: number;
  protocolVersion: ProtocolVersionNumber;
  /** -c: clean session off. */
  persistent: boolean;
  sessionExpiry: number | undefined;
  debug: boolean;
  quiet: boolean;
  cafile: string | undefined;
  cert: string | undefined;
  key: string | undefined;
  insecure: boolean;
  willTopic: string | undefined;
  willPayload: string | undefined;
  willQos: QoS;
  willRetain: boolean;
  /** -D properties, by stage. */
  properties: Record<PropertyStageName, Properties>;
}

/** Flags with mosquitto's defaults (MQTT 3.1.1, localhost, keep alive 60). */
export function defaultClientFlags(): ClientFlags {
  return {
    host: 'localhost',
    port: undefined,
    url: undefined,
    urlTopic: undefined,
    clientId: undefined,
    idPrefix: undefined,
    username: undefined,
    password: undefined,
    keepalive: 60,
    protocolVersion: 4,
    persistent: false,
    sessionExpiry: undefined,
    debug: false,
    quiet: false,
    cafile: undefined,
    cert: undefined,
    key: undefined,
    insecure: false,
    willTopic: undefined,
    willPayload: undefined,
    willQos: 0,
    willRetain: false,
    properties: { connect: {}, publish: {}, subscribe: {}, unsubscribe: {}, disconnect: {}, will: {} },
  };
}

/** The argument after flag `args[i]`, or a usage error naming the flag. */
export function flagValue(args: readonly string[], i: number, what = 'argument'): string {
  const value = args[i + 1];
  if (value === undefined) throw new UsageError(`${args[i]} argument given but no ${what} specified.`);
  return value;
}

/** An integer flag value within `min..max`, or a usage error in mosquitto's words. */
export function intValue(args: readonly string[], i: number, what: string, min: number, max: number): number {
  const text = flagValue(args, i, what);
  const n = /^-?\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= min && n <= max)) throw new UsageError(`Invalid ${what} given: ${text}`);
  return n;
}

/** A QoS flag value. */
export function qosValue(args: readonly string[], i: number): QoS {
  return intValue(args, i, 'QoS', 0, 2) as QoS;
}

/** -V accepts mosquitto's names and the short numbers. */
function protocolValue(text: string): ProtocolVersionNumber {
  switch (text) {
    case 'mqttv31':
    case '31':
      return 3;
    case 'mqttv311':
    case '311':
      return 4;
    case 'mqttv5':
    case '5':
      return 5;
    default:
      throw new UsageError('Invalid protocol version argument given.');
  }
}

/** -x: seconds, or -1 / ∞ for a session that never expires. */
function expiryValue(text: string): number {
  if (text === '-1' || text === '∞') return 0xffffffff;
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= 0 && n <= 0xffffffff)) throw new UsageError(`Invalid session-expiry-interval '${text}'.`);
  return n;
}

/** -L mqtt(s)://[user[:pass]@]host[:port]/topic (ws:// and wss:// too, as an extension). */
function applyUrl(flags: ClientFlags, text: string): void {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError('Unsupported URL scheme.');
  }
  if (!['mqtt:', 'mqtts:', 'ws:', 'wss:'].includes(url.protocol)) {
    throw new UsageError('Unsupported URL scheme.');
  }
  if (url.username !== '') flags.username = decodeURIComponent(url.username);
  if (url.password !== '') flags.password = decodeURIComponent(url.password);
  const topic = decodeURIComponent(url.pathname.replace(/^\//, ''));
  const isWs = url.protocol === 'ws:' || url.protocol === 'wss:';
  // Over WebSocket the path is the HTTP path; the topic then comes from -t.
  if (!isWs) {
    if (topic === '') throw new UsageError('Invalid URL for -L argument specified - topic missing.');
    flags.urlTopic = topic;
  }
  flags.url = `${url.protocol}//${url.host}${isWs ? url.pathname + url.search : ''}`;
}

/**
 * Applies the shared flag at `args[i]`; returns how many arguments it consumed, or 0 when the flag is not
 * a shared one (the command then handles it or reports it as unknown).
 */
export function parseClientFlag(flags: ClientFlags, args: readonly string[], i: number): number {
  switch (args[i]) {
    case '-h':
    case '--host':
      flags.host = flagValue(args, i, 'host');
      return 2;
    case '-p':
    case '--port':
      flags.port = intValue(args, i, 'port', 1, 65535);
      return 2;
    case '-L':
    case '--url':
      applyUrl(flags, flagValue(args, i, 'URL'));
      return 2;
    case '-i':
    case '--id':
      flags.clientId = flagValue(args, i, 'id');
      return 2;
    case '-I':
    case '--id-prefix':
      flags.idPrefix = flagValue(args, i, 'id prefix');
      return 2;
    case '-u':
    case '--username':
      flags.username = flagValue(args, i, 'username');
      return 2;
    case '-P':
    case '--pw':
      flags.password = flagValue(args, i, 'password');
      return 2;
    case '-k':
    case '--keepalive':
      flags.keepalive = intValue(args, i, 'keepalive', 0, 65535);
      return 2;
    case '-V':
    case '--protocol-version':
      flags.protocolVersion = protocolValue(flagValue(args, i, 'protocol version'));
      return 2;
    case '-c':
    case '--disable-clean-session':
      flags.persistent = true;
      return 1;
    case '-x':
      flags.sessionExpiry = expiryValue(flagValue(args, i, 'session-expiry-interval'));
      return 2;
    case '-d':
    case '--debug':
      flags.debug = true;
      return 1;
    case '--quiet':
      flags.quiet = true;
      return 1;
    case '-D':
    case '--property':
      return applyProperty(flags.properties, args, i);
    case '--cafile':
      flags.cafile = flagValue(args, i, 'file');
      return 2;
    case '--cert':
      flags.cert = flagValue(args, i, 'file');
      return 2;
    case '--key':
      flags.key = flagValue(args, i, 'file');
      return 2;
    case '--insecure':
      flags.insecure = true;
      return 1;
    case '--will-topic':
      flags.willTopic = flagValue(args, i, 'will topic');
      return 2;
    case '--will-payload':
      flags.willPayload = flagValue(args, i, 'will payload');
      return 2;
    case '--will-qos':
      flags.willQos = intValue(args, i, 'will QoS', 0, 2) as QoS;
      return 2;
    case '--will-retain':
      flags.willRetain = true;
      return 1;
    default:
      return 0;
  }
}

/** Checks that hold across flags, once every flag is parsed. */
export function checkClientFlags(flags: ClientFlags): void {
  if (flags.persistent && flags.clientId === undefined && flags.idPrefix === undefined) {
    // 3.1.1 section 3.1.3.1: an empty client id requires Clean Session 1.
    throw new UsageError('You must provide a client id if you are using the -c option.');
  }
  if (flags.willTopic === undefined && (flags.willPayload !== undefined || flags.willRetain)) {
    throw new UsageError('Will payload or retain given, but no will topic given.');
  }
  if (flags.cert !== undefined && flags.key === undefined) {
    throw new UsageError('Both certfile and keyfile must be provided if one of them is set.');
  }
}

/**
 * The client id: -i, or -I prefix + pid. Without either, MQTT 3.1.1 and 5 send an empty id (the broker
 * assigns one, as mosquitto's tools do); MQTT 3.1 cannot, so `<tool>_<pid>` is used there.
 */
export function clientIdFor(flags: ClientFlags, tool: string): string {
  if (flags.clientId !== undefined) return flags.clientId;
  if (flags.idPrefix !== undefined) return `${flags.idPrefix}${process.pid}`;
  return flags.protocolVersion === 3 ? `${tool}_${process.pid}` : '';
}

/** The broker URL the flags point at. */
export function brokerUrl(flags: ClientFlags): string {
  if (flags.url !== undefined) return flags.url;
  const tls = flags.cafile !== undefined;
  const host = flags.host.includes(':') ? `[${flags.host}]` : flags.host;
  return `${tls ? 'mqtts' : 'mqtt'}://${host}:${flags.port ?? (tls ? 8883 : 1883)}`;
}

/** `ClientOptions` for the flags; TLS files are read here (a missing file is a usage error). */
export function clientOptions(flags: ClientFlags, tool: string): ClientOptions {
  const v5 = flags.protocolVersion === 5;
  const options: ClientOptions = {
    protocolVersion: flags.protocolVersion,
    clientId: clientIdFor(flags, tool),
    clean: !flags.persistent,
    keepalive: flags.keepalive,
    reconnect: false,
    connectTimeoutMs: 10_000,
  };
  if (flags.username !== undefined) options.username = flags.username;
  if (flags.password !== undefined) options.password = flags.password;
  if (v5) {
    const connect = { ...flags.properties.connect };
    // mosquitto: -x defaults to "never expires" with -c, to 0 without.
    const expiry =
      flags.sessionExpiry ?? connect.sessionExpiryInterval ?? (flags.persistent ? 0xffffffff : 0);
    connect.sessionExpiryInterval = undefined;
    if (expiry > 0) options.sessionExpiryInterval = expiry;
    if (Object.values(connect).some((v) => v !== undefined)) options.properties = connect;
  }
  if (flags.willTopic !== undefined) {
    const will: WillOptions = {
      topic: flags.willTopic,
      payload: flags.willPayload ?? '',
      qos: flags.willQos,
      retain: flags.willRetain,
    };
    if (v5 && Object.keys(flags.properties.will).length > 0) will.properties = flags.properties.will;
    options.will = will;
  }
  const read = (file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch {
      throw new UsageError(`Unable to open file ${file}.`);
    }
  };
  if (flags.cafile !== undefined) options.ca = read(flags.cafile);
  if (flags.cert !== undefined) options.cert = read(flags.cert);
  if (flags.key !== undefined) options.key = read(flags.key);
  // Node cannot skip only the host name check through ClientOptions: --insecure skips the whole check.
  if (flags.insecure) options.rejectUnauthorized = false;
  return options;
}
