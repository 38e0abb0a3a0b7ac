import type { AccessControl } from './access.js';
import type { Admission } from './admission.js';
import type { DurableState } from './durable-state.js';
import type { EndOfTurn } from './end-of-turn.js';
import type { HookRegistry } from './hook-registry.js';
import type { LocalRouter } from './local-router.js';
import type { BrokerLogger } from './logger.js';
import type { MemoryBudget } from './memory-budget.js';
import type { ResolvedBrokerOptions } from './options.js';
import type { OutboundQos } from './outbound-qos.js';
import type { PublishPipeline } from './publish-pipeline.js';
import type { SessionRegistry } from './session-registry.js';
import type { BrokerStats } from './stats.js';
import type { Subscriptions } from './subscriptions.js';

/**
 * The engine's parts a connection and its protocol flows use, each a narrow object of its own (no engine
 * class passed around as a service locator).
 */
export interface EngineServices {
  readonly options: ResolvedBrokerOptions;
  readonly stats: BrokerStats;
  readonly hooks: HookRegistry;
  readonly logger: BrokerLogger;
  readonly access: AccessControl;
  readonly admission: Admission;
  readonly sessions: SessionRegistry;
  readonly subscriptions: Subscriptions;
  readonly outbound: OutboundQos;
  readonly pipeline: PublishPipeline;
  readonly router: LocalRouter;
  readonly durable: DurableState;
  readonly turn: EndOfTurn;
  readonly memory: MemoryBudget;
  /**
   * A network connection closed: the engine stops counting it among its connections. (A method typed with
   * `object`, so this module need not import the connection, which imports it.)
   */
  connectionClosed(conn: object): void;
  /**
   * Offer a look at the kernel's send queues (declined unless one is due): a turn that writes a lot (a big
   * fan-out) may take seconds, and stalled readers are best found within it, not after.
   */
  lookAtKernel(): void;
}
