/**
 * mosquitto-style `-d` lines ("Client <id> sending PUBLISH (...)"), printed from the client's packet
 * observer so that every packet on the wire is reported, CONNECT and CONNACK included.
 */
import type { PacketDirection } from '../client/types.js';
import type { Packet } from '../packets/types.js';

/**
 * Writes mosquitto-style `-d` lines ("Client <id> sending PUBLISH (...)") to `out`. `id` is the client
 * identifier sent in CONNECT ("(null)" while empty), replaced by one the server assigns.
 */
export class DebugLog {
  constructor(
    private readonly out: NodeJS.WritableStream,
    private id: string,
  ) {}

  private line(text: string): void {
    this.out.write(`Client ${this.id === '' ? '(null)' : this.id} ${text}\n`);
  }

  /** Prints the line of one packet: a `PacketObserver` for the client's `onPacket` option. */
  packet(way: PacketDirection, packet: Packet): void {
    const direction = way === 'out' ? 'sending' : 'received';
    const name = packet.type.toUpperCase();
    switch (packet.type) {
      case 'connack':
        // mosquitto names the client by the identifier the server assigned, from this line on.
        if (packet.properties?.assignedClientIdentifier !== undefined)
          this.id = packet.properties.assignedClientIdentifier;
        this.line(`received CONNACK (${packet.reasonCode})`);
        return;
      case 'publish':
        this.line(
          `${direction} PUBLISH (d${packet.dup ? 1 : 0}, q${packet.qos}, r${packet.retain ? 1 : 0}, ` +
            `m${packet.packetId ?? 0}, '${packet.topic}', ... (${packet.payload.length} bytes))`,
        );
        return;
      case 'puback':
      case 'pubrec':
      case 'pubrel':
      case 'pubcomp': {
        const rc = packet.reasonCode ?? 0;
        if (direction === 'sending') {
          const withRc = packet.type === 'puback' || packet.type === 'pubrec';
          this.line(`sending ${name} (m${packet.packetId}${withRc ? `, rc${rc}` : ''})`);
        } else {
          const withRc = packet.type === 'puback' || packet.type === 'pubcomp';
          this.line(`received ${name} (Mid: ${packet.packetId}${withRc ? `, RC:${rc}` : ''})`);
        }
        return;
      }
      case 'subscribe':
        for (const s of packet.subscriptions) {
          const options =
            (s.noLocal ? 4 : 0) | (s.retainAsPublished ? 8 : 0) | ((s.retainHandling ?? 0) << 4);
          this.line(
            `sending SUBSCRIBE (Mid: ${packet.packetId}, Topic: ${s.topicFilter}, QoS: ${s.qos}, ` +
              `Options: 0x${options.toString(16).padStart(2, '0')})`,
          );
        }
        return;
      case 'unsubscribe':
        for (const filter of packet.topicFilters) {
          this.line(`sending UNSUBSCRIBE (Mid: ${packet.packetId}, Topic: ${filter})`);
        }
        return;
      default:
        this.line(`${direction} ${name}`);
    }
  }
}
