/**
 * The `-D command identifier value` flag of `starling pub` and `starling sub` (mosquitto's `--property`):
 * the MQTT 5 properties it may set, per stage, and its parsing (see `mqtt-client-flags.ts`).
 */
import type { Properties } from '../packets/types.js';
import { UsageError } from './usage-error.js';

/** The stages a `-D command identifier value` property can be attached to. */
export const PropertyStage = {
  connect: 'connect',
  publish: 'publish',
  subscribe: 'subscribe',
  unsubscribe: 'unsubscribe',
  disconnect: 'disconnect',
  will: 'will',
} as const;
export type PropertyStageName = (typeof PropertyStage)[keyof typeof PropertyStage];

type PropertyKind = 'byte' | 'uint16' | 'uint32' | 'string' | 'binary' | 'pair';

/** mosquitto's property names, their `Properties` field, type, and the stages that allow them. */
const PROPERTY_TABLE: Readonly<
  Record<string, { field: keyof Properties; kind: PropertyKind; stages: readonly PropertyStageName[] }>
> = {
  'payload-format-indicator': { field: 'payloadFormatIndicator', kind: 'byte', stages: ['publish', 'will'] },
  'message-expiry-interval': { field: 'messageExpiryInterval', kind: 'uint32', stages: ['publish', 'will'] },
  'content-type': { field: 'contentType', kind: 'string', stages: ['publish', 'will'] },
  'response-topic': { field: 'responseTopic', kind: 'string', stages: ['publish', 'will'] },
  'correlation-data': { field: 'correlationData', kind: 'binary', stages: ['publish', 'will'] },
  'session-expiry-interval': {
    field: 'sessionExpiryInterval',
    kind: 'uint32',
    stages: ['connect', 'disconnect'],
  },
  'authentication-method': { field: 'authenticationMethod', kind: 'string', stages: ['connect'] },
  'authentication-data': { field: 'authenticationData', kind: 'binary', stages: ['connect'] },
  'request-problem-information': { field: 'requestProblemInformation', kind: 'byte', stages: ['connect'] },
  'request-response-information': {
    field: 'requestResponseInformation',
    kind: 'byte',
    stages: ['connect'],
  },
  'will-delay-interval': { field: 'willDelayInterval', kind: 'uint32', stages: ['will'] },
  'receive-maximum': { field: 'receiveMaximum', kind: 'uint16', stages: ['connect'] },
  'topic-alias-maximum': { field: 'topicAliasMaximum', kind: 'uint16', stages: ['connect'] },
  'topic-alias': { field: 'topicAlias', kind: 'uint16', stages: ['publish'] },
  'maximum-packet-size': { field: 'maximumPacketSize', kind: 'uint32', stages: ['connect'] },
  'user-property': {
    field: 'userProperties',
    kind: 'pair',
    stages: ['connect', 'publish', 'subscribe', 'unsubscribe', 'disconnect', 'will'],
  },
};

const KIND_MAX: Readonly<Record<Exclude<PropertyKind, 'string' | 'binary' | 'pair'>, number>> = {
  byte: 0xff,
  uint16: 0xffff,
  uint32: 0xffffffff,
};

/** -D command identifier value [value2], into the stage's properties: returns how many arguments it used. */
export function applyProperty(
  properties: Record<PropertyStageName, Properties>,
  args: readonly string[],
  i: number,
): number {
  const stage = args[i + 1];
  const name = args[i + 2];
  const value = args[i + 3];
  if (stage === undefined || name === undefined || value === undefined) {
    throw new UsageError(`${args[i]} argument given but not enough values specified.`);
  }
  if (!Object.hasOwn(PropertyStage, stage)) {
    throw new UsageError('Invalid command given in --property argument.');
  }
  const entry = PROPERTY_TABLE[name];
  if (entry === undefined) throw new UsageError('Invalid property name given in --property argument.');
  const command = stage as PropertyStageName;
  if (!entry.stages.includes(command)) {
    throw new UsageError(`${name} property not allowed for ${command} in --property argument.`);
  }
  const target = properties[command] as Record<string, unknown>;
  switch (entry.kind) {
    case 'pair': {
      const second = args[i + 4];
      if (second === undefined)
        throw new UsageError(`${args[i]} argument given but not enough values specified.`);
      const list = (target[entry.field] as [string, string][] | undefined) ?? [];
      list.push([value, second]);
      target[entry.field] = list;
      return 5;
    }
    case 'string':
      target[entry.field] = value;
      return 4;
    case 'binary':
      target[entry.field] = Buffer.from(value);
      return 4;
    default: {
      const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
      if (!(n >= 0 && n <= KIND_MAX[entry.kind])) {
        throw new UsageError(`Invalid value '${value}' for ${name} in --property argument.`);
      }
      target[entry.field] = n;
      return 4;
    }
  }
}
