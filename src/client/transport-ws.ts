/**
 * WebSocket transport (`ws://`, `wss://`): MQTT over binary WebSocket frames with the `mqtt` subprotocol
 * (spec section 6). Writes of one corked span go out as one frame: frames need not align with packets.
 */
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import { MqttError } from '../packets/errors.js';
import type { Endpoint } from './options.js';
import type { TlsOptions, Transport } from './transport.js';

/** Above this many buffered bytes `write()` asks the caller to wait for 'drain' (the net.Socket default). */
const HIGH_WATER_MARK = 16 * 1024;

function toBuffer(data: WebSocket.RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** Adapts a `ws` client socket to the `Transport` byte stream. */
class WebSocketTransport extends EventEmitter implements Transport {
  private corks = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private needDrain = false;
  private readonly afterSend = (): void => {
    if (this.needDrain && this.writableLength < HIGH_WATER_MARK) {
      this.needDrain = false;
      this.emit('drain');
    }
  };

  constructor(private readonly ws: WebSocket) {
    super();
    ws.on('message', (data, isBinary) => {
      if (!isBinary) {
        // [MQTT-6.0.0-1] A text frame is not MQTT: close the connection.
        this.emit('error', MqttError.malformed('WebSocket text frame received'));
        ws.terminate();
        return;
      }
      this.emit('data', toBuffer(data));
    });
    ws.on('close', () => this.emit('close'));
    ws.on('error', (error) => this.emit('error', error));
  }

  get writableLength(): number {
    return this.ws.bufferedAmount + this.pendingBytes;
  }

  write(chunk: Buffer): boolean {
    if (this.ws.readyState !== WebSocket.OPEN) return false;
    if (this.corks > 0) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
    } else {
      this.ws.send(chunk, { binary: true }, this.afterSend);
    }
    if (this.writableLength < HIGH_WATER_MARK) return true;
    this.needDrain = true;
    return false;
  }

  cork(): void {
    this.corks++;
  }

  uncork(): void {
    if (this.corks === 0) return;
    this.corks--;
    if (this.corks === 0) this.flush();
  }

  end(): void {
    this.corks = 0;
    this.flush();
    this.ws.close(1000);
  }

  destroy(): void {
    this.pending = [];
    this.pendingBytes = 0;
    this.ws.terminate();
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    const frame =
      this.pending.length === 1
        ? (this.pending[0] as Buffer)
        : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(frame, { binary: true }, this.afterSend);
  }
}

/** Opens a WebSocket with subprotocol `mqtt` [MQTT-6.0.0-3]; resolves once it is open. */
export function connectWebSocket(
  endpoint: Endpoint,
  tls: TlsOptions,
  signal: AbortSignal,
): Promise<Transport> {
  return new Promise<Transport>((resolve, reject) => {
    // `ws` hands these options to tls.connect, servername included, though its typings omit it.
    const options: WebSocket.ClientOptions & { servername?: string } = {
      perMessageDeflate: false,
      ca: tls.ca,
      cert: tls.cert,
      key: tls.key,
      rejectUnauthorized: tls.rejectUnauthorized ?? true,
    };
    if (tls.servername !== undefined) options.servername = tls.servername;
    const ws = new WebSocket(endpoint.href, 'mqtt', options);
    const onAbort = (): void => fail(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    const fail = (error: Error): void => {
      cleanup();
      ws.terminate();
      reject(error);
    };
    const onOpen = (): void => {
      cleanup();
      resolve(new WebSocketTransport(ws));
    };
    const cleanup = (): void => {
      ws.off('error', fail);
      ws.off('open', onOpen);
      signal.removeEventListener('abort', onAbort);
    };
    if (signal.aborted) return onAbort();
    ws.once('error', fail);
    ws.once('open', onOpen);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
