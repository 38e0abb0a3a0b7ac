import { Duplex } from 'node:stream';
import { MqttError } from '../packets/errors.js';
import { PacketParser } from '../packets/index.js';
import type {
  ConnackPacket,
  ConnectPacket,
  Packet,
  Properties,
  ProtocolVersionNumber,
  WillMessage,
} from '../packets/types.js';
import type { Connection } from './connection.js';
import type { ClientInfo } from './hooks.js';
import type { ConnectionFacts } from './port.js';

/** What `broker.createClient` puts in the CONNECT it injects. */
export interface InProcessClientOptions {
  /** 3, 4 or 5. Default 5. */
  readonly protocolVersion?: ProtocolVersionNumber;
  /** Clean Start / Clean Session. Default true. */
  readonly clean?: boolean;
  readonly username?: string;
  readonly password?: Buffer | string;
  /** Default 0: an in-process client has no network to watch. */
  readonly keepalive?: number;
  readonly will?: WillMessage;
  readonly properties?: Properties;
  /** Called with every packet the broker sends to this client, CONNACK included. */
  readonly onPacket?: (packet: Packet) => void;
}

/**
 * A client living inside the broker process: a real `Connection` over an in-memory stream, so what is
 * injected as it runs the network pipeline end to end; what the broker answers is decoded into `received`.
 */
export interface InProcessClient {
  readonly clientId: string;
  /** The broker's side of it, as hooks see it, and where it stands. */
  readonly connection: ClientInfo & { readonly state: 'connecting' | 'connected' | 'closing' | 'closed' };
  /** Every packet the broker sent to this client, in order. */
  readonly received: Packet[];
  /** Same as `broker.injectPacket(this, packet)`. */
  inject(packet: Packet): void;
  /** End the connection as if the network dropped (the will, if any, is published). */
  close(): void;
}

/** The connection behind each in-process client (kept out of the public interface). */
const inProcessConnections = new WeakMap<object, Connection>();

/** Who a packet is injected as: a client id, a ClientInfo a hook was given, a Connection or an in-process client. */
export type InjectTarget = string | ClientInfo | InProcessClient;

/**
 * Connect an in-process client: injects its CONNECT and resolves once CONNACK is sent; rejects with an
 * MqttError carrying the CONNACK reason code when the broker refuses it.
 */
export function createInProcessClient(
  accept: (stream: Duplex, facts: ConnectionFacts) => Connection,
  clientId: string,
  options: InProcessClientOptions = {},
): Promise<InProcessClient> {
  const version = options.protocolVersion ?? 5;
  const received: Packet[] = [];
  const output = new PacketParser({ protocolVersion: version });
  let onConnack: ((packet: ConnackPacket) => void) | undefined;
  let onClosed: (() => void) | undefined;
  const stream = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      try {
        output.push(chunk, (packet) => {
          received.push(packet);
          if (packet.type === 'connack') onConnack?.(packet);
          options.onPacket?.(packet);
        });
        callback();
      } catch (err) {
        callback(err as Error);
      }
    },
    final(callback) {
      // The broker ended its side: end ours so the connection's 'end' and 'close' follow.
      this.push(null);
      onClosed?.();
      callback();
    },
  });
  const connection = accept(stream, { listener: 'in-process', inline: true });
  const connect: ConnectPacket = {
    type: 'connect',
    protocolName: version === 3 ? 'MQIsdp' : 'MQTT',
    protocolVersion: version,
    clean: options.clean ?? true,
    keepalive: options.keepalive ?? 0,
    clientId,
  };
  if (options.username !== undefined) connect.username = options.username;
  if (options.password !== undefined) connect.password = Buffer.from(options.password);
  if (options.will !== undefined) connect.will = options.will;
  if (options.properties !== undefined) connect.properties = options.properties;
  const client: InProcessClient = {
    clientId,
    connection,
    received,
    inject: (packet) => connection.inject(packet),
    close: () => {
      stream.push(null);
      stream.destroy();
    },
  };
  inProcessConnections.set(client, connection);
  return new Promise((resolve, reject) => {
    onConnack = (packet) => {
      if (packet.reasonCode === 0) resolve(client);
      else reject(new MqttError(packet.reasonCode, `in-process client ${clientId} refused`));
    };
    onClosed = () => reject(new MqttError(0x80, `in-process client ${clientId} closed before CONNACK`));
    connection.inject(connect);
  });
}

/** The live connection a target names. Throws RangeError when no such client is connected. */
export function resolveInjectTarget(
  connected: (clientId: string) => Connection | undefined,
  target: InjectTarget,
): Connection {
  const clientId = typeof target === 'string' ? target : target.clientId;
  const connection =
    typeof target === 'object'
      ? (inProcessConnections.get(target) ?? connected(clientId))
      : connected(clientId);
  if (connection !== undefined && connection.state === 'connected') return connection;
  throw new RangeError(`no connected client '${clientId}' to inject as`);
}
