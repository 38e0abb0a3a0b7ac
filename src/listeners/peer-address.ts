import type { Socket } from 'node:net';

/** A connected socket's remote end, as `socket.remoteAddress` / `socket.remotePort` report it. */
export interface PeerAddress {
  readonly address: string | undefined;
  readonly port: number | undefined;
}

interface HandleWithPeerName {
  getpeername(out: { address?: string; port?: number }): number;
}

/**
 * The remote address and port of an accepted socket, read once for the connection's facts. Reading
 * `socket.remoteAddress` makes Node keep an object of its own on the socket (`{ address, family, port }`,
 * some 70 bytes with its string) for the socket's whole life; asking the socket's handle directly keeps
 * nothing. When the handle has no `getpeername` (another Node, a wrapped stream), the public getters.
 */
export function peerAddress(socket: Socket): PeerAddress {
  const handle = (socket as unknown as { _handle?: Partial<HandleWithPeerName> | null })._handle;
  if (handle != null && typeof handle.getpeername === 'function' && !socket.connecting) {
    const out: { address?: string; port?: number } = {};
    if (handle.getpeername(out) === 0 && typeof out.address === 'string')
      return { address: intern(out.address), port: out.port };
  }
  const address = socket.remoteAddress;
  return { address: address === undefined ? undefined : intern(address), port: socket.remotePort };
}

/** Addresses seen lately; bounded, and emptied when full so it follows the addresses of the day. */
const addresses = new Map<string, string>();
const ADDRESSES_KEPT = 4096;

/**
 * One string per distinct address: many clients share few addresses (a NAT, a load balancer, loopback),
 * and each address read from a handle is a new string of some 32 bytes, kept for the connection's life.
 */
function intern(address: string): string {
  const known = addresses.get(address);
  if (known !== undefined) return known;
  if (addresses.size >= ADDRESSES_KEPT) addresses.clear();
  addresses.set(address, address);
  return address;
}
