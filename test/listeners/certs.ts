/** Self-signed test PKI made with the openssl CLI: a CA, a server certificate for 127.0.0.1, a client certificate. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestPki {
  readonly dir: string;
  readonly caPath: string;
  readonly ca: Buffer;
  readonly certPath: string;
  readonly cert: Buffer;
  readonly keyPath: string;
  readonly key: Buffer;
  readonly clientCertPath: string;
  readonly clientCert: Buffer;
  readonly clientKeyPath: string;
  readonly clientKey: Buffer;
  remove(): void;
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/**
 * Generate the PKI into a fresh temp directory (EC keys: fast). `caName`: the CA's common name (two PKIs
 * with different names: two CAs, neither trusting the other's certificates).
 */
export function makeTestPki(caName = 'starling-test-ca'): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'starling-pki-'));
  const at = (name: string): string => join(dir, name);
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'pipe', timeout: 20_000 });
  };
  openssl(
    'req',
    '-x509',
    ...EC_KEY,
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-subj',
    `/CN=${caName}`,
  );
  writeFileSync(at('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl('req', ...EC_KEY, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '2',
    '-extfile',
    'server.ext',
  );
  openssl('req', ...EC_KEY, '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=test-client');
  openssl(
    'x509',
    '-req',
    '-in',
    'client.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'client.crt',
    '-days',
    '2',
  );
  return {
    dir,
    caPath: at('ca.crt'),
    ca: readFileSync(at('ca.crt')),
    certPath: at('server.crt'),
    cert: readFileSync(at('server.crt')),
    keyPath: at('server.key'),
    key: readFileSync(at('server.key')),
    clientCertPath: at('client.crt'),
    clientCert: readFileSync(at('client.crt')),
    clientKeyPath: at('client.key'),
    clientKey: readFileSync(at('client.key')),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
