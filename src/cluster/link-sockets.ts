import { X509Certificate } from 'node:crypto';
import { type Server, type Socket, connect as tcpConnect, createServer as tcpServer } from 'node:net';
import { createSecureContext, connect as tlsConnect, createServer as tlsServer } from 'node:tls';

/**
 * Mutual TLS on the nodes' direct links (`cluster.linkTls`, PEM): every node presents `cert` (with `key`)
 * both as the server of its link and as the client of its links to the others, and accepts only a peer
 * whose certificate `ca` signed.
 */
export interface LinkTls {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  readonly ca: string | Buffer;
}

/**
 * How a node's link sockets are made: the one thing that differs between plain and TLS links. What
 * flows on them afterwards (frames, the handshake of `link-wire.ts`, backpressure, closing) is the same
 * code in `NodeLinks`.
 */
export interface LinkSockets {
  /** Whether the links are TLS. */
  readonly tls: boolean;
  /**
   * A server that hands each connection to `accept` once it may carry frames: at once (plain), or after
   * a TLS handshake in which the peer presented a certificate signed by the CA (TLS).
   */
  server(accept: (socket: Socket) => void): Server;
  /** A connection to a node's link. */
  connect(host: string, port: number): Socket;
}

/** A TLS handshake not done in this long is given up (as a link not welcomed in time, `node-links.ts`). */
const TLS_HANDSHAKE_MS = 5000;

const plain: LinkSockets = {
  tls: false,
  server: (accept) => tcpServer(accept),
  connect: (host, port) => tcpConnect({ host, port }),
};

/**
 * The sockets of links without TLS, or with it. With TLS, the certificate, key and CA are checked here,
 * once (a key that does not match its certificate, a file that is not PEM: thrown).
 */
export function linkSockets(tls?: LinkTls): LinkSockets {
  if (tls === undefined) return plain;
  // A CA that is not a certificate would be taken without a word, and then trust no one.
  try {
    new X509Certificate(tls.ca);
  } catch (err) {
    throw new Error(`the CA is not a PEM certificate (${(err as Error).message})`);
  }
  const credentials = { cert: tls.cert, key: tls.key, ca: tls.ca, minVersion: 'TLSv1.2' } as const;
  // Made once for the connections (a server makes its own from the same options).
  const secureContext = createSecureContext(credentials);
  return {
    tls: true,
    server: (accept) =>
      tlsServer(
        {
          ...credentials,
          // Mutual TLS: a peer without a certificate signed by the CA never reaches `accept`.
          requestCert: true,
          rejectUnauthorized: true,
          handshakeTimeout: TLS_HANDSHAKE_MS,
        },
        accept,
      ),
    connect: (host, port) =>
      tlsConnect({
        host,
        port,
        secureContext,
        // The chain is verified against the CA (rejectUnauthorized), the host name is not: links are
        // addressed by IP, as the registry has them, and which node answers is proved by the handshake on
        // top (`link-wire.ts`: the listener proves the cluster secret for the node id meant), not by the
        // certificate's names. A certificate of the CA gets a peer through TLS; frames still need the secret.
        checkServerIdentity: () => undefined,
        rejectUnauthorized: true,
      }),
  };
}

/**
 * Why a connection made to a node's link was not welcomed, for the log: `failure` (a socket error, or what
 * happened) and what may be at fault. `heard`: something came back on it.
 */
export function linkFailure(failure: Error | string, heard: boolean, tls: boolean): string {
  // TLS errors carry a code (`ERR_SSL_...`, `SELF_SIGNED_CERT_IN_CHAIN`) and OpenSSL's short reason.
  const error = failure as Error & { code?: string; reason?: string };
  const what =
    typeof failure === 'string' ? failure : `${error.code ?? 'error'}: ${error.reason ?? error.message}`;
  // A TLS error: a TLS link against a plain one, or a certificate of another CA. Silence: a hung node, a TLS
  // listener that refused this node's certificate (it closes without a word), or a plain connection to a
  // TLS listener (which waits for a TLS hello that never comes).
  if (/SSL|TLS|CERT|UNABLE_TO/.test(what))
    return `${what}: both nodes need cluster.linkTls, with certificates signed by one CA`;
  if (heard) return what;
  return tls
    ? `${what}: not a word from it over TLS (a hung node, or one whose CA did not sign this node's certificate)`
    : `${what}: not a word from it (a hung node, or one whose link is TLS, cluster.linkTls, and this one plain)`;
}
