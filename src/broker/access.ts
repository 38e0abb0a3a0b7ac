import type { ConnectPacket } from '../packets/types.js';
import type { HookRegistry } from './hook-registry.js';
import type { AclAccess, ClientInfo } from './hooks.js';

/**
 * Authentication and authorization through the hooks: allow if any hook allows; with no such hook
 * registered, everyone is allowed (the CLI always registers one).
 */
export class AccessControl {
  constructor(private readonly hooks: HookRegistry) {}

  authenticate(client: ClientInfo, packet: ConnectPacket): boolean | Promise<boolean> {
    const hooks = this.hooks.on.onConnectAuthenticate;
    if (hooks.length === 0) return true;
    return anyAllows(hooks, (hook) => hook.onConnectAuthenticate(client, packet));
  }

  authorize(client: ClientInfo, topic: string, access: AclAccess): boolean | Promise<boolean> {
    const hooks = this.hooks.on.onAclCheck;
    if (hooks.length === 0) return true;
    return anyAllows(hooks, (hook) => hook.onAclCheck(client, topic, access));
  }
}

/**
 * Allow if any hook allows: hooks are asked in order and the first yes stops the asking. Synchronous
 * while every answer is; from the first promise on, the rest are asked after it settles.
 */
function anyAllows<H>(
  hooks: readonly H[],
  ask: (hook: H) => boolean | Promise<boolean>,
): boolean | Promise<boolean> {
  for (let i = 0; i < hooks.length; i++) {
    const answer = ask(hooks[i] as H);
    if (answer === true) return true;
    if (answer instanceof Promise) {
      return answer.then(async (ok) => {
        if (ok) return true;
        for (let j = i + 1; j < hooks.length; j++) if (await ask(hooks[j] as H)) return true;
        return false;
      });
    }
  }
  return false;
}
