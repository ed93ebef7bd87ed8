// Entra fetches an external issuer's keys over HTTPS from its discovery document (as it will for
// the kube-apiserver's service-account issuer): cached, refetched on an unknown kid; an
// unreachable issuer gives AADSTS50166; a key the issuer no longer publishes gives AADSTS700027.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { issueServerCert } from '../../sandbox/pki.ts';
import { newSigningKey, signJwt } from '../../sandbox/azure/jwt.ts';
import type { SigningKey } from '../../sandbox/azure/jwt.ts';
import { ARM_SCOPE, VAULT_SCOPE, armClients, federatedCredential, jwtClaims, useRunnerEnv } from '../../sandbox/azure/sdk-clients.ts';
import { sandboxEnv } from '../../support/sandbox.ts';

const env = sandboxEnv();
const pkiDir = join(resolve(import.meta.dirname, '..', '..', '..'), '.sandbox', 'pki');
const SUBJECT = 'system:serviceaccount:payments:api';

let server: Server;
let issuer = '';
let published: SigningKey[] = [];
let hits = { discovery: 0, jwks: 0 };

function assertion(key: SigningKey, iss = issuer): () => Promise<string> {
  return async () => {
    const now = Math.floor(Date.now() / 1000);
    return signJwt(key, { iss, sub: SUBJECT, aud: ['api://AzureADTokenExchange'], iat: now, nbf: now, exp: now + 600 });
  };
}

async function loginError(clientId: string, getAssertion: () => Promise<string>): Promise<string> {
  try {
    await federatedCredential(env, clientId, getAssertion).getToken(VAULT_SCOPE);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('login unexpectedly succeeded');
}

async function identityFor(name: string, iss: string): Promise<string> {
  const c = armClients(env, federatedCredential(env));
  const mi = await c.msi.userAssignedIdentities.createOrUpdate('rg-ids', name, { location: 'eastus' });
  await c.msi.federatedIdentityCredentials.createOrUpdate('rg-ids', name, 'kube', { issuer: iss, subject: SUBJECT, audiences: ['api://AzureADTokenExchange'] });
  return mi.clientId!;
}

const run = randomUUID().slice(0, 6);
const n = (base: string): string => `${base}-${run}`;

beforeAll(async () => {
  useRunnerEnv(env);
  const cert = issueServerCert(pkiDir, 'test-issuer');
  server = createServer({ cert: readFileSync(cert.cert), key: readFileSync(cert.key) }, (req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/.well-known/openid-configuration') {
      hits.discovery++;
      res.end(
        JSON.stringify({ issuer, jwks_uri: `${issuer}/openid/v1/jwks`, response_types_supported: ['id_token'], subject_types_supported: ['public'], id_token_signing_alg_values_supported: ['RS256'] }),
      );
    } else if (req.url === '/openid/v1/jwks') {
      hits.jwks++;
      res.end(JSON.stringify({ keys: published.map((k) => k.jwk) }));
    } else {
      res.statusCode = 404;
      res.end('{}');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  issuer = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
});

describe('external issuer keys', () => {
  test('fetched once and cached, refetched for a rotated key, a withdrawn key fails the signature check', async () => {
    const k1 = newSigningKey();
    const k2 = newSigningKey();
    published = [k1];
    hits = { discovery: 0, jwks: 0 };
    const clientId = await identityFor(n('id-kube-issuer'), issuer);

    const t1 = await federatedCredential(env, clientId, assertion(k1)).getToken(ARM_SCOPE);
    expect(jwtClaims(t1.token).appid).toBe(clientId);
    expect(hits.jwks).toBe(1);
    await federatedCredential(env, clientId, assertion(k1)).getToken(VAULT_SCOPE);
    expect(hits.jwks).toBe(1); // cached

    published = [k2];
    await federatedCredential(env, clientId, assertion(k2)).getToken(VAULT_SCOPE);
    expect(hits.jwks).toBe(2); // unknown kid: refetched

    const msg = await loginError(clientId, assertion(k1));
    expect(msg).toContain('AADSTS700027');
    expect(hits.jwks).toBe(3);
  });

  test('an issuer that cannot be reached gives AADSTS50166', async () => {
    const dead = 'https://127.0.0.1:9'; // discard port: nothing listens
    const clientId = await identityFor(n('id-dead-issuer'), dead);
    const msg = await loginError(clientId, assertion(newSigningKey(), dead));
    expect(msg).toContain('AADSTS50166');
  });
});
