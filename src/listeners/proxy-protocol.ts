/**
 * PROXY protocol (HAProxy, versions 1 and 2): a load balancer writes one header before the client's
 * bytes telling the real source address. Only parsed on listeners that enable it, since anyone could
 * otherwise claim any address.
 */

/** The v2 header's fixed 12-byte signature. */
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** The v1 spec caps a header at 107 bytes, CRLF included. */
const V1_MAX_LENGTH = 107;
const V2_FIXED_LENGTH = 16;

/** The outcome of looking at the first bytes of a connection. */
export type ProxyHeaderResult =
  /** Not enough bytes yet. */
  | { readonly kind: 'incomplete' }
  /** A header that names the client; `length` bytes belong to it. */
  | {
      readonly kind: 'proxied';
      readonly length: number;
      readonly remoteAddress: string;
      readonly remotePort: number;
    }
  /** A valid header without a client address (v2 LOCAL, v1 UNKNOWN, or a non-IP family): keep the socket's own. */
  | { readonly kind: 'local'; readonly length: number }
  | { readonly kind: 'invalid'; readonly reason: string };

/** Parse a PROXY v1 or v2 header at the start of `data`. */
export function parseProxyHeader(data: Buffer): ProxyHeaderResult {
  if (startsWithPrefixOf(data, V2_SIGNATURE)) {
    return data.length < V2_SIGNATURE.length ? { kind: 'incomplete' } : parseV2(data);
  }
  if (startsWithPrefixOf(data, V1_PREFIX)) {
    return data.length < V1_PREFIX.length ? { kind: 'incomplete' } : parseV1(data);
  }
  return { kind: 'invalid', reason: 'no PROXY protocol header' };
}

/** True when `data` and `prefix` agree on their common length. */
function startsWithPrefixOf(data: Buffer, prefix: Buffer): boolean {
  const n = Math.min(data.length, prefix.length);
  return data.subarray(0, n).equals(prefix.subarray(0, n));
}

function parseV1(data: Buffer): ProxyHeaderResult {
  const end = data.indexOf('\r\n', 0, 'latin1');
  if (end < 0) {
    return data.length >= V1_MAX_LENGTH
      ? { kind: 'invalid', reason: 'v1 header too long' }
      : { kind: 'incomplete' };
  }
  const length = end + 2;
  if (length > V1_MAX_LENGTH) return { kind: 'invalid', reason: 'v1 header too long' };
  const fields = data.toString('latin1', 0, end).split(' ');
  if (fields[1] === 'UNKNOWN') return { kind: 'local', length };
  if (fields.length !== 6 || (fields[1] !== 'TCP4' && fields[1] !== 'TCP6')) {
    return { kind: 'invalid', reason: 'malformed v1 header' };
  }
  const source = fields[2] as string;
  const port = Number(fields[4]);
  if (!/^\d{1,5}$/.test(fields[4] as string) || port > 65_535)
    return { kind: 'invalid', reason: 'bad v1 source port' };
  const validAddress =
    fields[1] === 'TCP4' ? /^\d{1,3}(\.\d{1,3}){3}$/.test(source) : /^[0-9a-fA-F:.]+$/.test(source);
  if (!validAddress) return { kind: 'invalid', reason: 'bad v1 source address' };
  return { kind: 'proxied', length, remoteAddress: source, remotePort: port };
}

function parseV2(data: Buffer): ProxyHeaderResult {
  if (data.length < V2_FIXED_LENGTH) return { kind: 'incomplete' };
  const versionCommand = data[12] as number;
  if (versionCommand >> 4 !== 2) return { kind: 'invalid', reason: 'unsupported v2 version' };
  const command = versionCommand & 0x0f;
  const family = (data[13] as number) >> 4;
  const length = V2_FIXED_LENGTH + data.readUInt16BE(14);
  if (data.length < length) return { kind: 'incomplete' };
  if (command === 0) return { kind: 'local', length };
  if (command !== 1) return { kind: 'invalid', reason: 'unknown v2 command' };
  const body = data.subarray(V2_FIXED_LENGTH, length);
  if (family === 1) {
    // AF_INET: source address (4), destination address (4), source port (2), destination port (2).
    if (body.length < 12) return { kind: 'invalid', reason: 'short v2 IPv4 block' };
    const remoteAddress = [...body.subarray(0, 4)].join('.');
    return { kind: 'proxied', length, remoteAddress, remotePort: body.readUInt16BE(8) };
  }
  if (family === 2) {
    // AF_INET6: source (16), destination (16), source port (2), destination port (2).
    if (body.length < 36) return { kind: 'invalid', reason: 'short v2 IPv6 block' };
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(body.readUInt16BE(i).toString(16));
    return { kind: 'proxied', length, remoteAddress: groups.join(':'), remotePort: body.readUInt16BE(32) };
  }
  return { kind: 'local', length };
}
