/**
 * The broker's write-path shortcuts produce exactly the bytes the codec would: the shared PUBLISH header
 * written without encodePublish, and acknowledgements staged in place by OutboundWriter.appendAck.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, describe, test } from 'node:test';
import { createMessage } from '../../src/broker/message.js';
import { OutboundWriter } from '../../src/broker/outbound-writer.js';
import { SharedPublishHeaders } from '../../src/broker/shared-header.js';
import { Broker } from '../../src/index.js';
import { encode, encodePublish, MqttError, type QoS } from '../../src/packets/index.js';
import { engineOf } from '../../src/server/broker.js';

describe('SharedPublishHeaders', () => {
  const broker = new Broker();
  const headers = new SharedPublishHeaders();
  after(() => broker.close());

  const topics = [
    'a',
    'sensors/building-7/floor-3/temperature',
    'caf\u00e9/\u00fcber/\u{1f600}',
    'x'.repeat(300),
  ];
  const payloadSizes = [0, 100, 200, 20_000];

  test('matches encodePublish for every version, QoS, retain and dup, with the packet id slot holding 1', () => {
    let checked = 0;
    for (const topic of topics) {
      for (const size of payloadSizes) {
        const payload = Buffer.alloc(size, 0x61);
        const message = createMessage(topic, payload, 2, false, undefined, undefined, Date.now());
        for (const v5 of [false, true]) {
          for (const qos of [0, 1, 2] as QoS[]) {
            for (const retain of [false, true]) {
              for (const dup of qos > 0 ? [false, true] : [false]) {
                const expected = encodePublish(
                  qos > 0
                    ? { type: 'publish', topic, payload, qos, retain, dup, packetId: 1 }
                    : { type: 'publish', topic, payload, qos, retain, dup },
                  v5 ? 5 : 4,
                ).header;
                const header = headers.get(message, v5, qos, retain, dup);
                assert.deepEqual(
                  header,
                  expected,
                  `${topic.slice(0, 20)} ${size} v5=${v5} qos=${qos} ${retain} ${dup}`,
                );
                checked++;
              }
            }
          }
        }
      }
    }
    assert.equal(checked, topics.length * payloadSizes.length * 2 * (2 + 4 + 4));
  });

  test('a topic the codec refuses never reaches the shared header: every way in checks it', async () => {
    // The inline client refuses it (0x90).
    for (const topic of ['', 'a/+/b', 'a/#']) {
      assert.throws(
        () => broker.publish(topic, 'p'),
        (err: unknown) => err instanceof MqttError && err.reasonCode === 0x90,
      );
    }
    // A will with a wildcard topic is refused at CONNECT (v5 CONNACK 0x90).
    await assert.rejects(
      broker.createClient('bad-will', {
        protocolVersion: 5,
        will: { topic: 'w/#', payload: Buffer.from('x'), qos: 0, retain: false },
      }),
      (err: unknown) => err instanceof MqttError && err.reasonCode === 0x90,
    );
    // An injected PUBLISH goes through the codec like a received one: a wildcard topic ends the connection.
    const client = await broker.createClient('injector', { protocolVersion: 5 });
    client.inject({
      type: 'publish',
      topic: 'a/+',
      payload: Buffer.from('x'),
      qos: 0,
      retain: false,
      dup: false,
    });
    assert.equal(client.received.at(-1)?.type, 'disconnect');
    assert.equal(engineOf(broker).sessions.has('injector'), false);
  });
});

describe('OutboundWriter.appendAck', () => {
  function capture(): { writer: OutboundWriter; stream: PassThrough; written: () => Buffer } {
    const stream = new PassThrough();
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    return { writer: new OutboundWriter(), stream, written: () => Buffer.concat(chunks) };
  }

  test('writes the same bytes as encode() for the four acknowledgements, between other appends', async () => {
    const { writer, stream, written } = capture();
    const expected: Buffer[] = [];
    const acks = [
      [0x40, 'puback'],
      [0x50, 'pubrec'],
      [0x62, 'pubrel'],
      [0x70, 'pubcomp'],
    ] as const;
    for (const packetId of [1, 255, 256, 4242, 65_535]) {
      for (const [firstByte, type] of acks) {
        writer.appendAck(firstByte, packetId);
        expected.push(encode({ type, packetId }, 4), encode({ type, packetId }, 5));
        writer.appendAck(firstByte, packetId);
      }
      const ping = encode({ type: 'pingresp' }, 4);
      writer.append(ping);
      expected.push(ping);
    }
    assert.equal(writer.pendingBytes, Buffer.concat(expected).length);
    assert.equal(writer.flush(stream), Buffer.concat(expected).length);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(written(), Buffer.concat(expected));
  });

  test('continues in a fresh stage when the current one is full', async () => {
    const { writer, stream, written } = capture();
    // 10 000 acknowledgements are 40 000 bytes: more than one 16 KiB stage.
    const count = 10_000;
    const expected = Buffer.alloc(count * 4);
    for (let i = 0; i < count; i++) {
      const packetId = (i % 65_535) + 1;
      writer.appendAck(0x40, packetId);
      expected.set([0x40, 2, packetId >>> 8, packetId & 0xff], i * 4);
    }
    assert.equal(writer.flush(stream), expected.length);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(written(), expected);
  });
});

describe('SharedPublishHeaders.getV5', () => {
  test('patched with a packet id and an alias, matches encodePublish for every shape', () => {
    const headers = new SharedPublishHeaders();
    const properties = {
      contentType: 'application/json',
      correlationData: Buffer.from([1, 2, 3]),
      userProperties: [['k', 'v'] as [string, string]],
    };
    let checked = 0;
    for (const withProperties of [false, true]) {
      const message = createMessage(
        'sensors/a/b',
        Buffer.from('{"t":21}'),
        2,
        false,
        withProperties ? { ...properties, messageExpiryInterval: 60 } : undefined,
        'pub',
        Date.now(),
      );
      for (const qos of [0, 1, 2] as QoS[]) {
        for (const ids of [undefined, [3], [3, 300]]) {
          for (const use of ['none', 'set', 'use'] as const) {
            const left = withProperties ? 60 : undefined;
            const shape = headers.getV5(message, qos, true, false, ids, use, left);
            const header = Buffer.from(shape.header);
            const packetId = 4242;
            const alias = 7;
            if (shape.packetIdAt >= 0) header.writeUInt16BE(packetId, shape.packetIdAt);
            if (shape.aliasAt >= 0) header.writeUInt16BE(alias, shape.aliasAt);
            const expected = encodePublish(
              {
                type: 'publish',
                topic: use === 'use' ? '' : 'sensors/a/b',
                payload: message.payload,
                qos,
                retain: true,
                dup: false,
                ...(qos > 0 ? { packetId } : {}),
                properties: {
                  ...(withProperties ? { ...properties, messageExpiryInterval: 60 } : {}),
                  ...(ids === undefined ? {} : { subscriptionIdentifiers: ids }),
                  ...(use === 'none' ? {} : { topicAlias: alias }),
                },
              },
              5,
            ).header;
            assert.deepEqual(header, expected, `props=${withProperties} qos=${qos} ids=${ids} alias=${use}`);
            checked++;
          }
        }
      }
    }
    assert.equal(checked, 2 * 3 * 3 * 3);
  });
});
