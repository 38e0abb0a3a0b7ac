/**
 * The client test suite against a real broker. `runClientSuite` registers the tests for any broker that a
 * factory can start with the options below (mosquitto now, Starling's broker later).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it, type TestContext } from 'node:test';
import mqtt from 'mqtt';
import { dropConnection, testHooks } from '../../src/client/client.js';
import {
  type Client,
  type ClientEvent,
  type ClientOptions,
  connect,
  type Message,
  type Subscription,
} from '../../src/client/index.js';
import { MqttError } from '../../src/packets/errors.js';
import type { Packet } from '../../src/packets/types.js';

/** What a suite test may ask of the broker it starts. */
export interface SuiteBrokerOptions {
  /** Default true. */
  allowAnonymous?: boolean;
  /** user name -> password. */
  users?: Record<string, string>;
  /** A WebSocket listener (`wsUrl`). */
  websockets?: boolean;
  /** Listen on this port (to restart a stopped broker at the same address). */
  port?: number;
  /** Receive Maximum the broker announces / in-flight window per client. */
  maxInflightMessages?: number;
}

export interface SuiteBroker {
  url: string;
  port: number;
  wsUrl?: string;
  stop(): Promise<void>;
}

export type BrokerFactory = (options?: SuiteBrokerOptions) => Promise<SuiteBroker>;

const WAIT_MS = 3000;

function uniqueTopic(name: string): string {
  return `starling-test/${randomBytes(4).toString('hex')}/${name}`;
}

/** Rejects after `ms` unless `promise` settles first. */
async function within<T>(promise: Promise<T>, ms = WAIT_MS, what = 'operation'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not complete within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The next message of a subscription, bounded in time. */
async function nextMessage(subscription: Subscription, ms = WAIT_MS): Promise<Message> {
  const result = await within(subscription[Symbol.asyncIterator]().next(), ms, 'message');
  assert.equal(result.done, false, 'subscription ended before a message arrived');
  return result.value as Message;
}

/** Waits for the first event matching `predicate`. */
function waitForEvent(
  client: Client,
  predicate: (event: ClientEvent) => boolean,
  ms = WAIT_MS,
): Promise<ClientEvent> {
  return within(
    new Promise<ClientEvent>((resolve) => {
      const remove = client.onEvent((event) => {
        if (predicate(event)) {
          remove();
          resolve(event);
        }
      });
    }),
    ms,
    'event',
  );
}

/** Records the packets a client sends and receives. */
function wire(client: Client): { sent: Packet[]; received: Packet[] } {
  const log = { sent: [] as Packet[], received: [] as Packet[] };
  // The QoS 0 publish path reuses one packet object: keep copies.
  client[testHooks].outbound = (packet) => log.sent.push({ ...packet });
  client[testHooks].inbound = (packet) => log.received.push(packet);
  return log;
}

/** Registers the client suite for the broker `startBroker` starts. */
export function runClientSuite(name: string, startBroker: BrokerFactory): void {
  describe(`client against ${name}`, { timeout: 30_000 }, () => {
    let broker: SuiteBroker;
    before(async () => {
      broker = await startBroker({ websockets: true });
    });
    after(async () => {
      await broker.stop();
    });

    /** Connects a client that the test's teardown ends. */
    async function open(t: TestContext, options: ClientOptions = {}, url = broker.url): Promise<Client> {
      const client = await connect(url, { reconnect: { initialDelayMs: 20, maxDelayMs: 200 }, ...options });
      t.after(() => client.end({ timeoutMs: 500 }));
      return client;
    }

    it('connects with MQTT 3.1, 3.1.1 and 5 and closes cleanly', async (t) => {
      for (const protocolVersion of [3, 4, 5] as const) {
        const client = await open(t, { protocolVersion });
        assert.equal(client.status, 'connected');
        const events = client.events();
        await client.end();
        assert.equal(client.status, 'closed');
        const seen: string[] = [];
        for await (const event of events) seen.push(event.type);
        assert.deepEqual(seen, ['closed']);
      }
    });

    it('rejects a refused CONNACK with the (mapped) reason code and accepts valid credentials', async (t) => {
      const secured = await startBroker({ allowAnonymous: false, users: { alice: 'secret' } });
      t.after(() => secured.stop());
      for (const protocolVersion of [4, 5] as const) {
        await assert.rejects(
          connect(secured.url, { protocolVersion, reconnect: false }),
          (error: unknown) => {
            assert.ok(error instanceof MqttError);
            // v5 sends the code; the v3 return codes 4/5 map to 0x86/0x87.
            assert.ok([0x86, 0x87].includes(error.reasonCode), `reason 0x${error.reasonCode.toString(16)}`);
            return true;
          },
        );
        const client = await open(t, { protocolVersion, username: 'alice', password: 'secret' }, secured.url);
        assert.equal(client.status, 'connected');
      }
    });

    for (const protocolVersion of [4, 5] as const) {
      it(`publishes and receives QoS 0, 1 and 2 in both directions (v${protocolVersion})`, async (t) => {
        const a = await open(t, { protocolVersion });
        const b = await open(t, { protocolVersion });
        const toA = uniqueTopic('to-a');
        const toB = uniqueTopic('to-b');
        const subA = await a.subscribe(toA, { qos: 2 });
        const subB = await b.subscribe(toB, { qos: 2 });
        assert.deepEqual(subA.granted, [2]);
        for (const qos of [0, 1, 2] as const) {
          await Promise.all([a.publish(toB, `a->b ${qos}`, { qos }), b.publish(toA, `b->a ${qos}`, { qos })]);
          const [atB, atA] = await Promise.all([nextMessage(subB), nextMessage(subA)]);
          assert.equal(atB.topic, toB);
          assert.equal(atB.payload.toString(), `a->b ${qos}`);
          assert.equal(atB.qos, qos);
          assert.equal(atA.payload.toString(), `b->a ${qos}`);
          assert.equal(atA.qos, qos);
          assert.equal(atA.retain, false);
        }
      });
    }

    it('delivers retained messages to new subscribers and clears them', async (t) => {
      const client = await open(t);
      const kept = uniqueTopic('retained');
      const cleared = uniqueTopic('cleared');
      await client.publish(kept, 'kept', { qos: 1, retain: true });
      await client.publish(cleared, 'soon gone', { qos: 1, retain: true });
      await client.publish(cleared, Buffer.alloc(0), { qos: 1, retain: true });
      const late = await open(t);
      const sub = await late.subscribe([cleared, kept], { qos: 1 });
      const message = await nextMessage(sub);
      assert.equal(message.topic, kept, 'the cleared topic must not deliver a retained message');
      assert.equal(message.retain, true);
      assert.equal(message.payload.toString(), 'kept');
      await client.publish(kept, Buffer.alloc(0), { qos: 1, retain: true });
    });

    it('has the broker publish the will when the connection drops', async (t) => {
      const willTopic = uniqueTopic('will');
      const watcher = await open(t);
      const sub = await watcher.subscribe(willTopic, { qos: 1 });
      const doomed = await open(t, { reconnect: false, will: { topic: willTopic, payload: 'gone', qos: 1 } });
      const closed = waitForEvent(doomed, (e) => e.type === 'closed');
      doomed[dropConnection]();
      const will = await nextMessage(sub);
      assert.equal(will.payload.toString(), 'gone');
      await closed;
      assert.equal(doomed.status, 'closed');
    });

    it('round-trips v5 publish properties', async (t) => {
      const client = await open(t, { protocolVersion: 5 });
      const topic = uniqueTopic('props');
      const sub = await client.subscribe(topic, { qos: 1 });
      const properties = {
        userProperties: [
          ['a', '1'],
          ['a', '2'],
          ['b', 'x'],
        ] as [string, string][],
        contentType: 'text/plain',
        responseTopic: 'reply/here',
        correlationData: Buffer.from([1, 2, 3]),
        payloadFormatIndicator: 1,
      };
      await client.publish(topic, 'with properties', { qos: 1, properties });
      const message = await nextMessage(sub);
      assert.deepEqual(message.properties?.userProperties, properties.userProperties);
      assert.equal(message.properties?.contentType, 'text/plain');
      assert.equal(message.properties?.responseTopic, 'reply/here');
      assert.deepEqual(message.properties?.correlationData, Buffer.from([1, 2, 3]));
      assert.equal(message.properties?.payloadFormatIndicator, 1);
    });

    it('replaces repeated topics by topic aliases when autoAssignTopicAlias is on', async (t) => {
      const client = await open(t, { protocolVersion: 5, autoAssignTopicAlias: true });
      assert.ok(client.server.topicAliasMaximum > 0, 'the broker must announce Topic Alias Maximum > 0');
      const log = wire(client);
      const topic = uniqueTopic('aliased');
      const receiver = await open(t);
      const sub = await receiver.subscribe(topic, { qos: 1 });
      for (let i = 0; i < 3; i++) await client.publish(topic, `m${i}`, { qos: i === 2 ? 1 : 0 });
      const publishes = log.sent.filter((p) => p.type === 'publish');
      assert.equal(publishes.length, 3);
      assert.deepEqual(
        publishes.map((p) => [p.topic, p.properties?.topicAlias]),
        [
          [topic, 1],
          ['', 1],
          ['', 1],
        ],
      );
      for (let i = 0; i < 3; i++) {
        const message = await nextMessage(sub);
        assert.equal(message.topic, topic);
        assert.equal(message.payload.toString(), `m${i}`);
      }
    });

    it("keeps QoS 1/2 publishes within the server's Receive Maximum, in order", async (t) => {
      const limited = await startBroker({ maxInflightMessages: 2 });
      t.after(() => limited.stop());
      const client = await open(t, { protocolVersion: 5 }, limited.url);
      assert.equal(client.server.receiveMaximum, 2);
      let outstanding = 0;
      let peak = 0;
      const order: string[] = [];
      client[testHooks].outbound = (packet) => {
        if (packet.type !== 'publish') return;
        outstanding++;
        peak = Math.max(peak, outstanding);
        order.push(packet.payload.toString());
      };
      client[testHooks].inbound = (packet) => {
        if (packet.type === 'puback' || packet.type === 'pubcomp') outstanding--;
      };
      const topic = uniqueTopic('window');
      const all = Array.from({ length: 12 }, (_, i) =>
        client.publish(topic, `${i}`, { qos: i % 2 === 0 ? 1 : 2 }),
      );
      assert.ok(client.inflightCount <= 2);
      await within(Promise.all(all));
      assert.equal(peak, 2);
      assert.deepEqual(
        order,
        Array.from({ length: 12 }, (_, i) => `${i}`),
      );
    });

    it('ends the iteration on unsubscribe and stops receiving', async (t) => {
      const client = await open(t);
      const gone = uniqueTopic('gone');
      const sentinel = uniqueTopic('sentinel');
      const sub = await client.subscribe(gone, { qos: 1 });
      const sentinelSub = await client.subscribe(sentinel, { qos: 1 });
      const seen: string[] = [];
      client.onMessage((m) => seen.push(m.topic));
      await sub.unsubscribe();
      assert.equal(sub.isActive, false);
      const rest: Message[] = [];
      for await (const m of sub) rest.push(m);
      assert.deepEqual(rest, []);
      await client.publish(gone, 'nobody listens', { qos: 1 });
      await client.publish(sentinel, 'after', { qos: 1 });
      await nextMessage(sentinelSub);
      assert.deepEqual(seen, [sentinel]);
    });

    it('resumes the session after a dropped connection without resubscribing', async (t) => {
      const topic = uniqueTopic('resume');
      const client = await open(t, {
        protocolVersion: 5,
        clean: false,
        sessionExpiryInterval: 60,
        reconnect: { initialDelayMs: 150, maxDelayMs: 150 },
      });
      const sub = await client.subscribe(topic, { qos: 1 });
      const log = wire(client);
      const publisher = await open(t);
      const reconnecting = waitForEvent(client, (e) => e.type === 'reconnecting');
      const connected = waitForEvent(client, (e) => e.type === 'connected');
      client[dropConnection]();
      await reconnecting;
      await publisher.publish(topic, 'while away', { qos: 1 });
      assert.deepEqual(await connected, { type: 'connected', sessionPresent: true });
      const message = await nextMessage(sub);
      assert.equal(message.payload.toString(), 'while away');
      assert.equal(
        log.sent.some((p) => p.type === 'subscribe'),
        false,
      );
      await client.end({ sessionExpiryInterval: 0 });
    });

    it('resends an unacknowledged QoS 1 PUBLISH with DUP after reconnecting', async (t) => {
      const topic = uniqueTopic('dup');
      const client = await open(t, { protocolVersion: 5, clean: false, sessionExpiryInterval: 60 });
      const log = wire(client);
      let dropped = false;
      client[testHooks].inbound = (packet) => {
        // The PUBACK is lost with the connection.
        if (packet.type === 'puback' && !dropped) {
          dropped = true;
          client[dropConnection]();
        }
      };
      await within(client.publish(topic, 'again', { qos: 1 }));
      const publishes = log.sent.filter((p) => p.type === 'publish');
      assert.equal(publishes.length, 2);
      assert.equal(publishes[0]?.dup, false);
      assert.equal(publishes[1]?.dup, true);
      assert.equal(publishes[1]?.packetId, publishes[0]?.packetId);
      await client.end({ sessionExpiryInterval: 0 });
    });

    it('completes an outgoing QoS 2 exactly once across a reconnect after PUBREC', async (t) => {
      const topic = uniqueTopic('qos2-out');
      const receiver = await open(t);
      const sub = await receiver.subscribe(topic, { qos: 2 });
      const client = await open(t, { protocolVersion: 5, clean: false, sessionExpiryInterval: 60 });
      const log = wire(client);
      let dropped = false;
      client[testHooks].afterInbound = (packet) => {
        // The PUBREL just written is discarded with the connection.
        if (packet.type === 'pubrec' && !dropped) {
          dropped = true;
          client[dropConnection]();
        }
      };
      await within(client.publish(topic, 'once', { qos: 2 }));
      const pubrels = log.sent.filter((p) => p.type === 'pubrel');
      assert.equal(pubrels.length, 2, 'PUBREL resent after the reconnect');
      assert.equal(log.sent.filter((p) => p.type === 'publish').length, 1);
      await client.publish(topic, 'sentinel', { qos: 2 });
      assert.equal((await nextMessage(sub)).payload.toString(), 'once');
      assert.equal((await nextMessage(sub)).payload.toString(), 'sentinel');
      await client.end({ sessionExpiryInterval: 0 });
    });

    it('delivers an incoming QoS 2 message once when the broker redelivers it', async (t) => {
      const topic = uniqueTopic('qos2-in');
      const client = await open(t, { protocolVersion: 5, clean: false, sessionExpiryInterval: 60 });
      const sub = await client.subscribe(topic, { qos: 2 });
      const log = wire(client);
      let dropped = false;
      client[testHooks].afterInbound = (packet) => {
        // Delivered, but the PUBREC is lost: the broker must send the PUBLISH again.
        if (packet.type === 'publish' && !dropped) {
          dropped = true;
          client[dropConnection]();
        }
      };
      const publisher = await open(t);
      await publisher.publish(topic, 'exactly once', { qos: 2 });
      assert.equal((await nextMessage(sub)).payload.toString(), 'exactly once');
      await waitForEvent(client, (e) => e.type === 'connected');
      await publisher.publish(topic, 'sentinel', { qos: 2 });
      assert.equal((await nextMessage(sub)).payload.toString(), 'sentinel');
      const received = log.received.filter(
        (p) => p.type === 'publish' && p.payload.toString() === 'exactly once',
      );
      assert.equal(received.length, 2, 'the broker redelivered the message');
      await client.end({ sessionExpiryInterval: 0 });
    });

    it('reconnects to a restarted broker and resubscribes', async (t) => {
      let restartable = await startBroker();
      t.after(() => restartable.stop());
      const client = await open(t, { reconnect: { initialDelayMs: 20, maxDelayMs: 100 } }, restartable.url);
      const topic = uniqueTopic('restart');
      const sub = await client.subscribe(topic, { qos: 1 });
      const log = wire(client);
      const disconnected = waitForEvent(client, (e) => e.type === 'disconnected');
      await restartable.stop();
      await disconnected;
      const connected = waitForEvent(client, (e) => e.type === 'connected');
      restartable = await startBroker({ port: restartable.port });
      assert.deepEqual(await connected, { type: 'connected', sessionPresent: false });
      const publisher = await open(t, {}, restartable.url);
      // The resubscription precedes anything else, so once our own publish comes back it is in place.
      await publisher.publish(topic, 'after restart', { qos: 1 });
      const message = await nextMessage(sub);
      assert.equal(message.payload.toString(), 'after restart');
      assert.deepEqual(
        log.sent
          .filter((p) => p.type === 'subscribe')
          .map((p) => p.type === 'subscribe' && p.subscriptions[0]?.topicFilter),
        [topic],
      );
    });

    it('reports the session takeover of its client id as a disconnection', async (t) => {
      const clientId = `starling-takeover-${randomBytes(3).toString('hex')}`;
      const first = await open(t, { protocolVersion: 5, clientId, reconnect: false });
      const disconnected = waitForEvent(first, (e) => e.type === 'disconnected');
      const closed = waitForEvent(first, (e) => e.type === 'closed');
      await open(t, { protocolVersion: 5, clientId });
      const event = await disconnected;
      assert.equal(event.type, 'disconnected');
      // A broker sending DISCONNECT must use 0x8E Session taken over (mosquitto 2.0.11 just closes).
      if (event.type === 'disconnected' && event.reason instanceof MqttError)
        assert.equal(event.reason.reasonCode, 0x8e);
      await closed;
      assert.equal(first.status, 'closed');
    });

    it('sends PINGREQ when idle and stays connected', async (t) => {
      const client = await open(t, { keepalive: 1 });
      const log = wire(client);
      await waitForPacket(log.received, 'pingresp', 2500);
      assert.ok(log.sent.some((p) => p.type === 'pingreq'));
      assert.equal(client.status, 'connected');
    });

    for (const protocolVersion of [4, 5] as const) {
      it(`works over WebSocket (v${protocolVersion})`, async (t) => {
        assert.ok(broker.wsUrl !== undefined, 'the broker must offer a WebSocket listener');
        const client = await open(t, { protocolVersion }, broker.wsUrl);
        const topic = uniqueTopic('ws');
        const sub = await client.subscribe(topic, { qos: 1 });
        // Larger than one transport high-water mark; kept small since mosquitto's WebSocket listener is slow
        // with large frames.
        const payload = randomBytes(20_000);
        // QoS 0 above the transport's high-water mark resolves only after 'drain'.
        await within(client.publish(topic, payload, { qos: 0 }));
        await client.publish(topic, 'small', { qos: 1 });
        assert.deepEqual((await nextMessage(sub)).payload, payload);
        assert.equal((await nextMessage(sub)).payload.toString(), 'small');
      });
    }

    it('interoperates with MQTT.js in both directions', async (t) => {
      const theirs = await mqtt.connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 0 });
      t.after(() => theirs.endAsync());
      const ours = await open(t, { protocolVersion: 5 });
      const toThem = uniqueTopic('to-mqttjs');
      const toUs = uniqueTopic('to-starling');
      await theirs.subscribeAsync(toThem, { qos: 1 });
      const sub = await ours.subscribe(toUs, { qos: 1 });
      const received = new Promise<{ topic: string; payload: Buffer; user: unknown }>((resolve) => {
        theirs.once('message', (topic, payload, packet) =>
          resolve({ topic, payload, user: packet.properties?.userProperties }),
        );
      });
      await ours.publish(toThem, 'hello MQTT.js', { qos: 1, properties: { userProperties: [['k', 'v']] } });
      const atThem = await within(received);
      assert.equal(atThem.topic, toThem);
      assert.equal(atThem.payload.toString(), 'hello MQTT.js');
      assert.deepEqual({ ...(atThem.user as object) }, { k: 'v' });
      await theirs.publishAsync(toUs, 'hello Starling', {
        qos: 2,
        properties: { contentType: 'text/plain' },
      });
      const atUs = await nextMessage(sub);
      assert.equal(atUs.payload.toString(), 'hello Starling');
      assert.equal(atUs.qos, 1);
      assert.equal(atUs.properties?.contentType, 'text/plain');
    });
  });
}

/** Waits (bounded) until `log` holds a packet of `type`. */
async function waitForPacket(log: Packet[], type: Packet['type'], ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 1000 && !log.some((p) => p.type === type); i++) {
    if (Date.now() > deadline) throw new Error(`no ${type} within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
