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
      return { address: out.address, port: out.port };
  }
  return { address: socket.remoteAddress, port: socket.remotePort };
}
