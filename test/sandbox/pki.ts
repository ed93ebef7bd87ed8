// One local certificate authority for every HTTPS server of the sandbox (simulators, the
// vault proxy, lowkey-vault, kube-apiserver), so clients need a single NODE_EXTRA_CA_CERTS bundle.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CertPaths {
  cert: string;
  key: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Creates (once) the sandbox CA in `dir`; returns its certificate and key paths. */
export function ensureCa(dir: string): CertPaths {
  mkdirSync(dir, { recursive: true });
  const ca = { cert: join(dir, 'ca.pem'), key: join(dir, 'ca-key.pem') };
  if (existsSync(ca.cert) && existsSync(ca.key)) return ca;
  openssl(['genrsa', '-out', ca.key, '2048'], dir);
  openssl(['req', '-x509', '-new', '-key', ca.key, '-sha256', '-days', '3650', '-subj', '/CN=akv-aks sandbox CA', '-out', ca.cert], dir);
  return ca;
}

/**
 * Issues (once) a server certificate for `name` signed by the sandbox CA, valid for the given
 * DNS names and IPs (127.0.0.1 and localhost are always included).
 */
export function issueServerCert(dir: string, name: string, extraSans: string[] = []): CertPaths {
  const ca = ensureCa(dir);
  const out = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}-key.pem`) };
  if (existsSync(out.cert) && existsSync(out.key)) return out;
  const sans = ['DNS:localhost', 'IP:127.0.0.1', ...extraSans];
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, ['basicConstraints=CA:FALSE', 'keyUsage=digitalSignature,keyEncipherment', 'extendedKeyUsage=serverAuth,clientAuth', `subjectAltName=${[...new Set(sans)].join(',')}`].join('\n'));
  const csr = join(dir, `${name}.csr`);
  openssl(['genrsa', '-out', out.key, '2048'], dir);
  openssl(['req', '-new', '-key', out.key, '-subj', `/CN=${name}`, '-out', csr], dir);
  openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', '825', '-sha256', '-extfile', ext, '-out', out.cert], dir);
  return out;
}

/** A PKCS#12 key store for Java servers (lowkey-vault), password `changeit`. */
export function pkcs12(dir: string, name: string, paths: CertPaths): string {
  const p12 = join(dir, `${name}.p12`);
  if (!existsSync(p12)) {
    openssl(['pkcs12', '-export', '-in', paths.cert, '-inkey', paths.key, '-name', name, '-out', p12, '-passout', 'pass:changeit'], dir);
  }
  return p12;
}

/**
 * The CA bundle every sandbox client process gets as NODE_EXTRA_CA_CERTS: the sandbox CA plus
 * whatever extra CAs the machine already trusts that way (so registry access keeps working).
 * Node reads the variable only at start, so processes must be spawned with it.
 */
export function trustBundle(dir: string, inherited: string | undefined = process.env.NODE_EXTRA_CA_CERTS): string {
  const ca = ensureCa(dir);
  const bundle = join(dir, 'trust-bundle.pem');
  const parts = [readFileSync(ca.cert, 'utf8')];
  if (inherited && inherited !== bundle && existsSync(inherited)) parts.push(readFileSync(inherited, 'utf8'));
  const text = parts.map((p) => p.trimEnd() + '\n').join('');
  if (!existsSync(bundle) || readFileSync(bundle, 'utf8') !== text) writeFileSync(bundle, text);
  return bundle;
}
