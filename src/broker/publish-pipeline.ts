import type { DurableState } from './durable-state.js';
import type { HookRegistry } from './hook-registry.js';
import type { ClientInfo } from './hooks.js';
import { detached, type Message } from './message.js';
import type { RetainedMessages, Router } from './routing.js';

/**
 * The one path every message takes once admitted: client publishes, wills, the inline client, `$SYS`,
 * injected packets and messages from other nodes. Retain, route, tell the hooks.
 */
export class PublishPipeline {
  constructor(
    private readonly router: Router,
    private readonly retained: RetainedMessages,
    private readonly durable: DurableState,
    private readonly hooks: HookRegistry,
  ) {}

  /** Publish `message` on behalf of `client`. Returns the number of local deliveries. */
  publish(message: Message, client: ClientInfo): number {
    if (message.retain) this.retain(message);
    const deliveries = this.router.route(message, 'local');
    this.published(client, message, deliveries);
    return deliveries;
  }

  /**
   * Tell the hooks about a message another node published and routed here (its retained change was made
   * there), delivered to `deliveries` sessions; its client record is made only when a hook listens.
   */
  publishedRemote(message: Message, from: string, deliveries: number): void {
    if (this.hooks.on.onPublished.length === 0) return;
    this.published(internalClient(message.origin ?? '', `cluster:${from}`), message, deliveries);
  }

  /** Tell the `onPublished` hooks a message went to `deliveries` sessions. */
  published(client: ClientInfo, message: Message, deliveries: number): void {
    for (const hook of this.hooks.on.onPublished) {
      try {
        hook.onPublished(client, message, deliveries);
      } catch (err) {
        this.hooks.reportError(err, 'onPublished');
      }
    }
  }

  /** Store, replace, or (empty payload) delete a retained message. [MQTT-3.3.1-5] [MQTT-3.3.1-6] [MQTT-3.3.1-7] */
  retain(message: Message): void {
    let stored: Message | undefined;
    if (message.payload.length > 0) {
      const kept = detached(message);
      stored = kept.retain ? kept : { ...kept, retain: true };
    }
    this.retained.set(message.topic, stored);
    this.durable.retainedChanged(message.topic, stored);
    for (const hook of this.hooks.on.onRetainMessage) {
      try {
        hook.onRetainMessage(message);
      } catch (err) {
        this.hooks.reportError(err, 'onRetainMessage');
      }
    }
  }
}

/**
 * The client record of a message the broker publishes itself (inline client, `$SYS`, another node), or, with
 * `inline` false, on behalf of a client it knows only by id (the will of another node's client).
 */
export function internalClient(clientId: string, listener: string, inline = true): ClientInfo {
  return {
    clientId,
    username: undefined,
    protocolVersion: 5,
    remoteAddress: undefined,
    remotePort: undefined,
    listener,
    inline,
  };
}
