/**
 * `starling pub`: publish like `mosquitto_pub`, with its flags, output and exit codes, so that scripts
 * switch by changing the command name.
 */
import { readFileSync } from 'node:fs';
import { type Client, connect } from '../client/client.js';
import { isValidTopicName } from '../packets/topic.js';
import type { QoS } from '../packets/types.js';
import { type CommandIo, prepareClientCommand } from './command-io.js';
import { DebugLog } from './debug-log.js';
import { connectFailure, reasonText } from './mosquitto-text.js';
import {
  brokerUrl,
  checkClientFlags,
  clientIdFor,
  defaultClientFlags,
  flagValue,
  intValue,
  parseClientFlag,
  qosValue,
} from './mqtt-client-flags.js';
import { UsageError } from './usage-error.js';

const HELP = `starling pub: publish one message, a file, or each line of standard input, as mosquitto_pub does.

Usage: starling pub {[-h host] [-p port] [-u username] [-P password] -t topic | -L URL}
                    {-f file | -l | -n | -m message | -s}
                    [-c] [-k keepalive] [-q qos] [-r] [--repeat N] [--repeat-delay time] [-x session-expiry]
                    [-i id] [-I id_prefix] [-d] [--quiet] [-V protocol-version]
                    [--will-topic topic [--will-payload payload] [--will-qos qos] [--will-retain]]
                    [--cafile file [--cert file --key file] [--insecure]]
                    [-D command identifier value]

 -c : disable clean session (MQTT 5: session expiry "never" unless -x says otherwise)
 -d : debug lines for every packet sent and received
 -D : MQTT 5 property: -D connect|publish|will|disconnect <name> <value> (user-property takes two values)
 -f : send the contents of a file as the message
 -h : host to connect to, default localhost
 -i : client id (default: empty, the broker assigns one; MQTT 3.1: starling_pub_<pid>)
 -I : client id prefix, the process id is appended
 -k : keep alive in seconds, default 60
 -L : mqtt(s)://[username[:password]@]host[:port]/topic (ws:// and wss:// with -t too)
 -l : read messages from stdin, one message per line
 -m : message payload
 -n : send a null (zero length) message
 -p : port, default 1883 (8883 with --cafile)
 -P : password
 -q : QoS 0, 1 or 2, default 0
 -r : retain the message
 -s : read the whole of stdin as one message
 -t : topic to publish to
 -u : username
 -V : protocol version: 5, 311 or 31 (or mqttv5, mqttv311, mqttv31), default 311
 -x : session expiry interval in seconds (MQTT 5), -1 for never
 --repeat N : publish -m/-f/-s message N times; --repeat-delay seconds between them
 --cafile, --cert, --key : TLS; --insecure : do not verify the server certificate
 --will-topic, --will-payload, --will-qos, --will-retain : the last will
 --quiet : do not print error messages
`;

const MessageSource = {
  message: 'message',
  file: 'file',
  lines: 'lines',
  stdin: 'stdin',
  null: 'null',
} as const;
type MessageSourceName = (typeof MessageSource)[keyof typeof MessageSource];

/** What `starling pub` was asked to do. */
interface PubPlan {
  topic: string | undefined;
  qos: QoS;
  retain: boolean;
  source: MessageSourceName | undefined;
  message: Buffer;
  repeat: number;
  repeatDelayMs: number;
}

function setSource(plan: PubPlan, source: MessageSourceName): void {
  if (plan.source !== undefined) throw new UsageError('Only one type of message can be sent at once.');
  plan.source = source;
}

function parsePubArgs(argv: readonly string[]): {
  plan: PubPlan;
  flags: ReturnType<typeof defaultClientFlags>;
} {
  const flags = defaultClientFlags();
  const plan: PubPlan = {
    topic: undefined,
    qos: 0,
    retain: false,
    source: undefined,
    message: Buffer.alloc(0),
    repeat: 1,
    repeatDelayMs: 0,
  };
  for (let i = 0; i < argv.length; ) {
    const arg = argv[i] as string;
    let used = 2;
    switch (arg) {
      case '-t':
      case '--topic':
        plan.topic = flagValue(argv, i, 'topic');
        break;
      case '-m':
      case '--message':
        setSource(plan, 'message');
        plan.message = Buffer.from(flagValue(argv, i, 'message'));
        break;
      case '-f':
      case '--file': {
        const file = flagValue(argv, i, 'file');
        setSource(plan, 'file');
        try {
          plan.message = readFileSync(file);
        } catch {
          throw new UsageError(`Unable to read file "${file}".`);
        }
        break;
      }
      case '-l':
      case '--stdin-line':
        setSource(plan, 'lines');
        used = 1;
        break;
      case '-s':
      case '--stdin-file':
        setSource(plan, 'stdin');
        used = 1;
        break;
      case '-n':
      case '--null-message':
        setSource(plan, 'null');
        used = 1;
        break;
      case '-q':
      case '--qos':
        plan.qos = qosValue(argv, i);
        break;
      case '-r':
      case '--retain':
        plan.retain = true;
        used = 1;
        break;
      case '--repeat':
        plan.repeat = intValue(argv, i, 'repeat count', 1, 2 ** 31 - 1);
        break;
      case '--repeat-delay': {
        const text = flagValue(argv, i, 'time');
        const seconds = Number(text);
        if (!/^\d+(\.\d+)?$/.test(text) || !Number.isFinite(seconds)) {
          throw new UsageError(`Invalid repeat delay given: ${text}`);
        }
        plan.repeatDelayMs = seconds * 1000;
        break;
      }
      default:
        used = parseClientFlag(flags, argv, i);
        if (used === 0) throw new UsageError(`Unknown option '${arg}'.`);
    }
    i += used;
  }
  checkClientFlags(flags);
  plan.topic ??= flags.urlTopic;
  if (plan.topic === undefined || plan.source === undefined) {
    throw new UsageError('Both topic and message must be supplied.');
  }
  // [MQTT-3.3.2-2] wildcards are not allowed in a topic name.
  if (!isValidTopicName(plan.topic)) {
    throw new UsageError(`Invalid publish topic '${plan.topic}', does it contain '+' or '#'?`);
  }
  return { plan, flags };
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Publishes everything the plan names; resolves once the last publish is acknowledged. */
async function publishAll(
  client: Client,
  plan: PubPlan,
  topic: string,
  io: CommandIo,
  properties: object,
): Promise<void> {
  const options = { qos: plan.qos, retain: plan.retain, properties };
  if (plan.source === 'lines') {
    // One message per line as lines arrive. Only the \n is removed: like mosquitto_pub, a \r before it
    // stays in the message. A last line without a newline is sent too.
    const pending: Promise<void>[] = [];
    let rest = Buffer.alloc(0);
    for await (const chunk of io.stdin) {
      rest = Buffer.concat([rest, typeof chunk === 'string' ? Buffer.from(chunk) : chunk]);
      // Bounded by the newlines in the data read so far.
      for (let end = rest.indexOf(10); end !== -1; end = rest.indexOf(10)) {
        pending.push(client.publish(topic, rest.subarray(0, end), options));
        rest = rest.subarray(end + 1);
      }
    }
    if (rest.length > 0) pending.push(client.publish(topic, rest, options));
    await Promise.all(pending);
    return;
  }
  const payload = plan.source === 'stdin' ? await readAll(io.stdin) : plan.message;
  for (let n = 0; n < plan.repeat; n++) {
    if (n > 0 && plan.repeatDelayMs > 0) await sleep(plan.repeatDelayMs);
    await client.publish(topic, payload, options);
  }
}

/** `starling pub`: returns the exit code (0, a CONNACK code when refused, 1 for other failures). */
export async function runPubCommand(argv: readonly string[], io: CommandIo = process): Promise<number> {
  const prepared = prepareClientCommand(argv, io, 'pub', HELP, parsePubArgs);
  if (typeof prepared === 'number') return prepared;
  const { plan, flags, options, complain } = prepared;
  const topic = plan.topic as string;
  if (flags.debug) {
    const debug = new DebugLog(io.stdout, clientIdFor(flags, 'starling_pub'));
    options.onPacket = (direction, packet) => debug.packet(direction, packet);
  }
  let client: Client;
  try {
    client = await connect(brokerUrl(flags), options);
  } catch (error) {
    const failure = connectFailure(error, flags.protocolVersion);
    complain(failure.line);
    if (failure.connackCode !== undefined) {
      complain(
        flags.protocolVersion === 5
          ? 'Error: A network protocol error occurred when communicating with the broker.'
          : 'Error: The connection was refused.',
      );
    }
    return failure.exitCode;
  }
  const publishProperties = flags.protocolVersion === 5 ? flags.properties.publish : {};
  let code = 0;
  try {
    await publishAll(client, plan, topic, io, publishProperties);
  } catch (error) {
    const reason = (error as { reasonCode?: number }).reasonCode;
    complain(
      reason === undefined
        ? `Error: ${(error as Error).message}`
        : `Warning: Publish failed: ${reasonText(reason)}.`,
    );
    code = 1;
  }
  const disconnect = flags.properties.disconnect;
  await client
    .end(
      flags.protocolVersion === 5 && Object.keys(disconnect).length > 0
        ? {
            properties: { ...disconnect, sessionExpiryInterval: undefined },
            ...(disconnect.sessionExpiryInterval === undefined
              ? {}
              : { sessionExpiryInterval: disconnect.sessionExpiryInterval }),
          }
        : {},
    )
    .catch(() => undefined);
  return code;
}
