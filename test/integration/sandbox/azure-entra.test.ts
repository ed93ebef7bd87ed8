// Conformance of the sandbox's GitHub OIDC issuer and Entra token endpoint, through
// @actions/core getIDToken and @azure/identity ClientAssertionCredential.
import { createPublicKey, randomUUID, verify } from 'node:crypto';
import { afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { control, recordMark, sandboxEnv } from '../../support/sandbox.ts';
import { addFault, configSnapshot, recordsSince, removeFaults, restoreConfig } from '../../sandbox/azure/test-hooks.ts';
import type { ConfigSnapshot } from '../../sandbox/azure/test-hooks.ts';
import { ARM_SCOPE, VAULT_SCOPE, armClients, federatedCredential, githubIdToken, jwtClaims, useRunnerEnv } from '../../sandbox/azure/sdk-clients.ts';

const env = sandboxEnv();
/** The sandbox's GitHub issuer, as the runner's tokens carry it (no trailing slash). */
const GITHUB_ISSUER = env.AKV_AKS_SANDBOX_GITHUB_ISSUER!;
const DEPLOYER_OID = '5b0c3c1e-2f6d-4c8a-9d1e-7a3f0b6e4d21';

async function loginError(clientId: string, getAssertion?: () => Promise<string>): Promise<string> {
  const cred = federatedCredential(env, clientId, getAssertion);
  try {
    await cred.getToken(ARM_SCOPE);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('login unexpectedly succeeded');
}

async function rawToken(clientId: string, assertion: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${env.AKV_AKS_AUTHORITY_HOST}/${env.AKV_AKS_SANDBOX_TENANT_ID}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: clientId,
      scope: ARM_SCOPE,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const run = randomUUID().slice(0, 6);
const n = (base: string): string => `${base}-${run}`;
let baseline: ConfigSnapshot;

beforeAll(async () => {
  useRunnerEnv(env);
  baseline = await configSnapshot();
});

afterEach(async () => {
  await restoreConfig(baseline);
  await removeFaults();
});

describe('GitHub OIDC issuer', () => {
  test('getIDToken returns a signed token with GitHub claims and a 5-minute lifetime', async () => {
    const token = await githubIdToken('api://AzureADTokenExchange');
    const c = jwtClaims(token);
    expect(c.iss).toBe(GITHUB_ISSUER);
    expect(c.aud).toBe('api://AzureADTokenExchange');
    expect(c.sub).toBe('repo:contoso/payments:ref:refs/heads/main');
    expect(c.repository).toBe('contoso/payments');
    expect(c.repository_owner).toBe('contoso');
    expect(c.ref).toBe('refs/heads/main');
    expect(c.event_name).toBe('push');
    expect(typeof c.job_workflow_ref).toBe('string');
    expect(Number(c.exp) - Number(c.iat)).toBe(300);

    const disco = (await (await fetch(`${GITHUB_ISSUER}/.well-known/openid-configuration`)).json()) as { issuer: string; jwks_uri: string };
    expect(disco.issuer).toBe(c.iss);
    const jwks = (await (await fetch(disco.jwks_uri)).json()) as { keys: Array<{ kid: string }> };
    const [h, p, s] = token.split('.') as [string, string, string];
    const kid = (JSON.parse(Buffer.from(h, 'base64url').toString()) as { kid: string }).kid;
    const jwk = jwks.keys.find((k) => k.kid === kid);
    expect(jwk).toBeDefined();
    const key = createPublicKey({ key: jwk as never, format: 'jwk' });
    expect(verify('RSA-SHA256', Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url'))).toBe(true);
  });

  test('subject formats follow the environment and the event; lifetime is configurable', async () => {
    await control('PATCH', '/config', { github: { environment: 'prod', lifetimeSeconds: 120 } });
    let c = jwtClaims(await githubIdToken());
    expect(c.sub).toBe('repo:contoso/payments:environment:prod');
    expect(c.environment).toBe('prod');
    expect(Number(c.exp) - Number(c.iat)).toBe(120);
    await control('PATCH', '/config', { github: { environment: null, event: 'pull_request', repository: 'fabrikam/web' } });
    c = jwtClaims(await githubIdToken());
    expect(c.sub).toBe('repo:fabrikam/web:pull_request');
    expect(c.repository_owner).toBe('fabrikam');
  });

  test('a 503 from the runner endpoint is retried by @actions/core', async () => {
    await addFault({ service: 'github', method: 'GET', pathPattern: '/idtoken', effect: { kind: 'status', status: 503 } });
    const since = await recordMark();
    expect(jwtClaims(await githubIdToken()).iss).toBe(GITHUB_ISSUER);
    expect((await recordsSince(since, 'github', /\/idtoken/)).map((r) => r.status)).toEqual([503, 200]);
  });

  test('the runner endpoint refuses a wrong request token', async () => {
    const res = await fetch(`${env.ACTIONS_ID_TOKEN_REQUEST_URL}&audience=x`, { headers: { authorization: 'Bearer nope' } });
    expect(res.status).toBe(401);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body.value).toBeUndefined();
  });
});

describe('Entra', () => {
  test('discovery document: issuer on the authority host, endpoints and keys', async () => {
    const base = `${env.AKV_AKS_AUTHORITY_HOST}/${env.AKV_AKS_SANDBOX_TENANT_ID}`;
    const d = (await (await fetch(`${base}/v2.0/.well-known/openid-configuration`)).json()) as Record<string, string>;
    expect(d.issuer).toBe(`${base}/v2.0`);
    expect(d.token_endpoint).toBe(`${base}/oauth2/v2.0/token`);
    expect(d.authorization_endpoint).toBe(`${base}/oauth2/v2.0/authorize`);
    const keys = (await (await fetch(d.jwks_uri!)).json()) as { keys: unknown[] };
    expect(keys.keys.length).toBeGreaterThan(0);
  });

  test('the deployer logs in with a GitHub token; access tokens carry oid/tid/appid/azp and the audience', async () => {
    const cred = federatedCredential(env);
    const arm = await cred.getToken(ARM_SCOPE);
    const a = jwtClaims(arm.token);
    expect(a.aud).toBe('https://management.azure.com/');
    expect(a.oid).toBe(DEPLOYER_OID);
    expect(a.tid).toBe(env.AKV_AKS_SANDBOX_TENANT_ID);
    expect(a.appid).toBe(env.AKV_AKS_SANDBOX_CLIENT_ID);
    expect(a.azp).toBe(env.AKV_AKS_SANDBOX_CLIENT_ID);
    expect(a.iss).toBe(`${env.AKV_AKS_AUTHORITY_HOST}/${env.AKV_AKS_SANDBOX_TENANT_ID}/v2.0`);
    expect(arm.expiresOnTimestamp).toBeGreaterThan(Date.now());
    const kv = await federatedCredential(env).getToken(VAULT_SCOPE);
    expect(jwtClaims(kv.token).aud).toBe('https://vault.azure.net');
  });

  test('the prod environment subject is federated too; a pull_request subject is refused with AADSTS700213', async () => {
    await control('PATCH', '/config', { github: { environment: 'prod' } });
    await expect(federatedCredential(env).getToken(ARM_SCOPE)).resolves.toBeTruthy();
    await control('PATCH', '/config', { github: { environment: null, event: 'pull_request' } });
    const msg = await loginError(env.AKV_AKS_SANDBOX_CLIENT_ID!);
    expect(msg).toContain('AADSTS700213');
    expect(msg).toContain("presented assertion subject 'repo:contoso/payments:pull_request'");
  });

  test('a subject differing only in case gives AADSTS7002138', async () => {
    await control('PATCH', '/config', { github: { repository: 'Contoso/payments' } });
    expect(await loginError(env.AKV_AKS_SANDBOX_CLIENT_ID!)).toContain('AADSTS7002138');
  });

  test('an unknown client gives AADSTS700016', async () => {
    const msg = await loginError('99999999-9999-9999-9999-999999999999');
    expect(msg).toContain('AADSTS700016');
    expect(msg).toContain("Application with identifier '99999999-9999-9999-9999-999999999999' was not found");
  });

  test('an expired assertion gives AADSTS700024', async () => {
    await control('PATCH', '/config', { github: { issuedAtOffsetSeconds: -900 } });
    expect(await loginError(env.AKV_AKS_SANDBOX_CLIENT_ID!)).toContain('AADSTS700024');
  });

  test('a trailing-slash issuer on a managed identity FIC gives AADSTS70021 naming issuer, subject and audience', async () => {
    const clients = armClients(env, federatedCredential(env));
    const mi = await clients.msi.userAssignedIdentities.createOrUpdate('rg-ids', n('id-entra-slash'), { location: 'eastus' });
    await clients.msi.federatedIdentityCredentials.createOrUpdate('rg-ids', n('id-entra-slash'), 'github-main', {
      issuer: `${GITHUB_ISSUER}/`,
      subject: 'repo:contoso/payments:ref:refs/heads/main',
      audiences: ['api://AzureADTokenExchange'],
    });
    const msg = await loginError(mi.clientId!);
    expect(msg).toContain('AADSTS70021');
    expect(msg).toContain(`Assertion Issuer: '${GITHUB_ISSUER}'`);
    expect(msg).toContain("Assertion Subject: 'repo:contoso/payments:ref:refs/heads/main'");
    expect(msg).toContain("Assertion Audience: 'api://AzureADTokenExchange'");

    // the exact issuer works, once the credential has propagated
    await control('PATCH', '/config', { ficPropagationMs: 1500 });
    await clients.msi.federatedIdentityCredentials.createOrUpdate('rg-ids', n('id-entra-slash'), 'github-main', {
      issuer: GITHUB_ISSUER,
      subject: 'repo:contoso/payments:ref:refs/heads/main',
      audiences: ['api://AzureADTokenExchange'],
    });
    expect(await loginError(mi.clientId!)).toContain('AADSTS70021');
    await new Promise((r) => setTimeout(r, 1600));
    const tok = await federatedCredential(env, mi.clientId!).getToken(VAULT_SCOPE);
    expect(jwtClaims(tok.token).oid).toBe(mi.principalId);
  });

  test('error bodies have Entra shape; a forged signature gives AADSTS700027', async () => {
    const token = await githubIdToken();
    const [h, p] = token.split('.') as [string, string];
    const forged = `${h}.${p}.${Buffer.from('not a signature').toString('base64url')}`;
    const { status, body } = await rawToken(env.AKV_AKS_SANDBOX_CLIENT_ID!, forged);
    expect(status).toBe(401);
    expect(body.error).toBe('invalid_client');
    expect(body.error_codes).toEqual([700027]);
    expect(String(body.error_description)).toMatch(/^AADSTS700027: .+ Trace ID: [0-9a-f-]{36} Correlation ID: [0-9a-f-]{36} Timestamp: \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/);
    expect(typeof body.timestamp).toBe('string');
    expect(typeof body.trace_id).toBe('string');
    expect(typeof body.correlation_id).toBe('string');
    const unknownResource = await fetch(`${env.AKV_AKS_AUTHORITY_HOST}/${env.AKV_AKS_SANDBOX_TENANT_ID}/oauth2/v2.0/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: env.AKV_AKS_SANDBOX_CLIENT_ID!,
        scope: `${env.AKV_AKS_ARM_ENDPOINT}/.default`,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: token,
      }),
    });
    expect(unknownResource.status).toBe(400);
    expect(((await unknownResource.json()) as { error_codes: number[] }).error_codes).toEqual([500011]);
  });

  test('injected faults apply to Entra (503 then success through the SDK retry)', async () => {
    await addFault({ service: 'entra', method: 'POST', pathPattern: '/oauth2/v2.0/token', effect: { kind: 'status', status: 503, retryAfterSeconds: 0 } });
    const since = await recordMark();
    await expect(federatedCredential(env).getToken(ARM_SCOPE)).resolves.toBeTruthy();
    expect((await recordsSince(since, 'entra', /\/oauth2\/v2\.0\/token/)).map((r) => r.status)).toEqual([503, 200]);
    const stats = await control<{ counts: Array<{ service: string; class: string; method: string; status: number; count: number }> }>('GET', '/stats');
    expect(stats.counts.find((c) => c.service === 'entra' && c.method === 'POST' && c.status === 503)?.count).toBeGreaterThanOrEqual(1);
  });
});
