import type { Hook } from '../broker/hooks.js';

/**
 * Allows every connection and every publish/subscribe. With auth hooks, deny is the default once any
 * `onConnectAuthenticate` / `onAclCheck` hook is registered, so allowing everyone is this explicit hook.
 */
export const allowAll: Hook = {
  id: 'allow-all',
  onConnectAuthenticate: () => true,
  onAclCheck: () => true,
};

/**
 * True for a peer on this machine: a loopback address, or a Unix socket peer (the Unix listener reports its
 * socket path as the address; in-process streams have none).
 */
export function isLocalPeer(address: string | undefined): boolean {
  return address === undefined || address.startsWith('/') || isLoopbackAddress(address);
}

/** True for IPv4 127.0.0.0/8, IPv6 ::1 and IPv4-mapped loopback addresses. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
}

/**
 * What the CLI broker uses when no auth is configured: anonymous clients are accepted only from loopback
 * addresses (and in-process clients), so an unconfigured broker is never an open relay on the network.
 */
export const loopbackOnly: Hook = {
  id: 'loopback-only',
  onConnectAuthenticate: (client) => client.inline || isLocalPeer(client.remoteAddress),
  onAclCheck: () => true,
};
