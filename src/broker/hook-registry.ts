import { HOOK_EVENTS, type Hook, type HookEvent } from './hooks.js';

type HookArrays = { readonly [E in HookEvent]: Required<Pick<Hook, E>>[] };

/**
 * Hooks by event: one array per event, built when a hook is added, so the broker's hot path asks
 * `hooks.on.onPublish.length` and never "does this hook care?".
 */
export class HookRegistry {
  readonly all: Hook[] = [];
  readonly on: HookArrays;
  /**
   * Where a hook that threw is reported on paths that must go on regardless (fan-out to subscribers,
   * notifications): the engine logs and counts it; the publisher and the other subscribers are unharmed.
   */
  reportError: (err: unknown, event: HookEvent) => void = () => {};

  constructor() {
    const arrays: Record<string, Hook[]> = {};
    for (const event of HOOK_EVENTS) arrays[event] = [];
    this.on = arrays as unknown as HookArrays;
  }

  add(hook: Hook): void {
    this.all.push(hook);
    for (const event of HOOK_EVENTS) {
      if (typeof hook[event] === 'function') (this.on[event] as Hook[]).push(hook);
    }
  }

  remove(hook: Hook): boolean {
    const index = this.all.indexOf(hook);
    if (index < 0) return false;
    this.all.splice(index, 1);
    for (const event of HOOK_EVENTS) {
      const list = this.on[event] as Hook[];
      const at = list.indexOf(hook);
      if (at >= 0) list.splice(at, 1);
    }
    return true;
  }
}
