import type { ClientInfo, Hook } from '../broker/hooks.js';
import { isLoopbackAddress, loopbackOnly } from '../hooks/allow-all.js';
import { AuthLedger } from '../hooks/auth-ledger.js';
import type { ListenerConfig } from '../listeners/listener.js';
import type { ConnectPacket } from '../packets/types.js';
import type { AuthConfig } from './schema.js';

/** The hooks the config's `auth` section asks for, and what the CLI should say about them at start. */
export interface AuthSetup {
  readonly hooks: Hook[];
  /** Present when users/ACL come from a ledger, so SIGHUP can reload it. */
  readonly ledger: AuthLedger | undefined;
  /** A line to log as a warning at start (anonymous access), if any. */
  readonly warning: string | undefined;
}

/**
 * Build the broker's auth from the config file:
 * - nothing configured: anonymous clients from loopback addresses and Unix sockets only, with a warning;
 * - otherwise the auth ledger (users with scrypt hashes, ACL rules; inline or from `auth.file`), and
 *   anonymous clients allowed per listener (`allowAnonymous` on the listener, else `auth.anonymous`).
 */
export async function authFromConfig(
  auth: AuthConfig,
  listeners: readonly ListenerConfig[],
): Promise<AuthSetup> {
  const perListener = new Map<string, boolean>();
  for (const listener of listeners) {
    if (listener.allowAnonymous !== undefined)
      perListener.set(listener.name ?? listener.type, listener.allowAnonymous);
  }
  const configured =
    auth.file !== undefined ||
    (auth.users?.length ?? 0) > 0 ||
    (auth.acl?.length ?? 0) > 0 ||
    auth.anonymous !== undefined ||
    perListener.size > 0;
  if (!configured) {
    return {
      hooks: [loopbackOnly],
      ledger: undefined,
      warning:
        'no auth configured: anonymous clients are accepted from loopback addresses and Unix sockets only',
    };
  }
  const ledger =
    auth.file !== undefined
      ? await AuthLedger.fromFile(auth.file)
      : AuthLedger.fromObject({ users: auth.users ?? [], acl: auth.acl ?? [], anonymous: false });
  const fallback = auth.anonymous ?? false;
  const anonymousAllowed = (client: ClientInfo): boolean => perListener.get(client.listener) ?? fallback;
  const anonymousHook: Hook = {
    id: 'anonymous-per-listener',
    onConnectAuthenticate: (client: ClientInfo, connect: ConnectPacket) =>
      connect.username === undefined && anonymousAllowed(client),
  };
  const open = [...perListener.entries()].filter(([, allowed]) => allowed).map(([name]) => name);
  const warning =
    fallback || open.length > 0
      ? `anonymous clients are accepted on ${fallback ? 'every listener not set otherwise' : `listeners ${open.join(', ')}`}`
      : undefined;
  return { hooks: [ledger, anonymousHook], ledger, warning };
}

export { isLoopbackAddress };
