/** Throwaway certificates for TLS tests, made with Debian's openssl in a temporary folder. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestPki {
  dir: string;
  caFile: string;
  ca: Buffer;
  serverKey: Buffer;
  serverCert: Buffer;
  clientKeyFile: string;
  clientCertFile: string;
  clientKey: Buffer;
  clientCert: Buffer;
}

export function makeTestPki(clientCN = 'device-42'): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'omap-pki-'));
  const f = (name: string) => join(dir, name);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  ssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.crt'),
    '-subj',
    '/CN=OMAP Test CA',
    '-days',
    '1',
  );
  writeFileSync(f('server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  ssl('req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=localhost');
  ssl(
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.crt'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-out',
    f('server.crt'),
    '-days',
    '1',
    '-extfile',
    f('server.ext'),
  );
  ssl('req', ...ec, '-keyout', f('client.key'), '-out', f('client.csr'), '-subj', `/CN=${clientCN}`);
  ssl(
    'x509',
    '-req',
    '-in',
    f('client.csr'),
    '-CA',
    f('ca.crt'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-out',
    f('client.crt'),
    '-days',
    '1',
  );
  return {
    dir,
    caFile: f('ca.crt'),
    ca: readFileSync(f('ca.crt')),
    serverKey: readFileSync(f('server.key')),
    serverCert: readFileSync(f('server.crt')),
    clientKeyFile: f('client.key'),
    clientCertFile: f('client.crt'),
    clientKey: readFileSync(f('client.key')),
    clientCert: readFileSync(f('client.crt')),
  };
}
