/**
 * What a cluster node does with the engine's sessions beyond storing them: ownership in the backend kept in
 * step with them (`ownershipHook`), and the wills it publishes for clients of a node that died.
 */
import type { Engine } from '../broker/engine.js';
import type { Hook } from '../broker/hooks.js';
import type { StoredWill } from '../broker/storage.js';
import type { ClusterStore } from './backend.js';

/**
 * The hook that keeps ownership in step with the engine's sessions: a session gone from this node lets go
 * of its ownership; the will of a connected client whose session is not stored is kept in the backend
 * (published by whoever takes this node over if it dies).
 */
export function ownershipHook(engine: Engine, store: ClusterStore, markDirty: () => void): Hook {
  return {
    id: 'cluster',
    onSessionRemoved: (clientId) => {
      store.release(clientId);
      markDirty();
    },
    onSessionEstablished: (client) => {
      const session = engine.sessions.get(client.clientId);
      if (session === undefined || session.persistent || session.inline || session.will === undefined) return;
      const { topic, payload, qos, retain, properties } = session.will;
      store.setWill(client.clientId, { topic, payload, qos, retain, properties });
      markDirty();
    },
  };
}

/** Publish the will of a client whose node died (or of this node's clients when it last stopped). */
export function publishWill(engine: Engine, clientId: string, will: StoredWill): void {
  const { topic, payload, qos, retain, properties } = will;
  engine.services.sessions.publishWillOf(clientId, {
    topic,
    payload,
    qos,
    retain,
    ...(properties === undefined ? {} : { properties }),
  });
}
