// A stand-in Kubernetes service-account issuer for the proof tests while no cluster is around: HTTPS
// on loopback (certificate from the sandbox CA, so the Entra simulator trusts it), serving the OIDC
// discovery document and JWKS the way kube-apiserver does, and minting RS256 service-account tokens.
import { createSign, generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { issueServerCert } from '../../sandbox/pki.ts';

export interface TestIssuer {
  /** `https://127.0.0.1:<port>` (no trailing slash), the `iss` of every token. */
  url: string;
  /** A service-account token as TokenRequest returns it (audience api://AzureADTokenExchange). */
  token(namespace: string, serviceAccount: string, opts?: { audience?: string; issuer?: string }): string;
  close(): Promise<void>;
}

const b64 = (v: object | Buffer): string => (Buffer.isBuffer(v) ? v : Buffer.from(JSON.stringify(v))).toString('base64url');

export async function startTestIssuer(): Promise<TestIssuer> {
  const pkiDir = join(resolve(import.meta.dirname, '..', '..', '..'), '.sandbox', 'pki');
  const cert = issueServerCert(pkiDir, 'test-sa-issuer');
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomBytes(8).toString('hex');
  const jwk = { ...(publicKey.export({ format: 'jwk' }) as Record<string, unknown>), kid, use: 'sig', alg: 'RS256' };
  let url = '';
  const server = createServer({ cert: readFileSync(cert.cert), key: readFileSync(cert.key) }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    let body: unknown;
    if (path === '/.well-known/openid-configuration') {
      body = { issuer: url, jwks_uri: `${url}/openid/v1/jwks`, response_types_supported: ['id_token'], subject_types_supported: ['public'], id_token_signing_alg_values_supported: ['RS256'] };
    } else if (path === '/openid/v1/jwks') body = { keys: [jwk] };
    if (body === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    token(namespace, serviceAccount, opts = {}) {
      const now = Math.floor(Date.now() / 1000);
      const header = b64({ alg: 'RS256', kid, typ: 'JWT' });
      const payload = b64({
        aud: [opts.audience ?? 'api://AzureADTokenExchange'],
        iss: opts.issuer ?? url,
        sub: `system:serviceaccount:${namespace}:${serviceAccount}`,
        iat: now,
        nbf: now,
        exp: now + 600,
        'kubernetes.io': { namespace, serviceaccount: { name: serviceAccount, uid: randomBytes(8).toString('hex') } },
      });
      const sig = createSign('RSA-SHA256').update(`${header}.${payload}`).sign(privateKey);
      return `${header}.${payload}.${b64(sig)}`;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
