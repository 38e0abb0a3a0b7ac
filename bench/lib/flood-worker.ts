/**
 * One process of the connection flood (a process holds at most 20 000 descriptors here, so a flood of
 * 20 000 needs several). Config as JSON in argv[2]. On `{cmd:'go'}` it opens `count` TCP connections as
 * fast as it can from its own source address; every second one sends a CONNECT and holds the connection,
 * the others send nothing and wait for the broker to close them. `{cmd:'report'}` answers with counts and
 * the time each silent connection stayed open; `{cmd:'close'}` drops everything and exits.
 */
import net from 'node:net';

export interface FloodWorkerConfig {
  readonly port: number;
  readonly count: number;
  /** Source address of this process's connections (127.0.0.2, ...), so ephemeral ports do not run out. */
  readonly localAddress: string;
  /** Prefix of the client ids of the connecting half. */
  readonly idPrefix: string;
  /** Connection attempts per second from this process; 0 opens them as fast as the loop allows. */
  readonly attemptRate: number;
}

export interface FloodWorkerReport {
  readonly type: 'report';
  readonly attempted: number;
  readonly tcpConnected: number;
  /** CONNECT sent and CONNACK 0 received. */
  readonly connackOk: number;
  /** CONNACK with a refusal code. */
  readonly connackRefused: number;
  /** Connecting half: closed or reset by the broker before a CONNACK. */
  readonly lostBeforeConnack: number;
  /** Connecting half: closed by the broker after a successful CONNACK (should be 0). */
  readonly droppedAfterConnack: number;
  readonly silentConnected: number;
  /**
   * For each silent connection the broker closed: milliseconds from the `connect()` call to the close. The
   * broker accepted the connection after the call, so this is an upper bound of how long it kept it, and it
   * can never be below the connect timeout if the broker waited the whole timeout.
   */
  readonly silentClosedAfterMs: readonly number[];
  /** The same from the `connect` event, which a busy generator sees late: a lower bound. */
  readonly silentClosedAfterConnectEventMs: readonly number[];
  readonly silentStillOpen: number;
  /** Milliseconds from the first connect call to the last connection established. */
  readonly burstMs: number;
  /** Connection errors by code (ECONNRESET, ETIMEDOUT, EADDRNOTAVAIL, ...). */
  readonly errors: Readonly<Record<string, number>>;
}

const config = JSON.parse(process.argv[2] ?? '{}') as FloodWorkerConfig;
const sockets: net.Socket[] = [];
const errors: Record<string, number> = {};
let tcpConnected = 0;
let connackOk = 0;
let connackRefused = 0;
let lostBeforeConnack = 0;
let droppedAfterConnack = 0;
let silentConnected = 0;
let silentOpen = 0;
const silentClosedAfterMs: number[] = [];
const silentClosedAfterConnectEventMs: number[] = [];
let burstStart = 0;
let lastConnected = 0;
let closing = false;

function connectPacket(clientId: string): Buffer {
  const id = Buffer.from(clientId);
  // CONNECT 3.1.1: "MQTT", level 4, clean session, keep alive 0, client id.
  const body = Buffer.concat([Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, 0, 0, 0, id.length]), id]);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]);
}

function open(i: number): void {
  const silent = i % 2 === 1;
  const socket = net.connect({ host: '127.0.0.1', port: config.port, localAddress: config.localAddress });
  sockets.push(socket);
  const calledAt = performance.now();
  let connectedAt = 0;
  let acked = false;
  socket.on('error', (err: NodeJS.ErrnoException) => {
    const code = err.code ?? 'unknown';
    if (connectedAt === 0) errors[code] = (errors[code] ?? 0) + 1;
  });
  socket.once('connect', () => {
    connectedAt = performance.now();
    lastConnected = connectedAt;
    tcpConnected++;
    if (silent) {
      silentConnected++;
      silentOpen++;
    } else {
      socket.write(connectPacket(`${config.idPrefix}-${i}`));
    }
  });
  if (!silent) {
    let received = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      if (acked) return;
      received = Buffer.concat([received, chunk]);
      if (received.length < 4) return;
      acked = true;
      if (received[0] === 0x20 && received[3] === 0) connackOk++;
      else connackRefused++;
    });
  }
  socket.once('close', () => {
    if (closing || connectedAt === 0) return;
    if (silent) {
      silentOpen--;
      const now = performance.now();
      silentClosedAfterMs.push(now - calledAt);
      silentClosedAfterConnectEventMs.push(now - connectedAt);
    } else if (acked) {
      droppedAfterConnack++;
    } else {
      lostBeforeConnack++;
    }
  });
}

async function burst(): Promise<void> {
  burstStart = performance.now();
  // In slices, so the loop can take in connects and answers while the burst goes on.
  const slice = config.attemptRate > 0 ? Math.max(1, Math.round(config.attemptRate / 100)) : 250;
  for (let i = 0; i < config.count; i += slice) {
    for (let k = i; k < Math.min(config.count, i + slice); k++) open(k);
    if (config.attemptRate > 0) {
      const due = burstStart + ((i + slice) / config.attemptRate) * 1000;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now())));
    } else {
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}

function report(): FloodWorkerReport {
  return {
    type: 'report',
    attempted: sockets.length,
    tcpConnected,
    connackOk,
    connackRefused,
    lostBeforeConnack,
    droppedAfterConnack,
    silentConnected,
    silentClosedAfterMs,
    silentClosedAfterConnectEventMs,
    silentStillOpen: silentOpen,
    burstMs: lastConnected === 0 ? 0 : lastConnected - burstStart,
    errors: { ...errors },
  };
}

process.on('message', (message: { cmd: string }) => {
  if (message.cmd === 'go') void burst();
  else if (message.cmd === 'report') process.send?.(report());
  else if (message.cmd === 'close') {
    closing = true;
    for (const socket of sockets) socket.destroy();
    setTimeout(() => process.exit(0), 100);
  }
});
process.on('disconnect', () => process.exit(0));
process.send?.({ type: 'ready' });
