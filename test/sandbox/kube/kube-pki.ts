// Credentials of the local cluster, all from the one sandbox CA (test/sandbox/pki.ts): the API
// server's serving certificate, client certificates (CN = user, O = groups) and the
// service-account signing key pair.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureCa, issueServerCert, type CertPaths } from '../pki.ts';

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A client certificate for `user` in `groups`, signed by the sandbox CA (kept in `dir`). */
export function issueClientCert(pkiDir: string, dir: string, fileName: string, user: string, groups: string[]): CertPaths {
  const ca = ensureCa(pkiDir);
  mkdirSync(dir, { recursive: true });
  const out = { cert: join(dir, `${fileName}.pem`), key: join(dir, `${fileName}-key.pem`) };
  if (existsSync(out.cert) && existsSync(out.key)) return out;
  const subject = [...groups.map((g) => `/O=${g}`), `/CN=${user}`].join('');
  const ext = join(dir, `${fileName}.ext`);
  writeFileSync(ext, ['basicConstraints=CA:FALSE', 'keyUsage=digitalSignature,keyEncipherment', 'extendedKeyUsage=clientAuth'].join('\n'));
  const csr = join(dir, `${fileName}.csr`);
  openssl(['genrsa', '-out', out.key, '2048'], dir);
  openssl(['req', '-new', '-key', out.key, '-subj', subject, '-out', csr], dir);
  openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', '825', '-sha256', '-extfile', ext, '-out', out.cert], dir);
  return out;
}

/** RSA key pair that signs service-account tokens (private) and verifies them (public). */
export function serviceAccountKeys(dir: string): { privateKey: string; publicKey: string } {
  mkdirSync(dir, { recursive: true });
  const privateKey = join(dir, 'sa.key');
  const publicKey = join(dir, 'sa.pub');
  if (!existsSync(privateKey) || !existsSync(publicKey)) {
    openssl(['genrsa', '-out', privateKey, '2048'], dir);
    openssl(['rsa', '-in', privateKey, '-pubout', '-out', publicKey], dir);
  }
  return { privateKey, publicKey };
}

/** The API server's serving certificate (127.0.0.1 plus the in-cluster names of the kubernetes Service). */
export function apiserverServingCert(pkiDir: string): CertPaths {
  return issueServerCert(pkiDir, 'kube-apiserver', ['DNS:kubernetes', 'DNS:kubernetes.default', 'DNS:kubernetes.default.svc', 'DNS:kubernetes.default.svc.cluster.local', 'IP:10.0.0.1']);
}
