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

  /**
   * Publish `message` on behalf of `client`; `origin` is `remote` for a message another node already stored
   * and routed there (it is delivered here only). Returns the number of local deliveries.
   */
  publish(message: Message, client: ClientInfo, origin: 'local' | 'remote' = 'local'): number {
    if (message.retain && origin === 'local') this.retain(message);
    const deliveries = this.router.route(message, origin);
    this.published(client, message, deliveries);
    return deliveries;
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
