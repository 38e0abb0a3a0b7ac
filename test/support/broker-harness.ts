/**
 * A broker on 127.0.0.1 and a free port for one test, plus the raw clients the test opens against it;
 * `stop()` destroys every client and closes the broker, so a test's teardown is one call.
 */
import assert from 'node:assert/strict';
import { afterEach } from 'node:test';
import type { Engine } from '../../src/broker/engine.js';
import { Broker } from '../../src/index.js';
import type {
  ConnackPacket,
  ConnectPacket,
  Properties,
  ProtocolVersionNumber,
  PublishPacket,
  QoS,
  WillMessage,
} from '../../src/packets/types.js';
import { engineOf } from '../../src/server/broker.js';
import { RawClient } from './raw-client.js';

/** What a connected test client asks for in its CONNECT (everything optional). */
export interface ConnectOptions {
  version?: ProtocolVersionNumber;
  clean?: boolean;
  keepalive?: number;
  will?: WillMessage;
  properties?: Properties;
}

export interface BrokerHarness {
  readonly broker: Broker;
  /** The engine behind it, for assertions on internal state (sessions, retained messages, connections). */
  readonly engine: Engine;
  readonly port: number;
  /** Open a raw connection (no CONNECT sent); destroyed by `stop()`. */
  open(version?: ProtocolVersionNumber): Promise<RawClient>;
  /** Open a connection, send CONNECT for `clientId` and read the CONNACK (which must be a success). */
  connect(clientId: string, options?: ConnectOptions): Promise<{ client: RawClient; connack: ConnackPacket }>;
  /** Destroy every client and close the broker. */
  stop(): Promise<void>;
}

/** A CONNECT for `clientId` (clean, no keep alive unless `extra` says otherwise). */
export function connectPacket(
  clientId: string,
  version: ProtocolVersionNumber,
  extra: Partial<ConnectPacket> = {},
): ConnectPacket {
  return {
    type: 'connect',
    protocolName: version === 3 ? 'MQIsdp' : 'MQTT',
    protocolVersion: version,
    clean: true,
    keepalive: 0,
    clientId,
    ...extra,
  };
}

/** What `new Broker()` accepts. */
export type HarnessBrokerOptions = NonNullable<ConstructorParameters<typeof Broker>[0]>;

/**
 * Start a broker with `options` on 127.0.0.1, port 0. `$SYS` publishing is off unless asked for, so its
 * retained messages never show up in a test's byte expectations.
 */
export async function startBroker(options: HarnessBrokerOptions = {}): Promise<BrokerHarness> {
  const broker = new Broker({ sysInterval: 0, ...options });
  const address = await broker.listen({ host: '127.0.0.1', port: 0 });
  const clients: RawClient[] = [];
  const port = address.port;
  const open = async (version: ProtocolVersionNumber = 4): Promise<RawClient> => {
    const client = await RawClient.open(port, version);
    clients.push(client);
    return client;
  };
  return {
    broker,
    engine: engineOf(broker),
    port,
    open,
    async connect(clientId, connectOptions = {}) {
      const version = connectOptions.version ?? 4;
      const client = await open(version);
      const packet = connectPacket(clientId, version, {
        clean: connectOptions.clean ?? true,
        keepalive: connectOptions.keepalive ?? 0,
      });
      if (connectOptions.will !== undefined) packet.will = connectOptions.will;
      if (connectOptions.properties !== undefined) packet.properties = connectOptions.properties;
      client.send(packet);
      const connack = await client.expectPacket('connack');
      if (connack.reasonCode !== 0)
        throw new Error(`CONNACK refused ${clientId}: 0x${connack.reasonCode.toString(16)}`);
      return { client, connack };
    },
    async stop() {
      for (const client of clients) client.destroy();
      await broker.close();
    },
  };
}

/**
 * For a test file: a `broker(options)` that starts a harness and stops it after each test (one at a time).
 * Call at the top level of the file; it registers the `afterEach` teardown.
 */
export function brokerPerTest(): (options?: HarnessBrokerOptions) => Promise<BrokerHarness> {
  let current: BrokerHarness | undefined;
  afterEach(async () => {
    await current?.stop();
    current = undefined;
  });
  return async (options = {}) => {
    current = await startBroker(options);
    return current;
  };
}

/** A connected raw client subscribed to `filter` at `qos` (SUBACK checked). */
export async function rawSubscriber(
  h: BrokerHarness,
  id: string,
  filter: string,
  qos: QoS,
  version: ProtocolVersionNumber = 4,
  options: ConnectOptions = {},
): Promise<RawClient> {
  const { client } = await h.connect(id, { ...options, version });
  client.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: filter, qos }] });
  assert.deepEqual((await client.expectPacket('suback')).reasonCodes, [qos]);
  return client;
}

/** A PUBLISH packet with a text payload (packet id only when given). */
export function publishPacket(
  topic: string,
  payload: string,
  qos: QoS = 0,
  packetId?: number,
): PublishPacket {
  const packet: PublishPacket = {
    type: 'publish',
    topic,
    payload: Buffer.from(payload),
    qos,
    retain: false,
    dup: false,
  };
  if (packetId !== undefined) packet.packetId = packetId;
  return packet;
}
