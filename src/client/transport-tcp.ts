/** Plain TCP transport (`mqtt://`, `tcp://`). */
import { connect } from 'node:net';
import type { Endpoint } from './options.js';
import { type Transport, whenOpen } from './transport.js';

/** Connects a TCP socket with Nagle disabled: MQTT packets are small and latency matters more. */
export function connectTcp(endpoint: Endpoint, signal: AbortSignal): Promise<Transport> {
  const socket = connect({ host: endpoint.host, port: endpoint.port, noDelay: true });
  return whenOpen(socket, 'connect', signal);
}
