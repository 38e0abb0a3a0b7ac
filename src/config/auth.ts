import { createHash, timingSafeEqual } from 'node:crypto';
import type { ClientInfo, Hook } from '../hooks/types.js';
import type { ConnectPacket } from '../packets/types.js';
import type { AuthConfig } from './schema.js';

const digest = (value: string | Buffer): Buffer => createHash('sha256').update(value).digest();

/**
 * The config file's `auth` section as a hook: listed users with their password, and anonymous clients
 * when allowed. Returns undefined when the section allows everyone (no hook needed).
 */
export function authHookFromConfig(auth: AuthConfig): Hook | undefined {
  const users = new Map((auth.users ?? []).map((u) => [u.username, digest(u.password)]));
  const allowAnonymous = auth.allowAnonymous ?? users.size === 0;
  if (allowAnonymous && users.size === 0) return undefined;
  return {
    id: 'config-auth',
    onConnectAuthenticate(_client: ClientInfo, connect: ConnectPacket): boolean {
      if (connect.username === undefined) return allowAnonymous;
      const expected = users.get(connect.username);
      if (expected === undefined || connect.password === undefined) return false;
      // Compare digests in constant time so response timing does not leak how much of a password matched.
      return timingSafeEqual(expected, digest(connect.password));
    },
  };
}
