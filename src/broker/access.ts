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
    // Every PUBLISH comes here: the first hook is asked without a closure (nor the context one would
    // close over, which V8 makes on entry to the function that has it).
    const first = (hooks[0] as NonNullable<(typeof hooks)[0]>).onAclCheck(client, topic, access);
    if (first === true || (first === false && hooks.length === 1)) return first;
    return authorizeRest(first, hooks, client, topic, access);
  }
}

/** `authorize` past its first hook's answer. */
function authorizeRest(
  first: boolean | Promise<boolean>,
  hooks: HookRegistry['on']['onAclCheck'],
  client: ClientInfo,
  topic: string,
  access: AclAccess,
): boolean | Promise<boolean> {
  return anyAllowsAfter(first, hooks, 0, (hook) => hook.onAclCheck(client, topic, access));
}

/**
 * Allow if any hook allows: hooks are asked in order and the first yes stops the asking. Synchronous
 * while every answer is; from the first promise on, the rest are asked after it settles.
 */
function anyAllows<H>(
  hooks: readonly H[],
  ask: (hook: H) => boolean | Promise<boolean>,
): boolean | Promise<boolean> {
  return anyAllowsAfter(ask(hooks[0] as H), hooks, 0, ask);
}

/** `anyAllows`, hook `i` having answered `answer` already. */
function anyAllowsAfter<H>(
  answer: boolean | Promise<boolean>,
  hooks: readonly H[],
  i: number,
  ask: (hook: H) => boolean | Promise<boolean>,
): boolean | Promise<boolean> {
  for (;;) {
    if (answer === true) return true;
    if (answer instanceof Promise) {
      const from = i + 1;
      return answer.then(async (ok) => {
        if (ok) return true;
        for (let j = from; j < hooks.length; j++) if (await ask(hooks[j] as H)) return true;
        return false;
      });
    }
    if (++i >= hooks.length) return false;
    answer = ask(hooks[i] as H);
  }
}
