// The sandbox ARM answers with the shapes of the Azure REST examples in
// ../shared/fixtures/arm-examples (every msi/authorization/keyvault example file; same keys and
// JSON types, extra keys allowed) for the same operation and status code. The examples are
// reference data beside the repository, not part of it: without them the suite is skipped (and
// fails in CI, where they are always present).
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, test } from '@jest/globals';
import { withReferenceData } from '../../support/guard.ts';
import { sandboxEnv } from '../../support/sandbox.ts';
import { ARM_SCOPE, federatedCredential, useRunnerEnv } from '../../sandbox/azure/sdk-clients.ts';
import { shapeMismatches } from '../../sandbox/azure/shape.ts';

const examples = withReferenceData('fixtures', 'arm-examples');
const EXAMPLES = examples.dir;
const env = sandboxEnv();
const SUB = env.AKV_AKS_SANDBOX_SUBSCRIPTION_ID!;
const ARM = env.AKV_AKS_ARM_ENDPOINT!;
const KV = `/subscriptions/${SUB}/resourceGroups/rg-sandbox/providers/Microsoft.KeyVault/vaults/kv-sandbox`;
const ROLE = `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/4633458b-17de-408a-b874-0445c86b69e6`;
const MSI_V = 'api-version=2024-11-30';
const AUTH_V = 'api-version=2022-04-01';
const KV_V = 'api-version=2026-02-01';

/** Example paths that the live service omits for the sandbox's resources (documented exceptions). */
const IGNORED: Record<string, string[]> = {
  // a managed-HSM pool id: only for HSM-backed vaults; a standard vault does not return it
  'keyvault/2026-02-01/getVault.json': ['properties.hsmPoolResourceId'],
};

interface Example {
  responses: Record<string, { body?: unknown }>;
}

interface Observed {
  status: number;
  body: unknown;
}

let token = '';

async function call(method: string, path: string, body?: unknown): Promise<Observed> {
  const res = await fetch(`${ARM}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as unknown) : undefined };
}

const identityPath = (name: string): string => `/subscriptions/${SUB}/resourceGroups/rg-ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;

async function newIdentity(): Promise<{ name: string; principalId: string }> {
  const name = `id-conf-${randomUUID().slice(0, 8)}`;
  const r = await call('PUT', `${identityPath(name)}?${MSI_V}`, { location: 'eastus', tags: { key1: 'value1', key2: 'value2' } });
  return { name, principalId: (r.body as { properties: { principalId: string } }).properties.principalId };
}

/** For each example file: the calls that produce its documented status codes. */
const SCENARIOS: Record<string, () => Promise<Observed[]>> = {
  'msi/2024-11-30/IdentityCreate.json': async () => {
    const path = `${identityPath(`id-conf-${randomUUID().slice(0, 8)}`)}?${MSI_V}`;
    const body = { location: 'eastus', tags: { key1: 'value1', key2: 'value2' } };
    return [await call('PUT', path, body), await call('PUT', path, body)];
  },
  'msi/2024-11-30/IdentityGet.json': async () => {
    const { name } = await newIdentity();
    return [await call('GET', `${identityPath(name)}?${MSI_V}`)];
  },
  'msi/2024-11-30/FederatedIdentityCredentialCreate.json': async () => {
    const { name } = await newIdentity();
    const path = `${identityPath(name)}/federatedIdentityCredentials/ficResourceName?${MSI_V}`;
    const body = { properties: { issuer: 'https://127.0.0.1:27643', subject: 'system:serviceaccount:ns:svcaccount', audiences: ['api://AzureADTokenExchange'] } };
    return [await call('PUT', path, body), await call('PUT', path, body)];
  },
  'msi/2024-11-30/FederatedIdentityCredentialGet.json': async () => {
    const { name } = await newIdentity();
    const path = `${identityPath(name)}/federatedIdentityCredentials/ficResourceName?${MSI_V}`;
    await call('PUT', path, { properties: { issuer: 'https://127.0.0.1:27643', subject: 'system:serviceaccount:ns:svcaccount', audiences: ['api://AzureADTokenExchange'] } });
    return [await call('GET', path)];
  },
  'authorization/2022-04-01/RoleAssignments_CreateForResource.json': async () => {
    const { principalId } = await newIdentity();
    const path = `${KV}/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}?${AUTH_V}`;
    const body = { properties: { roleDefinitionId: ROLE, principalId, principalType: 'ServicePrincipal' } };
    return [await call('PUT', path, body), await call('PUT', path, body)];
  },
  'authorization/2022-04-01/RoleAssignments_Get.json': async () => {
    const { principalId } = await newIdentity();
    const path = `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}?${AUTH_V}`;
    await call('PUT', path, { properties: { roleDefinitionId: ROLE, principalId, principalType: 'ServicePrincipal' } });
    return [await call('GET', path)];
  },
  'authorization/2022-04-01/RoleAssignments_ListForScope.json': async () => [await call('GET', `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleAssignments?${AUTH_V}`)],
  'authorization/2022-04-01/RoleAssignments_Delete.json': async () => {
    const { principalId } = await newIdentity();
    const path = `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}?${AUTH_V}`;
    await call('PUT', path, { properties: { roleDefinitionId: ROLE, principalId, principalType: 'ServicePrincipal' } });
    return [await call('DELETE', path), await call('DELETE', path)];
  },
  // A vault of its own, in access-policy mode with the example's policy: the shared kv-legacy carries
  // whatever policies other suites granted (secrets only), which the documented element does not show.
  'keyvault/2026-02-01/getVault.json': async () => {
    const documented = JSON.parse(readFileSync(join(EXAMPLES, 'keyvault/2026-02-01/getVault.json'), 'utf8')) as {
      responses: { 200: { body: { properties: { accessPolicies: Array<{ permissions: unknown }> } } } };
    };
    const permissions = documented.responses[200].body.properties.accessPolicies[0]!.permissions;
    const path = `${KV.replace('kv-sandbox', `kvconf${randomUUID().slice(0, 8)}`)}?${KV_V}`;
    const properties = {
      tenantId: env.AKV_AKS_SANDBOX_TENANT_ID,
      sku: { family: 'A', name: 'standard' },
      accessPolicies: [{ tenantId: env.AKV_AKS_SANDBOX_TENANT_ID, objectId: randomUUID(), permissions }],
    };
    const created = await call('PUT', path, { location: 'eastus', properties });
    expect(created.status).toBe(201);
    return [await call('GET', path)];
  },
  'keyvault/2026-02-01/updateAccessPoliciesAdd.json': async () => {
    const base = `/subscriptions/${SUB}/resourceGroups/rg-sandbox/providers/Microsoft.KeyVault/vaults/kv-legacy/accessPolicies`;
    const body = { properties: { accessPolicies: [{ tenantId: env.AKV_AKS_SANDBOX_TENANT_ID, objectId: randomUUID(), permissions: { certificates: ['get'], keys: ['encrypt'], secrets: ['get'] } }] } };
    const added = await call('PUT', `${base}/add?${KV_V}`, body);
    await call('PUT', `${base}/remove?${KV_V}`, body); // leave the shared vault as it was
    return [added];
  },
};

const index = !existsSync(EXAMPLES) ? [] : (JSON.parse(readFileSync(join(EXAMPLES, 'index.json'), 'utf8')) as Array<{ file: string }>);
const armFiles = index.map((e) => e.file).filter((f) => /^(msi|authorization|keyvault)\//.test(f));

beforeAll(async () => {
  useRunnerEnv(env);
  token = (await federatedCredential(env).getToken(ARM_SCOPE)).token;
});

examples.describe('ARM responses match the Azure REST examples', () => {
  test('every ARM example file has a scenario', () => {
    expect(armFiles.length).toBeGreaterThanOrEqual(10);
    expect(armFiles.filter((f) => !SCENARIOS[f])).toEqual([]);
  });

  // (jest refuses an empty table; without the examples the suite is skipped anyway)
  if (armFiles.length > 0)
    test.each(armFiles)('%s', async (file) => {
      const example = JSON.parse(readFileSync(join(EXAMPLES, file), 'utf8')) as Example;
      const observed = await SCENARIOS[file]!();
      for (const o of observed) {
        const documented = example.responses[String(o.status)];
        expect({ file, status: o.status, documented: documented !== undefined }).toEqual({ file, status: o.status, documented: true });
        if (documented?.body !== undefined && Object.keys(documented.body as object).length > 0) {
          expect(shapeMismatches(documented.body, o.body, IGNORED[file] ?? [])).toEqual([]);
        }
      }
    });
});
