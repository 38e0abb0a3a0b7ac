/**
 * The engine's parts, built and wired for `engine.ts`: each part is handed only the parts it uses (no
 * service locator), and the connections and protocol flows see them as one EngineServices object.
 */
import { AccessControl } from './access.js';
import { Admission } from './admission.js';
import type { Connection } from './connection.js';
import { DurableState } from './durable-state.js';
import { EndOfTurn } from './end-of-turn.js';
import type { EngineServices } from './engine-services.js';
import type { HookRegistry } from './hook-registry.js';
import { LocalRouter } from './local-router.js';
import type { BrokerLogger } from './logger.js';
import { MemoryBudget } from './memory-budget.js';
import type { ResolvedBrokerOptions } from './options.js';
import { OutboundQos } from './outbound-qos.js';
import { PublishPipeline } from './publish-pipeline.js';
import type { Router } from './routing.js';
import { SessionRegistry } from './session-registry.js';
import { SharedPublishHeaders } from './shared-header.js';
import type { BrokerStats } from './stats.js';
import type { SessionStore } from './storage.js';
import { Subscriptions } from './subscriptions.js';

/** The parts the engine keeps a hand on, besides what it hands to its connections. */
export interface EngineParts {
  readonly services: EngineServices;
  readonly turn: EndOfTurn;
  readonly router: LocalRouter;
}

/**
 * Build the parts over the engine's options, stats and hooks. `routing` wraps the local topic index (a
 * cluster); `connectionClosed` is told when a network connection closes; `lookAtKernel` is offered a look at the
 * kernel's send queues (kernel-send-queues.ts) when a turn writes a lot.
 */
export function buildEngineParts(
  options: ResolvedBrokerOptions,
  stats: BrokerStats,
  hooks: HookRegistry,
  logger: BrokerLogger,
  storage: SessionStore | undefined,
  routing: ((local: LocalRouter) => Router) | undefined,
  connectionClosed: (conn: Connection) => void,
  lookAtKernel: () => void,
): EngineParts {
  const memory = new MemoryBudget(options.maxMemory);
  const turn = new EndOfTurn(storage, stats, logger, undefined, memory);
  const durable = new DurableState(storage, hooks, turn);
  const outbound = new OutboundQos(options, stats, hooks, durable, new SharedPublishHeaders(), memory);
  const router = new LocalRouter(outbound, hooks, durable, stats);
  const routes = routing === undefined ? router : routing(router);
  const pipeline = new PublishPipeline(routes, router, durable, hooks);
  const subscriptions = new Subscriptions(routes, durable);
  const access = new AccessControl(hooks);
  const sessions = new SessionRegistry(subscriptions, pipeline, access, durable, hooks);
  const services: EngineServices = {
    options,
    stats,
    hooks,
    logger,
    access,
    admission: new Admission(options, stats, sessions),
    sessions,
    subscriptions,
    outbound,
    pipeline,
    router,
    durable,
    turn,
    memory,
    connectionClosed,
    lookAtKernel,
  };
  return { services, turn, router };
}
