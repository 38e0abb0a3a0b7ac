import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { Broker } from '../../src/index.js';

/**
 * Interop with MQTT.js (npm `mqtt`), protocol versions 4 (3.1.1) and 5: a client library we did not write
 * must be able to use every broker feature. Each test uses its own topics and client ids so the tests can
 * share one broker.
 */

const WAIT_MS = 5_000;

interface Received {
  topic: string;
  payload: Buffer;
  packet: IPublishPacket;
}

/** Collects a client's messages; `next` waits (bounded) for the next one matching a predicate. */
class Inbox {
  readonly messages: Received[] = [];
  private waiters: { match: (m: Received) => boolean; resolve: (m: Received) => void }[] = [];
  private taken = new Set<Received>();

  constructor(client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      const m = { topic, payload, packet };
      this.messages.push(m);
      const waiter = this.waiters.find((w) => w.match(m));
      if (waiter !== undefined) {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        this.taken.add(m);
        waiter.resolve(m);
      }
    });
  }

  /** The next not-yet-taken message on `topic` (already received or arriving within WAIT_MS). */
  next(topic: string, timeoutMs = WAIT_MS): Promise<Received> {
    const match = (m: Received) => m.topic === topic;
    const ready = this.messages.find((m) => match(m) && !this.taken.has(m));
    if (ready !== undefined) {
      this.taken.add(ready);
      return Promise.resolve(ready);
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (m: Received) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no message on '${topic}' within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  on(topic: string): Received[] {
    return this.messages.filter((m) => m.topic === topic);
  }
}

function subscriptionIds(packet: IPublishPacket): number[] {
  const ids = packet.properties?.subscriptionIdentifier;
  if (ids === undefined) return [];
  return (Array.isArray(ids) ? ids : [ids]).slice().sort((a, b) => a - b);
}

describe('interop: MQTT.js against the broker', () => {
  let broker: Broker;
  let url: string;
  const clients: MqttClient[] = [];

  async function connect(options: IClientOptions): Promise<MqttClient> {
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: WAIT_MS, ...options });
    clients.push(client);
    return client;
  }

  before(async () => {
    broker = new Broker();
    const address = await broker.listen({ host: '127.0.0.1', port: 0 });
    url = `mqtt://127.0.0.1:${address.port}`;
  });

  after(async () => {
    for (const client of clients) client.end(true);
    await broker.close();
  });

  for (const protocolVersion of [4, 5] as const) {
    describe(`protocol version ${protocolVersion}`, () => {
      it('connects, gets a CONNACK without session, and pings', async () => {
        const client = await connect({
          protocolVersion,
          clientId: `mj-conn-${protocolVersion}`,
          clean: true,
        });
        assert.equal(client.connected, true);
        const pingresp = new Promise<void>((resolve) => {
          client.on('packetreceive', (p) => {
            if (p.cmd === 'pingresp') resolve();
          });
        });
        // MQTT.js sends PINGREQ from its keepalive timer; send one directly so the test does not wait.
        (client as unknown as { _sendPacket(p: { cmd: 'pingreq' }): void })._sendPacket({ cmd: 'pingreq' });
        await pingresp;
        await client.endAsync();
      });

      for (const pubQos of [0, 1, 2] as const) {
        for (const subQos of [0, 1, 2] as const) {
          it(`publish QoS ${pubQos} to a QoS ${subQos} subscription arrives at QoS ${Math.min(pubQos, subQos)}`, async () => {
            const topic = `mj/qos/${protocolVersion}/${pubQos}/${subQos}`;
            const sub = await connect({ protocolVersion });
            const inbox = new Inbox(sub);
            const granted = await sub.subscribeAsync(topic, { qos: subQos });
            assert.equal(granted[0]?.qos, subQos);
            const pub = await connect({ protocolVersion });
            await pub.publishAsync(topic, `q${pubQos}`, { qos: pubQos });
            const m = await inbox.next(topic);
            assert.equal(m.payload.toString(), `q${pubQos}`);
            assert.equal(m.packet.qos, Math.min(pubQos, subQos));
            assert.equal(m.packet.retain, false);
          });
        }
      }

      it('[MQTT-4.7.2-1] wildcards + and # match, $-topics are not matched by a leading wildcard', async () => {
        const base = `mj/wild/${protocolVersion}`;
        const sub = await connect({ protocolVersion });
        const inbox = new Inbox(sub);
        await sub.subscribeAsync([`${base}/+/x`, `${base}/deep/#`, '#'], { qos: 1 });
        const pub = await connect({ protocolVersion });
        await pub.publishAsync(`$SYS-mj-${protocolVersion}/x`, 'dollar', { qos: 1 });
        await pub.publishAsync(`${base}/a/x`, 'plus', { qos: 1 });
        await pub.publishAsync(`${base}/a/y`, 'other', { qos: 1 });
        await pub.publishAsync(`${base}/deep`, 'parent', { qos: 1 });
        await pub.publishAsync(`${base}/deep/1/2/3`, 'hash', { qos: 1 });
        await pub.publishAsync(`${base}/end`, 'barrier', { qos: 1 });
        await inbox.next(`${base}/end`);
        // Overlapping subscriptions ('#' and a specific one) may give one or two copies; presence is the point.
        assert.ok(inbox.on(`${base}/a/x`).length >= 1);
        assert.ok(inbox.on(`${base}/deep`).length >= 1, '# matches the parent level');
        assert.ok(inbox.on(`${base}/deep/1/2/3`).length >= 1);
        assert.equal(inbox.on(`${base}/a/y`).length, 1, 'only # matches a/y');
        assert.equal(inbox.on(`$SYS-mj-${protocolVersion}/x`).length, 0);
      });

      it('retained message: set, received on subscribe with RETAIN=1, cleared with an empty payload', async () => {
        const topic = `mj/retained/${protocolVersion}`;
        const pub = await connect({ protocolVersion });
        await pub.publishAsync(topic, 'kept', { qos: 1, retain: true });
        const sub1 = await connect({ protocolVersion });
        const inbox1 = new Inbox(sub1);
        await sub1.subscribeAsync(topic, { qos: 1 });
        const m = await inbox1.next(topic);
        assert.equal(m.payload.toString(), 'kept');
        assert.equal(m.packet.retain, true);
        // A live publish to an existing subscription is forwarded with RETAIN=0 (v3 rule; v5 default RAP=0).
        await pub.publishAsync(topic, 'live', { qos: 1, retain: true });
        const live = await inbox1.next(topic);
        assert.equal(live.payload.toString(), 'live');
        assert.equal(live.packet.retain, false);

        await pub.publishAsync(topic, '', { qos: 1, retain: true });
        const sub2 = await connect({ protocolVersion });
        const inbox2 = new Inbox(sub2);
        await sub2.subscribeAsync(topic, { qos: 1 });
        await pub.publishAsync(topic, 'after-clear', { qos: 1 });
        const first = await inbox2.next(topic);
        assert.equal(first.payload.toString(), 'after-clear', 'no retained message after clearing');
      });

      it('[MQTT-3.1.2-5] (5.0 and 3.1.1) clean session false / session expiry: QoS 1 messages queued while offline are delivered', async () => {
        const clientId = `mj-persist-${protocolVersion}`;
        const topic = `mj/persist/${protocolVersion}`;
        const persistent: IClientOptions =
          protocolVersion === 5
            ? { protocolVersion, clientId, clean: false, properties: { sessionExpiryInterval: 60 } }
            : { protocolVersion, clientId, clean: false };
        const first = await connect(persistent);
        await first.subscribeAsync(topic, { qos: 1 });
        await first.endAsync();
        const pub = await connect({ protocolVersion });
        for (let i = 0; i < 3; i++) await pub.publishAsync(topic, `m${i}`, { qos: 1 });
        const again = mqtt.connect(url, { ...persistent, reconnectPeriod: 0 });
        clients.push(again);
        const inbox = new Inbox(again);
        const sessionPresent = await new Promise<boolean>((resolve) => {
          again.once('connect', (p) => resolve(p.sessionPresent));
        });
        assert.equal(sessionPresent, true);
        const got = [await inbox.next(topic), await inbox.next(topic), await inbox.next(topic)];
        assert.deepEqual(
          got.map((m) => m.payload.toString()),
          ['m0', 'm1', 'm2'],
        );
      });

      it('[MQTT-3.1.2-8] (5.0 and 3.1.1) will message is published when the connection drops without DISCONNECT', async () => {
        const topic = `mj/will/${protocolVersion}`;
        const watcher = await connect({ protocolVersion });
        const inbox = new Inbox(watcher);
        await watcher.subscribeAsync(topic, { qos: 1 });
        const dying = await connect({
          protocolVersion,
          will: { topic, payload: Buffer.from('gone'), qos: 1, retain: false },
        });
        dying.stream.destroy();
        const m = await inbox.next(topic);
        assert.equal(m.payload.toString(), 'gone');
        assert.equal(m.packet.qos, 1);
      });

      it('a 1 MiB payload goes through intact', async () => {
        const topic = `mj/large/${protocolVersion}`;
        const payload = Buffer.alloc(1024 * 1024);
        for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
        const sub = await connect({ protocolVersion });
        const inbox = new Inbox(sub);
        await sub.subscribeAsync(topic, { qos: 1 });
        const pub = await connect({ protocolVersion });
        await pub.publishAsync(topic, payload, { qos: 1 });
        const m = await inbox.next(topic);
        assert.equal(m.payload.length, payload.length);
        assert.ok(m.payload.equals(payload));
      });

      it('[MQTT-3.10.4-2] (5.0 and 3.1.1) unsubscribe stops delivery', async () => {
        const topic = `mj/unsub/${protocolVersion}`;
        const sub = await connect({ protocolVersion });
        const inbox = new Inbox(sub);
        await sub.subscribeAsync([topic, `${topic}/barrier`], { qos: 1 });
        await sub.unsubscribeAsync(topic);
        const pub = await connect({ protocolVersion });
        await pub.publishAsync(topic, 'dropped', { qos: 1 });
        await pub.publishAsync(`${topic}/barrier`, 'b', { qos: 1 });
        await inbox.next(`${topic}/barrier`);
        assert.equal(inbox.on(topic).length, 0);
      });
    });
  }

  describe('MQTT 5 features', () => {
    it('[MQTT-3.3.2-4] [MQTT-3.3.2-17] [MQTT-3.3.2-20] forwards user properties, content type, payload format indicator', async () => {
      const topic = 'mj5/props';
      const sub = await connect({ protocolVersion: 5 });
      const inbox = new Inbox(sub);
      await sub.subscribeAsync(topic, { qos: 1 });
      const pub = await connect({ protocolVersion: 5 });
      await pub.publishAsync(topic, '{"x":1}', {
        qos: 1,
        properties: {
          userProperties: { a: 'b', z: ['1', '2'] },
          contentType: 'application/json',
          payloadFormatIndicator: true,
        },
      });
      const m = await inbox.next(topic);
      assert.deepEqual({ ...m.packet.properties?.userProperties }, { a: 'b', z: ['1', '2'] });
      assert.equal(m.packet.properties?.contentType, 'application/json');
      assert.equal(m.packet.properties?.payloadFormatIndicator, true);
    });

    it('[MQTT-3.3.4-3] [MQTT-3.3.4-4] subscription identifiers: one copy carries the ids of every matching subscription', async () => {
      const sub = await connect({ protocolVersion: 5 });
      const inbox = new Inbox(sub);
      await sub.subscribeAsync('mj5/sid/+', { qos: 1, properties: { subscriptionIdentifier: 7 } });
      await sub.subscribeAsync('mj5/sid/#', { qos: 1, properties: { subscriptionIdentifier: 9 } });
      await sub.subscribeAsync('mj5/sid/plain/x', { qos: 1 });
      const pub = await connect({ protocolVersion: 5 });
      await pub.publishAsync('mj5/sid/a', 'both', { qos: 1 });
      const both = await inbox.next('mj5/sid/a');
      assert.deepEqual(subscriptionIds(both.packet), [7, 9]);
      await pub.publishAsync('mj5/sid/plain/x', 'only-hash', { qos: 1 });
      const onlyHash = await inbox.next('mj5/sid/plain/x');
      assert.deepEqual(subscriptionIds(onlyHash.packet), [9]);
      assert.equal(inbox.on('mj5/sid/a').length, 1, 'overlapping subscriptions give one copy');
    });

    it('[MQTT-3.8.3-3] no local: own messages are not sent back on a No Local subscription', async () => {
      const client = await connect({ protocolVersion: 5 });
      const inbox = new Inbox(client);
      await client.subscribeAsync('mj5/nolocal', { qos: 1, nl: true });
      await client.subscribeAsync('mj5/nolocal-barrier', { qos: 1 });
      const other = await connect({ protocolVersion: 5 });
      await client.publishAsync('mj5/nolocal', 'mine', { qos: 1 });
      await other.publishAsync('mj5/nolocal', 'theirs', { qos: 1 });
      await client.publishAsync('mj5/nolocal-barrier', 'b', { qos: 1 });
      await inbox.next('mj5/nolocal-barrier');
      const theirs = await inbox.next('mj5/nolocal');
      assert.equal(theirs.payload.toString(), 'theirs');
      assert.deepEqual(
        inbox.on('mj5/nolocal').map((m) => m.payload.toString()),
        ['theirs'],
      );
    });

    it('[MQTT-3.3.1-12] [MQTT-3.3.1-13] retain as published keeps RETAIN=1 on live retained messages; without it RETAIN=0', async () => {
      const topic = 'mj5/rap';
      const rap = await connect({ protocolVersion: 5 });
      const rapInbox = new Inbox(rap);
      await rap.subscribeAsync(topic, { qos: 1, rap: true });
      const plain = await connect({ protocolVersion: 5 });
      const plainInbox = new Inbox(plain);
      await plain.subscribeAsync(topic, { qos: 1, rap: false });
      const pub = await connect({ protocolVersion: 5 });
      await pub.publishAsync(topic, 'r', { qos: 1, retain: true });
      assert.equal((await rapInbox.next(topic)).packet.retain, true);
      assert.equal((await plainInbox.next(topic)).packet.retain, false);
      await pub.publishAsync(topic, '', { qos: 1, retain: true });
    });

    it('[MQTT-3.3.1-9] [MQTT-3.3.1-10] [MQTT-3.3.1-11] retain handling 0 / 1 / 2 on subscribe and re-subscribe', async () => {
      const topic = 'mj5/rh';
      const barrier = 'mj5/rh-barrier';
      const pub = await connect({ protocolVersion: 5 });
      await pub.publishAsync(topic, 'stored', { qos: 1, retain: true });

      /** Subscribe with the given handling, then publish a barrier: returns how many retained copies came first. */
      async function retainedCopies(client: MqttClient, inbox: Inbox, rh: 0 | 1 | 2): Promise<number> {
        const before = inbox.on(topic).length;
        await client.subscribeAsync(topic, { qos: 1, rh });
        await pub.publishAsync(barrier, 'b', { qos: 1 });
        await inbox.next(barrier);
        return inbox.on(topic).length - before;
      }
      const c0 = await connect({ protocolVersion: 5 });
      const i0 = new Inbox(c0);
      await c0.subscribeAsync(barrier, { qos: 1 });
      assert.equal(await retainedCopies(c0, i0, 0), 1, 'rh=0 sends on subscribe');
      assert.equal(await retainedCopies(c0, i0, 0), 1, 'rh=0 sends again on re-subscribe');

      const c1 = await connect({ protocolVersion: 5 });
      const i1 = new Inbox(c1);
      await c1.subscribeAsync(barrier, { qos: 1 });
      assert.equal(await retainedCopies(c1, i1, 1), 1, 'rh=1 sends for a new subscription');
      assert.equal(await retainedCopies(c1, i1, 1), 0, 'rh=1 does not send for an existing subscription');

      const c2 = await connect({ protocolVersion: 5 });
      const i2 = new Inbox(c2);
      await c2.subscribeAsync(barrier, { qos: 1 });
      assert.equal(await retainedCopies(c2, i2, 2), 0, 'rh=2 never sends');
      await pub.publishAsync(topic, '', { qos: 1, retain: true });
    });

    it('shared subscription $share/g/t: two members get the messages round-robin, each once', async () => {
      const topic = 'mj5/shared';
      const a = await connect({ protocolVersion: 5, clientId: 'mj5-share-a' });
      const b = await connect({ protocolVersion: 5, clientId: 'mj5-share-b' });
      const ia = new Inbox(a);
      const ib = new Inbox(b);
      await a.subscribeAsync(`$share/g/${topic}`, { qos: 1 });
      await b.subscribeAsync(`$share/g/${topic}`, { qos: 1 });
      const pub = await connect({ protocolVersion: 5 });
      const total = 10;
      for (let i = 0; i < total; i++) await pub.publishAsync(topic, `s${i}`, { qos: 1 });
      const deadline = Date.now() + WAIT_MS;
      while (ia.on(topic).length + ib.on(topic).length < total && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const all = [...ia.on(topic), ...ib.on(topic)].map((m) => m.payload.toString()).sort();
      assert.deepEqual(all, Array.from({ length: total }, (_, i) => `s${i}`).sort());
      assert.equal(ia.on(topic).length, total / 2);
      assert.equal(ib.on(topic).length, total / 2);
    });

    it('[MQTT-3.3.2-12] [MQTT-3.3.2-11] [MQTT-3.1.2-26] topic aliases: MQTT.js sends aliases (autoUseTopicAlias) and accepts aliases from the broker', async () => {
      const topic = 'mj5/alias/some/longer/topic/name';
      const sub = await connect({ protocolVersion: 5, properties: { topicAliasMaximum: 5 } });
      const inbox = new Inbox(sub);
      const aliasesIn: number[] = [];
      sub.on('packetreceive', (p) => {
        if (p.cmd === 'publish' && p.properties?.topicAlias !== undefined)
          aliasesIn.push(p.properties.topicAlias);
      });
      await sub.subscribeAsync(topic, { qos: 1 });
      const pub = await connect({ protocolVersion: 5, autoUseTopicAlias: true });
      const sentEmptyTopic: boolean[] = [];
      pub.on('packetsend', (p) => {
        if (p.cmd === 'publish') sentEmptyTopic.push(p.topic === '');
      });
      // The first PUBLISH registers alias 1; autoUseTopicAlias then sends the later ones by alias only.
      await pub.publishAsync(topic, 'a0', { qos: 1, properties: { topicAlias: 1 } });
      for (let i = 1; i < 3; i++) await pub.publishAsync(topic, `a${i}`, { qos: 1 });
      const got = [await inbox.next(topic), await inbox.next(topic), await inbox.next(topic)];
      assert.deepEqual(
        got.map((m) => m.payload.toString()),
        ['a0', 'a1', 'a2'],
      );
      assert.ok(sentEmptyTopic.includes(true), 'the publisher sent at least one PUBLISH by alias only');
      assert.ok(aliasesIn.length >= 1, 'the broker used a topic alias towards the subscriber');
      assert.ok(
        aliasesIn.every((alias) => alias >= 1 && alias <= 5),
        'broker aliases stay within the client maximum',
      );
    });

    it('[MQTT-3.1.4-3] session takeover: the first client gets DISCONNECT 0x8E', async () => {
      const first = await connect({ protocolVersion: 5, clientId: 'mj5-takeover' });
      const disconnected = new Promise<number | undefined>((resolve) => {
        first.once('disconnect', (packet) => resolve(packet.reasonCode));
      });
      await connect({ protocolVersion: 5, clientId: 'mj5-takeover' });
      assert.equal(await disconnected, 0x8e);
    });

    it('[MQTT-3.3.2-15] [MQTT-3.3.2-16] request/response: response topic and correlation data make the round trip', async () => {
      const responder = await connect({ protocolVersion: 5 });
      const reqInbox = new Inbox(responder);
      await responder.subscribeAsync('mj5/rpc/request', { qos: 1 });
      const requester = await connect({ protocolVersion: 5 });
      const resInbox = new Inbox(requester);
      await requester.subscribeAsync('mj5/rpc/response/1', { qos: 1 });
      const correlationData = Buffer.from([0, 1, 2, 0xff]);
      await requester.publishAsync('mj5/rpc/request', 'ping', {
        qos: 1,
        properties: { responseTopic: 'mj5/rpc/response/1', correlationData },
      });
      const request = await reqInbox.next('mj5/rpc/request');
      const responseTopic = request.packet.properties?.responseTopic;
      assert.equal(responseTopic, 'mj5/rpc/response/1');
      assert.ok(Buffer.from(request.packet.properties?.correlationData ?? []).equals(correlationData));
      await responder.publishAsync(responseTopic, 'pong', {
        qos: 1,
        properties: { correlationData: request.packet.properties?.correlationData },
      });
      const response = await resInbox.next('mj5/rpc/response/1');
      assert.equal(response.payload.toString(), 'pong');
      assert.ok(Buffer.from(response.packet.properties?.correlationData ?? []).equals(correlationData));
    });

    it('[MQTT-3.3.2-5] [MQTT-3.3.2-6] message expiry: an expired queued message is dropped, a live one arrives with the time left', async () => {
      const clientId = 'mj5-expiry';
      const topic = 'mj5/expiry';
      const options: IClientOptions = {
        protocolVersion: 5,
        clientId,
        clean: false,
        properties: { sessionExpiryInterval: 60 },
      };
      const first = await connect(options);
      await first.subscribeAsync(topic, { qos: 1 });
      await first.endAsync();
      const pub = await connect({ protocolVersion: 5 });
      await pub.publishAsync(topic, 'short', { qos: 1, properties: { messageExpiryInterval: 1 } });
      await pub.publishAsync(topic, 'long', { qos: 1, properties: { messageExpiryInterval: 100 } });
      // Wait past the short message's lifetime (a bounded sleep: expiry is measured in whole seconds).
      await new Promise((resolve) => setTimeout(resolve, 2_100));
      const again = mqtt.connect(url, { ...options, reconnectPeriod: 0 });
      clients.push(again);
      const inbox = new Inbox(again);
      const m = await inbox.next(topic);
      assert.equal(m.payload.toString(), 'long');
      const left = m.packet.properties?.messageExpiryInterval;
      assert.ok(left !== undefined && left < 100 && left >= 90, `expiry left ${left}`);
      // Queued messages are sent in order, so 'short' would have arrived before 'long'.
      assert.equal(inbox.on(topic).length, 1, 'the expired message was not delivered');
    });
  });
});
