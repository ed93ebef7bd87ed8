// The surface clients other than the action's need (the Azure CLI, the Python SDKs): anonymous
// cloud metadata, the Subscriptions API, Entra tenant aliases, every published api-version with
// its shape, the generic resources list, vault PUT/PATCH, managedHSMs, FIC $top, and
// access-policy `list` checks.
import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, test } from '@jest/globals';
import { control, sandboxEnv } from '../../support/sandbox.ts';
import { ARM_SCOPE, VAULT_SCOPE, federatedCredential, useRunnerEnv } from '../../sandbox/azure/sdk-clients.ts';
import { SEED } from '../../sandbox/azure/world.ts';
import { KEYVAULT_VERSIONS, MSI_IDENTITY_VERSIONS, ROLE_DEFINITION_VERSIONS } from '../../sandbox/azure/arm/api-versions.ts';

const env = sandboxEnv();
const SUB = env.AKV_AKS_SANDBOX_SUBSCRIPTION_ID!;
const TENANT = env.AKV_AKS_SANDBOX_TENANT_ID!;
const ARM = env.AKV_AKS_ARM_ENDPOINT!;
const LOGIN = env.AKV_AKS_AUTHORITY_HOST!;
const RG_IDS = `/subscriptions/${SUB}/resourceGroups/rg-ids`;
const KV_RG = `/subscriptions/${SUB}/resourceGroups/rg-sandbox/providers/Microsoft.KeyVault/vaults`;
const SECRETS_USER = `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/4633458b-17de-408a-b874-0445c86b69e6`;

let token = '';

interface Answer {
  status: number;
  body: Record<string, unknown> & { value?: Array<Record<string, unknown>>; error?: { code: string; message: string } };
}

async function http(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Answer['body']) : {} };
}

function arm(method: string, path: string, body?: unknown, bearer = token): Promise<Answer> {
  return http(`${ARM}${path}`, {
    method,
    headers: { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

beforeAll(async () => {
  useRunnerEnv(env);
  token = (await federatedCredential(env).getToken(ARM_SCOPE)).token;
});

describe('login surface (az login)', () => {
  test('GET /metadata/endpoints answers without auth, pointing at the sandbox', async () => {
    const clouds = await http(`${ARM}/metadata/endpoints?api-version=2022-09-01`);
    expect(clouds.status).toBe(200);
    const cloud = clouds.body as unknown as { resourceManager: string; authentication: { loginEndpoint: string; audiences: string[] } };
    expect(cloud.resourceManager).toBe(`${ARM}/`);
    expect(cloud.authentication.loginEndpoint).toBe(LOGIN);
    expect(cloud.authentication.audiences).toContain('https://management.azure.com/');
    const list = await http(`${ARM}//metadata/endpoints?api-version=2019-05-01`);
    expect((list.body as unknown as Array<{ resourceManager: string }>).map((c) => c.resourceManager)).toEqual([`${ARM}/`]);
    const legacy = await http(`${ARM}/metadata/endpoints?api-version=2015-01-01`);
    expect(legacy.body.authentication).toEqual({ loginEndpoint: `${LOGIN}/`, audiences: expect.arrayContaining(['https://management.core.windows.net/']) });
    expect((await http(`${ARM}/metadata/endpoints?api-version=1999-01-01`)).body.error?.code).toBe('InvalidApiVersionParameter');
  });

  test('Subscriptions API: list, get, tenants', async () => {
    const list = await arm('GET', '/subscriptions?api-version=2022-12-01');
    expect(list.status).toBe(200);
    expect(list.body.value).toEqual([expect.objectContaining({ subscriptionId: SUB, tenantId: TENANT, state: 'Enabled', id: `/subscriptions/${SUB}` })]);
    const one = await arm('GET', `/subscriptions/${SUB}?api-version=2022-12-01`);
    expect(one.body).toEqual(expect.objectContaining({ subscriptionId: SUB, displayName: expect.any(String) }));
    const tenants = await arm('GET', '/tenants?api-version=2022-12-01');
    expect(tenants.body.value).toEqual([expect.objectContaining({ tenantId: TENANT, id: `/tenants/${TENANT}` })]);
    const old = await arm('GET', '/tenants?api-version=2016-06-01');
    expect(old.body.value).toEqual([{ id: `/tenants/${TENANT}`, tenantId: TENANT }]);
    const bad = await arm('GET', '/subscriptions?api-version=2099-01-01');
    expect(bad.status).toBe(400);
    expect(bad.body.error?.code).toBe('InvalidApiVersionParameter');
    expect(bad.body.error?.message).toContain("The api-version '2099-01-01' is invalid. The supported versions are '2022-12-01,");
  });

  test.each(['common', 'organizations'])('Entra tenant alias %s: metadata and token endpoint', async (alias) => {
    const doc = await http(`${LOGIN}/${alias}/v2.0/.well-known/openid-configuration`);
    expect(doc.status).toBe(200);
    expect(doc.body.issuer).toBe(`${LOGIN}/{tenantid}/v2.0`);
    expect(doc.body.token_endpoint).toBe(`${LOGIN}/${alias}/oauth2/v2.0/token`);
    const { value: assertion } = await control<{ value: string }>('POST', '/github/token', { audience: 'api://AzureADTokenExchange' });
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: env.AKV_AKS_SANDBOX_CLIENT_ID!,
      scope: ARM_SCOPE,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    });
    const tok = await http(`${LOGIN}/${alias}/oauth2/v2.0/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() });
    expect({ status: tok.status, error: tok.body.error }).toEqual({ status: 200, error: undefined });
    const claims = JSON.parse(Buffer.from(String(tok.body.access_token).split('.')[1]!, 'base64url').toString('utf8')) as { tid: string };
    expect(claims.tid).toBe(TENANT);
  });

  test("the cloud's own Graph resolves principals (directoryObjects/getByIds), with a token for it", async () => {
    const cloud = (await http(`${ARM}/metadata/endpoints?api-version=2022-09-01`)).body as { microsoftGraphResourceId?: string };
    expect(cloud.microsoftGraphResourceId).toBe(`${LOGIN}/graph/`);
    const graphToken = (await federatedCredential(env).getToken(`${LOGIN}/graph/.default`)).token;
    const r = await http(`${LOGIN}/graph/v1.0/directoryObjects/getByIds`, {
      method: 'POST',
      headers: { authorization: `Bearer ${graphToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ids: [SEED.deployer.objectId], types: ['servicePrincipal'] }),
    });
    expect(r.body.value).toEqual([expect.objectContaining({ id: SEED.deployer.objectId, appId: SEED.deployer.clientId, '@odata.type': '#microsoft.graph.servicePrincipal' })]);
    expect((await http(`${LOGIN}/graph/v1.0/directoryObjects/getByIds`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
  });

  test('MSAL instance discovery answers for the sandbox host', async () => {
    const r = await http(`${LOGIN}/common/discovery/instance?api-version=1.1&authorization_endpoint=${encodeURIComponent(`${LOGIN}/${TENANT}/oauth2/v2.0/authorize`)}`);
    expect(r.body.tenant_discovery_endpoint).toBe(`${LOGIN}/${TENANT}/v2.0/.well-known/openid-configuration`);
  });

  test.each(['bearer', 'BEARER', 'Bearer'])('the runner ID-token endpoint accepts the %s scheme', async (scheme) => {
    const url = new URL(env.ACTIONS_ID_TOKEN_REQUEST_URL!);
    url.searchParams.set('audience', 'api://AzureADTokenExchange');
    const r = await http(url.toString(), { headers: { authorization: `${scheme} ${env.ACTIONS_ID_TOKEN_REQUEST_TOKEN}` } });
    expect(r.status).toBe(200);
    expect(typeof r.body.value).toBe('string');
  });
});

describe('api-versions', () => {
  test.each([...MSI_IDENTITY_VERSIONS])('userAssignedIdentities %s', async (v) => {
    const r = await arm('GET', `${RG_IDS}/providers/Microsoft.ManagedIdentity/userAssignedIdentities?api-version=${v}`);
    expect(r.status).toBe(200);
  });

  test('FICs exist from 2022-01-31-preview on; 2018-11-30 does not know them', async () => {
    const name = `id-ver-${randomUUID().slice(0, 8)}`;
    const id = await arm('PUT', `${RG_IDS}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}?api-version=2025-05-31-preview`, { location: 'westeurope' });
    expect(id.status).toBe(201);
    expect((id.body.properties as Record<string, unknown>).isolationScope).toBe('None');
    const old = await arm('GET', `${RG_IDS}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}?api-version=2023-01-31`);
    expect(old.body.properties).not.toHaveProperty('isolationScope');
    const fics = await arm('GET', `${RG_IDS}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}/federatedIdentityCredentials?api-version=2018-11-30`);
    expect(fics.status).toBe(400);
    expect(fics.body.error?.code).toBe('NoRegisteredProviderFound');
    // the location is the identity's, not a fixed region
    expect(fics.body.error?.message).toContain(
      "No registered resource provider found for location 'westeurope' and API version '2018-11-30' for type 'userAssignedIdentities/federatedIdentityCredentials'. The supported api-versions are '2022-01-31-preview, 2023-01-31, 2023-07-31-preview, 2024-11-30, 2025-01-31-preview, 2025-05-31-preview, 2026-04-30, 2026-05-31'.",
    );
  });

  test('an unknown version on a PUT names the request location', async () => {
    const r = await arm('PUT', `${RG_IDS}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-nover?api-version=2020-01-01`, { location: 'North Europe' });
    expect(r.status).toBe(400);
    expect(r.body.error?.message).toMatch(/^No registered resource provider found for location 'northeurope' and API version '2020-01-01' for type 'userAssignedIdentities'\./);
  });

  test.each([...ROLE_DEFINITION_VERSIONS])('roleDefinitions %s, with the shape of that version', async (v) => {
    const r = await arm('GET', `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions?$filter=${encodeURIComponent("roleName eq 'Key Vault Secrets User'")}&api-version=${v}`);
    expect(r.status).toBe(200);
    const def = r.body.value![0]!.properties as { permissions: Array<Record<string, unknown>>; createdOn?: string };
    expect('dataActions' in def.permissions[0]!).toBe(v !== '2015-07-01');
    expect('createdOn' in def).toBe(v >= '2022-04-01');
  });

  test.each([...KEYVAULT_VERSIONS])('vaults %s', async (v) => {
    expect((await arm('GET', `${KV_RG}/kv-sandbox?api-version=${v}`)).status).toBe(200);
  });

  test('Key Vault data plane 7.6-preview.2', async () => {
    const credential = federatedCredential(env);
    const kvToken = (await credential.getToken(VAULT_SCOPE)).token;
    const vault = await arm('GET', `${KV_RG}/kv-sandbox?api-version=2026-02-01`);
    const uri = (vault.body.properties as { vaultUri: string }).vaultUri;
    const r = await http(`${uri}secrets?api-version=7.6-preview.2`, { headers: { authorization: `Bearer ${kvToken}` } });
    expect(r.status).toBe(200);
  });

  test('role assignment: a second create of the same principal/role/scope is 409 RoleAssignmentExists; the same name is idempotent', async () => {
    const mi = await arm('PUT', `${RG_IDS}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-ra-${randomUUID().slice(0, 8)}?api-version=2025-01-31-preview`, { location: 'eastus' });
    const principalId = (mi.body.properties as { principalId: string }).principalId;
    const body = { properties: { roleDefinitionId: SECRETS_USER, principalId, principalType: 'ServicePrincipal' } };
    const name = randomUUID();
    const path = (n: string): string => `${KV_RG}/kv-sandbox/providers/Microsoft.Authorization/roleAssignments/${n}?api-version=2022-05-01-preview`;
    expect((await arm('PUT', path(name), body)).status).toBe(201);
    expect((await arm('PUT', path(name), body)).status).toBe(200);
    const again = await arm('PUT', path(randomUUID()), body);
    expect(again.status).toBe(409);
    expect(again.body.error).toEqual({ code: 'RoleAssignmentExists', message: 'The role assignment already exists.' });
  });
});

describe('resources clients need', () => {
  test('generic resources list with $filter sees the vaults (az keyvault list)', async () => {
    const filter = encodeURIComponent("resourceType eq 'Microsoft.KeyVault/vaults'");
    const r = await arm('GET', `/subscriptions/${SUB}/resources?$filter=${filter}&api-version=2015-11-01`);
    expect(r.status).toBe(200);
    expect(r.body.value!.map((v) => v.name)).toEqual(expect.arrayContaining(['kv-sandbox', 'kv-legacy']));
    expect(r.body.value!.every((v) => v.type === 'Microsoft.KeyVault/vaults')).toBe(true);
    const byName = await arm('GET', `/subscriptions/${SUB}/resources?$filter=${encodeURIComponent("name eq 'kv-legacy'")}&api-version=2021-04-01`);
    expect(byName.body.value!.map((v) => v.name)).toEqual(['kv-legacy']);
    const bad = await arm('GET', `/subscriptions/${SUB}/resources?$filter=${encodeURIComponent('location gt 1')}&api-version=2021-04-01`);
    expect(bad.body.error?.code).toBe('InvalidFilterInQueryString');
  });

  test('tagName/tagValue filter', async () => {
    const name = `id-tag-${randomUUID().slice(0, 8)}`;
    await arm('PUT', `${RG_IDS}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}?api-version=2024-11-30`, { location: 'eastus', tags: { team: name } });
    const filter = encodeURIComponent(`tagName eq 'team' and tagValue eq '${name}'`);
    const r = await arm('GET', `/subscriptions/${SUB}/resources?$filter=${filter}&api-version=2021-04-01`);
    expect(r.body.value!.map((v) => v.name)).toEqual([name]);
  });

  test('managedHSMs list is empty', async () => {
    const r = await arm('GET', `/subscriptions/${SUB}/providers/Microsoft.KeyVault/managedHSMs?api-version=2023-07-01`);
    expect(r).toEqual({ status: 200, body: { value: [] } });
  });

  test('vault PUT creates and replaces, PATCH updates; 90-day soft delete', async () => {
    const name = `kv-c${randomUUID().slice(0, 8)}`;
    const props = { tenantId: TENANT, sku: { family: 'A', name: 'standard' }, accessPolicies: [], enableRbacAuthorization: false, softDeleteRetentionInDays: 90 };
    const created = await arm('PUT', `${KV_RG}/${name}?api-version=2024-11-01`, { location: 'westeurope', properties: props });
    expect(created.status).toBe(201);
    expect(created.body.properties).toEqual(
      expect.objectContaining({ enableSoftDelete: true, softDeleteRetentionInDays: 90, enableRbacAuthorization: false, vaultUri: expect.stringMatching(/^https:\/\//) }),
    );
    const policy = { tenantId: TENANT, objectId: randomUUID(), permissions: { secrets: ['get', 'list'] } };
    const replaced = await arm('PUT', `${KV_RG}/${name}?api-version=2024-11-01`, { location: 'westeurope', properties: { ...props, accessPolicies: [policy] } });
    expect(replaced.status).toBe(200);
    expect((replaced.body.properties as { accessPolicies: unknown[] }).accessPolicies).toEqual([expect.objectContaining({ objectId: policy.objectId })]);
    const patched = await arm('PATCH', `${KV_RG}/${name}?api-version=2024-11-01`, { tags: { env: 'test' }, properties: { enablePurgeProtection: true } });
    expect(patched.body).toEqual(expect.objectContaining({ tags: { env: 'test' }, properties: expect.objectContaining({ enablePurgeProtection: true }) }));
    const off = await arm('PATCH', `${KV_RG}/${name}?api-version=2024-11-01`, { properties: { enablePurgeProtection: false } });
    expect(off.status).toBe(400);
    await control('DELETE', `/vault/vaults/${name}`);
  });

  test('FIC list honours $top with a nextLink', async () => {
    const name = `id-top-${randomUUID().slice(0, 8)}`;
    const base = `${RG_IDS}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;
    await arm('PUT', `${base}?api-version=2024-11-30`, { location: 'eastus' });
    const before = (await control<{ config: { ficWriteInProgressMs: number } }>('GET', '/config')).config;
    await control('PATCH', '/config', { ficWriteInProgressMs: 0 }); // sequential writes: the concurrency window only slows them
    for (const n of ['fic-a', 'fic-b', 'fic-c']) {
      await arm('PUT', `${base}/federatedIdentityCredentials/${n}?api-version=2024-11-30`, { properties: { issuer: 'https://issuer.example', subject: n, audiences: ['api://AzureADTokenExchange'] } });
    }
    const page = await arm('GET', `${base}/federatedIdentityCredentials?$top=2&api-version=2024-11-30`);
    expect(page.body.value!.map((f) => f.name)).toEqual(['fic-a', 'fic-b']);
    const next = await http(String(page.body.nextLink), { headers: { authorization: `Bearer ${token}` } });
    expect(next.body.value!.map((f) => f.name)).toEqual(['fic-c']);
    await control('PATCH', '/config', { ficWriteInProgressMs: before.ficWriteInProgressMs });
  });
});

describe('data plane rules', () => {
  let vaultToken = '';
  const vaultUri = async (name: string): Promise<string> => ((await arm('GET', `${KV_RG}/${name}?api-version=2026-02-01`)).body.properties as { vaultUri: string }).vaultUri;
  beforeAll(async () => {
    vaultToken = (await federatedCredential(env).getToken(VAULT_SCOPE)).token;
  });

  test('access policy: listing keys needs keys/list, not keys/get', async () => {
    const base = `${KV_RG}/kv-legacy/accessPolicies`;
    const policy = (keys: string[]): unknown => ({ properties: { accessPolicies: [{ tenantId: TENANT, objectId: SEED.deployer.objectId, permissions: { keys } }] } });
    const uri = await vaultUri('kv-legacy');
    const list = (): Promise<Answer> => http(`${uri}keys?api-version=7.6`, { headers: { authorization: `Bearer ${vaultToken}` } });
    await arm('PUT', `${base}/add?api-version=2026-02-01`, policy(['list']));
    try {
      expect((await list()).status).toBe(200);
      await arm('PUT', `${base}/remove?api-version=2026-02-01`, policy(['list']));
      await arm('PUT', `${base}/add?api-version=2026-02-01`, policy(['get']));
      const denied = await list();
      expect(denied.status).toBe(403);
      expect(JSON.stringify(denied.body)).toContain('does not have keys list permission');
    } finally {
      await arm('PUT', `${base}/remove?api-version=2026-02-01`, policy(['get', 'list']));
    }
  });

  test('90-day soft delete reports recoverableDays 90 with recoveryLevel Recoverable+Purgeable', async () => {
    const uri = await vaultUri('kv-sandbox');
    const name = `rd-${randomUUID().slice(0, 8)}`;
    const r = await http(`${uri}secrets/${name}?api-version=7.6`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${vaultToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ value: 'x' }),
    });
    expect(r.status).toBe(200);
    expect(r.body.attributes).toEqual(expect.objectContaining({ recoverableDays: 90, recoveryLevel: 'Recoverable+Purgeable' }));
  });
});
