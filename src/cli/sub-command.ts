/**
 * `starling sub`: subscribe and print messages like `mosquitto_sub`, with its flags, output and exit
 * codes. Unlike mosquitto_sub, which block-buffers stdout on a pipe, every message is written at once.
 */
import { type Client, connect } from '../client/client.js';
import { topicMatches } from '../client/subscription.js';
import type { Message, PacketObserver } from '../client/types.js';
import { isValidTopicFilter } from '../packets/topic.js';
import type { QoS } from '../packets/types.js';
import { type CommandIo, prepareClientCommand } from './command-io.js';
import { DebugLog } from './debug-log.js';
import { connectFailure } from './mosquitto-text.js';
import {
  brokerUrl,
  type ClientFlags,
  checkClientFlags,
  clientIdFor,
  defaultClientFlags,
  flagValue,
  intValue,
  parseClientFlag,
  qosValue,
} from './mqtt-client-flags.js';
import { compileFormat, formatMessage, type OutputFormat } from './sub-format.js';
import { type ReceiveTime, receiveTime } from './sub-time.js';
import { UsageError } from './usage-error.js';

const HELP = `starling sub: subscribe and print the messages received, as mosquitto_sub does.

Usage: starling sub {[-h host] [-p port] [-u username] [-P password] -t topic | -L URL [-t topic]}
                    [-c] [-k keepalive] [-q qos] [-x session-expiry-interval]
                    [-C msg_count] [-E] [-R] [--retained-only] [--remove-retained] [-T filter_out] [-U topic ...]
                    [-F format] [-W timeout_secs] [-i id] [-I id_prefix] [-d] [-N] [--quiet] [-v]
                    [-V protocol-version] [--will-topic topic [--will-payload payload] [--will-qos qos] [--will-retain]]
                    [--cafile file [--cert file --key file] [--insecure]] [-D command identifier value]

 -C : exit after receiving this many messages
 -E : exit once the subscriptions are acknowledged
 -F : output format (%t topic, %p payload, %q, %r, %l, %m, %x, %X, %j, %J, %I, %U, v5 %P %C %D %E %F %R %S %A,
      @ strftime sequences, \\n \\t \\0 escapes; see src/cli/sub-format.ts)
 -N : no newline after each message
 -q : QoS of the subscriptions, default 0
 -R : do not print stale (retained) messages
 -t : topic filter to subscribe to, may be repeated
 -T : topic filter to leave out of the output, may be repeated
 -U : unsubscribe from this filter (of a persistent session) first, may be repeated
 -v : print the topic before the payload
 -W : exit with code 27 after this many seconds
 --retained-only : print retained messages only and exit at the first non-retained one
 --remove-retained : clear every retained message received (publish an empty retained message)
 The connection flags (-h -p -L -i -I -u -P -k -V -c -x -d -D --cafile --cert --key --insecure --will-* --quiet)
 are those of starling pub (starling pub --help).
`;

/** The exit code of mosquitto_sub when -W expires. */
export const TIMEOUT_EXIT_CODE = 27;

interface SubPlan {
  topics: string[];
  filterOut: string[];
  unsubscribe: string[];
  qos: QoS;
  count: number | undefined;
  noRetained: boolean;
  retainedOnly: boolean;
  removeRetained: boolean;
  exitAfterSubscribe: boolean;
  timeoutSeconds: number | undefined;
  output: OutputFormat;
}

function checkFilter(filter: string, what: string): string {
  // [MQTT-4.7.1-1] [MQTT-4.7.1-2] wildcards must stand alone in their level, '#' last.
  if (!isValidTopicFilter(filter)) {
    throw new UsageError(`Invalid ${what} topic '${filter}', are all '+' and '#' wildcards correct?`);
  }
  return filter;
}

function parseSubArgs(argv: readonly string[]): { plan: SubPlan; flags: ClientFlags } {
  const flags = defaultClientFlags();
  const plan: SubPlan = {
    topics: [],
    filterOut: [],
    unsubscribe: [],
    qos: 0,
    count: undefined,
    noRetained: false,
    retainedOnly: false,
    removeRetained: false,
    exitAfterSubscribe: false,
    timeoutSeconds: undefined,
    output: { verbose: false, noEol: false, format: undefined },
  };
  for (let i = 0; i < argv.length; ) {
    const arg = argv[i] as string;
    let used = 2;
    switch (arg) {
      case '-t':
      case '--topic':
        plan.topics.push(checkFilter(flagValue(argv, i, 'topic'), 'subscription'));
        break;
      case '-T':
      case '--filter-out':
        plan.filterOut.push(checkFilter(flagValue(argv, i, 'topic'), 'filter'));
        break;
      case '-U':
      case '--unsubscribe':
        plan.unsubscribe.push(checkFilter(flagValue(argv, i, 'topic'), 'unsubscribe'));
        break;
      case '-q':
      case '--qos':
        plan.qos = qosValue(argv, i);
        break;
      case '-C':
        plan.count = intValue(argv, i, 'message count', 1, 2 ** 31 - 1);
        break;
      case '-W': {
        const text = flagValue(argv, i, 'timeout');
        const n = /^\d+$/.test(text) ? Number(text) : 0;
        if (n < 1 || n > 3600 * 24 * 365) throw new UsageError(`Invalid timeout "${text}".`);
        plan.timeoutSeconds = n;
        break;
      }
      case '-F':
        plan.output.format = compileFormat(flagValue(argv, i, 'format'));
        break;
      case '-v':
      case '--verbose':
        plan.output.verbose = true;
        used = 1;
        break;
      case '-N':
        plan.output.noEol = true;
        used = 1;
        break;
      case '-R':
        plan.noRetained = true;
        used = 1;
        break;
      case '-E':
        plan.exitAfterSubscribe = true;
        used = 1;
        break;
      case '--retained-only':
        plan.retainedOnly = true;
        used = 1;
        break;
      case '--remove-retained':
        plan.removeRetained = true;
        used = 1;
        break;
      default:
        used = parseClientFlag(flags, argv, i);
        if (used === 0) throw new UsageError(`Unknown option '${arg}'.`);
    }
    i += used;
  }
  checkClientFlags(flags);
  if (flags.urlTopic !== undefined) plan.topics.unshift(checkFilter(flags.urlTopic, 'subscription'));
  if (plan.topics.length === 0 && plan.unsubscribe.length === 0) {
    throw new UsageError('You must specify a topic to subscribe to.');
  }
  return { plan, flags };
}

/** Resolves when SIGINT or SIGTERM arrives; `dispose` removes the handlers. */
function onSignal(): { signalled: Promise<void>; dispose(): void } {
  let resolve!: () => void;
  const signalled = new Promise<void>((r) => {
    resolve = r;
  });
  const handler = (): void => resolve();
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
  return {
    signalled,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

/** Why the receive loop ended: the exit code. */
type Outcome = { code: number; message?: string };

/** Where `receive` follows the packets on the wire; set once it runs (the client observes from CONNECT). */
interface WireWatch {
  observe: PacketObserver | undefined;
}

/**
 * Subscribes, prints, and settles with the exit code once -C/-E/-W/--retained-only/a signal/a lost
 * connection ends the run.
 */
async function receive(
  client: Client,
  plan: SubPlan,
  flags: ClientFlags,
  io: CommandIo,
  wire: WireWatch,
): Promise<Outcome> {
  let settle!: (outcome: Outcome) => void;
  const done = new Promise<Outcome>((resolve) => {
    settle = resolve;
  });
  let printed = 0;
  let finished = false;
  const finish = (outcome: Outcome): void => {
    finished = true;
    settle(outcome);
  };
  const handle = (message: Message, time: ReceiveTime): void => {
    if (finished) return;
    if (!plan.topics.some((filter) => topicMatches(filter, message.topic))) return;
    if (plan.filterOut.some((filter) => topicMatches(filter, message.topic))) return;
    if (plan.removeRetained && message.retain && message.payload.length > 0) {
      client.publish(message.topic, Buffer.alloc(0), { retain: true }).catch(() => undefined);
    }
    if (plan.retainedOnly && !message.retain) {
      finish({ code: 0 });
      return;
    }
    if (plan.noRetained && message.retain) return;
    const warn = (line: string): void => {
      if (!flags.quiet) io.stderr.write(`${line}\n`);
    };
    io.stdout.write(formatMessage(plan.output, message, time, warn));
    printed++;
    if (plan.count !== undefined && printed >= plan.count) finish({ code: 0 });
  };
  // mosquitto's library hands a message over once its acknowledgement is sent (QoS 1: the PUBACK, QoS 2:
  // the PUBCOMP answering the PUBREL): the -d lines keep that order, and -C ends only after the last QoS 2
  // exchange completed. Our client delivers on PUBLISH, so QoS 1/2 messages wait here for that packet.
  const awaitingPuback = new Map<number, [Message, ReceiveTime]>();
  const awaitingPubcomp = new Map<number, [Message, ReceiveTime]>();
  client.onMessage((message) => {
    if (message.qos === 0) handle(message, receiveTime());
    else {
      const awaiting = message.qos === 1 ? awaitingPuback : awaitingPubcomp;
      awaiting.set(message.packetId ?? 0, [message, receiveTime()]);
    }
  });
  // -d's "Subscribed" line belongs to the SUBACK of the -t subscriptions, printed as it is read (before
  // the retained messages that follow it), as mosquitto_sub does.
  let announceSuback = false;
  wire.observe = (direction, packet) => {
    if (direction === 'in') {
      if (packet.type === 'suback' && announceSuback) {
        announceSuback = false;
        if (flags.debug)
          io.stdout.write(`Subscribed (mid: ${packet.packetId}): ${packet.reasonCodes.join(', ')}\n`);
      }
      return;
    }
    if (packet.type !== 'puback' && packet.type !== 'pubcomp') return;
    const awaiting = packet.type === 'puback' ? awaitingPuback : awaitingPubcomp;
    const entry = awaiting.get(packet.packetId);
    if (entry === undefined) return;
    awaiting.delete(packet.packetId);
    handle(...entry);
  };
  client.onEvent((event) => {
    if (event.type === 'closed') finish({ code: 1, message: 'Error: The connection was lost.' });
  });
  const v5 = flags.protocolVersion === 5;
  for (const filter of plan.unsubscribe) {
    // The client unsubscribes by subscription: subscribe without retained messages, then unsubscribe.
    const temporary = await client.subscribe(filter, { qos: 0, retainHandling: 2 });
    await temporary.unsubscribe();
  }
  if (plan.topics.length > 0) {
    const properties = v5 ? flags.properties.subscribe : {};
    announceSuback = true;
    try {
      await client.subscribe(plan.topics, {
        qos: plan.qos,
        ...(Object.keys(properties).length > 0 ? { properties } : {}),
      });
    } catch (error) {
      if ((error as { reasonCode?: number }).reasonCode === undefined) throw error;
      return { code: 1, message: 'All subscription requests were denied.' };
    }
  }
  if (plan.exitAfterSubscribe) return { code: 0 };
  return done;
}

/** `starling sub`: returns the exit code (0, 27 on -W timeout, a CONNACK code when refused, else 1). */
export async function runSubCommand(argv: readonly string[], io: CommandIo = process): Promise<number> {
  const prepared = prepareClientCommand(argv, io, 'sub', HELP, parseSubArgs);
  if (typeof prepared === 'number') return prepared;
  const { plan, flags, options, complain } = prepared;
  const signals = onSignal();
  const debug = flags.debug ? new DebugLog(io.stdout, clientIdFor(flags, 'starling_sub')) : undefined;
  const wire: WireWatch = { observe: undefined };
  options.onPacket = (direction, packet) => {
    debug?.packet(direction, packet);
    wire.observe?.(direction, packet);
  };
  try {
    let client: Client;
    try {
      client = await connect(brokerUrl(flags), options);
    } catch (error) {
      const failure = connectFailure(error, flags.protocolVersion);
      complain(failure.line);
      return failure.exitCode;
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut =
      plan.timeoutSeconds === undefined
        ? new Promise<never>(() => undefined)
        : new Promise<Outcome>((resolve) => {
            timer = setTimeout(
              () => resolve({ code: TIMEOUT_EXIT_CODE, message: 'Timed out' }),
              (plan.timeoutSeconds as number) * 1000,
            );
          });
    const outcome = await Promise.race([
      receive(client, plan, flags, io, wire),
      timedOut,
      signals.signalled.then((): Outcome => ({ code: 0 })),
    ]);
    clearTimeout(timer);
    await client.end({ timeoutMs: 2000 }).catch(() => undefined);
    if (outcome.message !== undefined) complain(outcome.message);
    return outcome.code;
  } finally {
    signals.dispose();
  }
}
