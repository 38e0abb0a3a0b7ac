/** Encoding rules beyond the fixtures: refusals, version-specific fields, short forms, encodePublish. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type ConnectPacket,
  decode,
  encode,
  encodePublish,
  type Packet,
  type PublishPacket,
  ReasonCode,
} from '../../src/packets/index.js';
import { assertMqttError } from './helpers.js';

const { MalformedPacket, ProtocolError, TopicNameInvalid, PacketTooLarge } = ReasonCode;

const publish: PublishPacket = {
  type: 'publish',
  topic: 'a/b',
  payload: Buffer.from('hi'),
  qos: 1,
  retain: false,
  dup: false,
  packetId: 1,
};

const connect: ConnectPacket = {
  type: 'connect',
  protocolName: 'MQTT',
  protocolVersion: 4,
  clean: true,
  keepalive: 60,
  clientId: 'c',
};

const hex = (packet: Packet, version: 3 | 4 | 5): string => encode(packet, version).toString('hex');

describe('encode refuses packets that cannot be encoded validly', () => {
  test('QoS > 0 without a packet identifier, or with one outside 1..65535', () => {
    const { packetId: _, ...withoutId } = publish;
    assertMqttError(() => encode(withoutId, 4), MalformedPacket);
    assertMqttError(() => encode({ ...publish, packetId: 0 }, 4), MalformedPacket);
    assertMqttError(() => encode({ ...publish, packetId: 65_536 }, 5), MalformedPacket);
    assertMqttError(() => encode({ type: 'puback', packetId: 0 }, 4), MalformedPacket);
    assertMqttError(() => encode({ type: 'subscribe', packetId: 0, subscriptions: [] }, 4), MalformedPacket);
  });

  test('QoS 3, and DUP with QoS 0', () => {
    assertMqttError(() => encode({ ...publish, qos: 3 as 0 }, 4), MalformedPacket);
    assertMqttError(() => encode({ ...publish, qos: 0, dup: true }, 4), MalformedPacket);
  });

  test('[MQTT-1.5.4-2] an outgoing string holding U+0000 (short ASCII, long, or non-ASCII)', () => {
    assertMqttError(() => encode({ ...connect, clientId: 'a\u0000b' }, 4), MalformedPacket);
    assertMqttError(() => encode({ ...connect, clientId: `${'x'.repeat(200)}\u0000` }, 4), MalformedPacket);
    assertMqttError(
      () => encode({ type: 'disconnect', reasonCode: 0x80, properties: { reasonString: 'é\u0000' } }, 5),
      MalformedPacket,
    );
    assert.equal(decode(encode({ ...connect, clientId: 'é-ok' }, 4), 4).type, 'connect');
  });

  test('strings and binary data longer than 65535 bytes', () => {
    assertMqttError(() => encode({ ...publish, topic: 'x'.repeat(65_536) }, 4), MalformedPacket);
    assertMqttError(() => encode({ ...connect, clientId: 'é'.repeat(32_768) }, 4), MalformedPacket);
    assertMqttError(
      () => encode({ ...connect, username: 'u', password: Buffer.alloc(65_536) }, 4),
      MalformedPacket,
    );
    assertMqttError(
      () =>
        encode(
          { ...connect, protocolVersion: 5, properties: { userProperties: [['k', 'v'.repeat(65_536)]] } },
          5,
        ),
      MalformedPacket,
    );
  });

  test('a packet above the Remaining Length limit is refused with 0x95 before the payload is read', () => {
    const huge = { length: 268_435_456 } as Buffer;
    assertMqttError(() => encodePublish({ ...publish, payload: huge }, 4), PacketTooLarge);
  });

  test('[MQTT-3.3.2-2] [MQTT-4.7.0-1] topic names: wildcards, empty topic (v5: unless a topic alias is given)', () => {
    assertMqttError(() => encode({ ...publish, topic: 'a/+' }, 5), TopicNameInvalid);
    assertMqttError(() => encode({ ...publish, topic: '#' }, 4), TopicNameInvalid);
    assertMqttError(() => encode({ ...publish, topic: '' }, 4), TopicNameInvalid);
    assertMqttError(() => encode({ ...publish, topic: '' }, 5), ProtocolError);
    const aliased = { ...publish, topic: '', properties: { topicAlias: 2 } };
    assert.deepEqual(decode(encode(aliased, 5), 5), aliased);
  });

  test('AUTH before MQTT 5', () => {
    assertMqttError(() => encode({ type: 'auth' }, 4), ProtocolError);
    assertMqttError(() => encode({ type: 'auth' }, 3), ProtocolError);
  });

  test('CONNECT: level differing from the version, password without user name before v5, bad keep alive', () => {
    assertMqttError(() => encode(connect, 5), ProtocolError);
    assertMqttError(() => encode({ ...connect, password: Buffer.from('p') }, 4), MalformedPacket);
    assertMqttError(() => encode({ ...connect, keepalive: 65_536 }, 4), MalformedPacket);
    const v5 = { ...connect, protocolVersion: 5 as const, password: Buffer.from('p') };
    assert.deepEqual(decode(encode(v5, 5), 5), v5);
  });

  test('[MQTT-3.8.3-2] [MQTT-3.10.3-2] SUBSCRIBE / UNSUBSCRIBE without filters, bad subscription options', () => {
    assertMqttError(() => encode({ type: 'subscribe', packetId: 1, subscriptions: [] }, 5), ProtocolError);
    assertMqttError(() => encode({ type: 'unsubscribe', packetId: 1, topicFilters: [] }, 4), ProtocolError);
    const sub = { topicFilter: 'a', qos: 0 as const };
    assertMqttError(
      () => encode({ type: 'subscribe', packetId: 1, subscriptions: [{ ...sub, qos: 3 as 0 }] }, 4),
      MalformedPacket,
    );
    assertMqttError(
      () =>
        encode({ type: 'subscribe', packetId: 1, subscriptions: [{ ...sub, retainHandling: 3 as 0 }] }, 5),
      ProtocolError,
    );
  });

  test('[MQTT-3.2.2-8] [MQTT-3.4.2-1] [MQTT-3.5.2-1] [MQTT-3.6.2-1] [MQTT-3.7.2-1] [MQTT-3.9.3-2] [MQTT-3.11.3-2] [MQTT-3.15.2-1] v5 reason codes not defined for the packet', () => {
    assertMqttError(() => encode({ type: 'puback', packetId: 1, reasonCode: 0x01 }, 5), ProtocolError);
    assertMqttError(() => encode({ type: 'pubrec', packetId: 1, reasonCode: 0x8f }, 5), ProtocolError);
    assertMqttError(() => encode({ type: 'pubrel', packetId: 1, reasonCode: 0x80 }, 5), ProtocolError);
    assertMqttError(() => encode({ type: 'pubcomp', packetId: 1, reasonCode: 0x10 }, 5), ProtocolError);
    assertMqttError(() => encode({ type: 'disconnect', reasonCode: 0x05 }, 5), ProtocolError);
    assertMqttError(
      () => encode({ type: 'connack', sessionPresent: false, reasonCode: 0x10 }, 5),
      ProtocolError,
    );
    assertMqttError(() => encode({ type: 'suback', packetId: 1, reasonCodes: [0x11] }, 5), ProtocolError);
    assertMqttError(() => encode({ type: 'unsuback', packetId: 1, reasonCodes: [0x01] }, 5), ProtocolError);
    assertMqttError(() => encode({ type: 'auth', reasonCode: 0x87 }, 5), ProtocolError);
  });

  test('[MQTT-3.3.2-8] properties: not allowed in the packet, out of range (Topic Alias 0 among them), repeated where not repeatable', () => {
    assertMqttError(
      () => encode({ ...publish, properties: { sessionExpiryInterval: 1 } }, 5),
      MalformedPacket,
    );
    assertMqttError(
      () => encode({ ...publish, properties: { payloadFormatIndicator: 2 } }, 5),
      ProtocolError,
    );
    assertMqttError(() => encode({ ...publish, properties: { topicAlias: 0 } }, 5), ProtocolError);
    assertMqttError(() => encode({ ...publish, properties: { topicAlias: 65_536 } }, 5), MalformedPacket);
    assertMqttError(
      () => encode({ ...publish, properties: { messageExpiryInterval: -1 } }, 5),
      MalformedPacket,
    );
    assertMqttError(
      () => encode({ ...publish, properties: { subscriptionIdentifiers: [268_435_456] } }, 5),
      MalformedPacket,
    );
    assertMqttError(
      () => encode({ ...publish, properties: { subscriptionIdentifiers: [0] } }, 5),
      ProtocolError,
    );
    assertMqttError(
      () =>
        encode(
          {
            type: 'subscribe',
            packetId: 1,
            subscriptions: [{ topicFilter: 'a', qos: 0 }],
            properties: { subscriptionIdentifiers: [1, 2] },
          },
          5,
        ),
      ProtocolError,
    );
    assertMqttError(
      () => encode({ ...connect, protocolVersion: 5, properties: { receiveMaximum: 0 } }, 5),
      ProtocolError,
    );
  });
});

describe('version-specific encoding', () => {
  test('v3 and v4 ignore v5 properties and reason codes', () => {
    const withProps = { ...publish, properties: { contentType: 'json', topicAlias: 1 } };
    assert.equal(hex(withProps, 4), hex(publish, 4));
    assert.equal(hex({ type: 'puback', packetId: 1, reasonCode: 0x10 }, 4), '40020001');
    assert.equal(hex({ type: 'disconnect', reasonCode: 0x04, properties: { reasonString: 'x' } }, 3), 'e000');
    assert.equal(hex({ type: 'unsuback', packetId: 1, reasonCodes: [0x11] }, 4), 'b0020001');
  });

  test('v3 SUBACK and CONNACK codes are written as given', () => {
    assert.equal(hex({ type: 'suback', packetId: 1, reasonCodes: [0, 1, 2, 0x80] }, 3), '9006000100010280');
    assert.equal(hex({ type: 'connack', sessionPresent: false, reasonCode: 2 }, 3), '20020002');
  });

  test('MQTT 3.1 and 3.1.1 share the wire format apart from the CONNECT protocol name', () => {
    assert.equal(hex(publish, 3), hex(publish, 4));
    const v3 = { ...connect, protocolName: 'MQIsdp', protocolVersion: 3 as const };
    assert.deepEqual(decode(encode(v3, 3), 3), v3);
  });

  test('v5 short forms: absent reason code and empty properties count as none', () => {
    assert.equal(hex({ type: 'puback', packetId: 1 }, 5), '40020001');
    assert.equal(hex({ type: 'pubrec', packetId: 1, reasonCode: 0, properties: {} }, 5), '50020001');
    assert.equal(hex({ type: 'pubrel', packetId: 1, reasonCode: 0x92 }, 5), '6203000192');
    assert.equal(hex({ type: 'disconnect' }, 5), 'e000');
    assert.equal(hex({ type: 'disconnect', reasonCode: 0, properties: {} }, 5), 'e000');
    assert.equal(hex({ type: 'auth', reasonCode: 0x18 }, 5), 'f00118');
  });

  test('[MQTT-2.2.2-1] v5 packets with a property list always carry its length, even when empty', () => {
    const qos0: PublishPacket = {
      type: 'publish',
      topic: 'a/b',
      payload: Buffer.from('hi'),
      qos: 0,
      retain: false,
      dup: false,
    };
    assert.equal(hex({ ...qos0, properties: {} }, 5), '30080003612f62006869');
    assert.equal(hex({ type: 'suback', packetId: 1, reasonCodes: [0] }, 5), '900400010000');
  });
});

describe('encodePublish', () => {
  test('returns the payload by reference and a header that completes it', () => {
    for (const version of [3, 4, 5] as const) {
      const { header, payload } = encodePublish(publish, version);
      assert.equal(payload, publish.payload);
      assert.deepEqual(Buffer.concat([header, payload]), encode(publish, version));
    }
  });

  test('header length accounts for a multi-byte Remaining Length', () => {
    const big = { ...publish, payload: Buffer.alloc(20_000) };
    const { header } = encodePublish(big, 5);
    // 1 + 3 (Remaining Length 20008) + 5 (topic) + 2 (packet id) + 1 (property length)
    assert.equal(header.length, 12);
    assert.deepEqual(decode(Buffer.concat([header, big.payload]), 5), big);
  });
});
