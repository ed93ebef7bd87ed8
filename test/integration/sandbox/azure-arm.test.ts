// Conformance of the sandbox's ARM through the real SDKs (@azure/arm-msi,
// @azure/arm-authorization, @azure/arm-keyvault), logged in with a GitHub federated token.
import { randomUUID } from 'node:crypto';
import { afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { control, recordMark, sandboxEnv } from '../../support/sandbox.ts';
import { addFault, configSnapshot, recordsSince, removeFaults, restoreConfig } from '../../sandbox/azure/test-hooks.ts';
import type { ConfigSnapshot } from '../../sandbox/azure/test-hooks.ts';
import { ARM_SCOPE, VAULT_SCOPE, armClients, federatedCredential, useRunnerEnv } from '../../sandbox/azure/sdk-clients.ts';
import { PORTS } from '../../sandbox/ports.ts';

const env = sandboxEnv();
const SUB = env.AKV_AKS_SANDBOX_SUBSCRIPTION_ID!;
const KV_SANDBOX = `/subscriptions/${SUB}/resourceGroups/rg-sandbox/providers/Microsoft.KeyVault/vaults/kv-sandbox`;
const SECRETS_USER = `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/4633458b-17de-408a-b874-0445c86b69e6`;
const SECRETS_OFFICER = `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/b86a8fe4-44ce-4948-aee5-eccb2c155cd7`;
const GITHUB_FIC = { issuer: env.AKV_AKS_SANDBOX_GITHUB_ISSUER!, subject: 'repo:contoso/payments:ref:refs/heads/main', audiences: ['api://AzureADTokenExchange'] };

/** arm-authorization takes the scope without its leading '/' (it writes `/{scope}/providers/...`). */
const scopeArg = (id: string): string => id.replace(/^\//, '');

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function failure(p: Promise<unknown>): Promise<{ statusCode?: number; code?: string; message: string }> {
  try {
    await p;
  } catch (e) {
    return e as { statusCode?: number; code?: string; message: string };
  }
  throw new Error('call unexpectedly succeeded');
}

const run = randomUUID().slice(0, 6);
/** Names unique to this run, so the suite can share a sandbox with others. */
const n = (base: string): string => `${base}-${run}`;

const cred = federatedCredential(env);
const c = armClients(env, cred);

async function armToken(): Promise<string> {
  return (await cred.getToken(ARM_SCOPE)).token;
}

let baseline: ConfigSnapshot;
beforeAll(async () => {
  useRunnerEnv(env);
  baseline = await configSnapshot();
});
afterEach(async () => {
  await restoreConfig(baseline);
  await removeFaults();
});

describe('managed identities and federated credentials', () => {
  test('create, get, list, delete an identity; it becomes a principal', async () => {
    const created = await c.msi.userAssignedIdentities.createOrUpdate('rg-ids', n('id-payments'), { location: 'eastus', tags: { owner: 'team' } });
    expect(created.id).toBe(`/subscriptions/${SUB}/resourcegroups/rg-ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${n('id-payments')}`);
    expect(created.principalId).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.clientId).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.tenantId).toBe(env.AKV_AKS_SANDBOX_TENANT_ID);
    const again = await c.msi.userAssignedIdentities.createOrUpdate('rg-ids', n('id-payments'), { location: 'eastus' });
    expect(again.clientId).toBe(created.clientId);
    const got = await c.msi.userAssignedIdentities.get('rg-ids', n('id-payments'));
    expect(got.principalId).toBe(created.principalId);
    const listed = await collect(c.msi.userAssignedIdentities.listByResourceGroup('rg-ids'));
    expect(listed.map((i) => i.name)).toContain(n('id-payments'));
    expect(listed.every((i) => i.id!.includes('/resourcegroups/rg-ids/'))).toBe(true);
    expect((await collect(c.msi.userAssignedIdentities.listBySubscription())).map((i) => i.name)).toContain(n('id-payments'));
    const world = await control<{ principals: Array<{ clientId: string; kind: string }> }>('GET', '/world');
    expect(world.principals.find((p) => p.clientId === created.clientId)?.kind).toBe('managedIdentity');
    await c.msi.userAssignedIdentities.delete('rg-ids', n('id-payments'));
    const gone = await failure(c.msi.userAssignedIdentities.get('rg-ids', n('id-payments')));
    expect(gone.statusCode).toBe(404);
    expect(gone.code).toBe('ResourceNotFound');
    const moved = await failure(
      c.msi.userAssignedIdentities
        .createOrUpdate('rg-ids', n('id-payments-2'), { location: 'eastus' })
        .then(() => c.msi.userAssignedIdentities.createOrUpdate('rg-ids', n('id-payments-2'), { location: 'westeurope' })),
    );
    expect(moved.code).toBe('InvalidResourceLocation');
    const noRg = await failure(c.msi.userAssignedIdentities.createOrUpdate('rg-missing', n('id-x'), { location: 'eastus' }));
    expect(noRg.code).toBe('ResourceGroupNotFound');
  });

  test('federated credentials: create/get/list, validation, duplicates and the 20-per-identity limit', async () => {
    await control('PATCH', '/config', { ficWriteInProgressMs: 0 });
    await c.msi.userAssignedIdentities.createOrUpdate('rg-ids', n('id-fic'), { location: 'eastus' });
    const f = await c.msi.federatedIdentityCredentials.createOrUpdate('rg-ids', n('id-fic'), 'ns-a', { ...GITHUB_FIC, subject: 'system:serviceaccount:a:app' });
    expect(f.name).toBe('ns-a');
    expect(f.audiences).toEqual(['api://AzureADTokenExchange']);
    expect((await c.msi.federatedIdentityCredentials.get('rg-ids', n('id-fic'), 'ns-a')).subject).toBe('system:serviceaccount:a:app');

    const dup = await failure(c.msi.federatedIdentityCredentials.createOrUpdate('rg-ids', n('id-fic'), 'ns-a-copy', { ...GITHUB_FIC, subject: 'system:serviceaccount:a:app' }));
    expect(dup.statusCode).toBe(400);
    expect(dup.message).toContain('Issuer and subject combination already exists');
    const twoAud = await failure(c.msi.federatedIdentityCredentials.createOrUpdate('rg-ids', n('id-fic'), 'two', { ...GITHUB_FIC, audiences: ['a', 'b'] }));
    expect(twoAud.statusCode).toBe(400);
    const long = await failure(c.msi.federatedIdentityCredentials.createOrUpdate('rg-ids', n('id-fic'), 'long', { ...GITHUB_FIC, subject: 'x'.repeat(601) }));
    expect(long.statusCode).toBe(400);
    await c.msi.federatedIdentityCredentials.createOrUpdate('rg-ids', n('id-fic'), 'long-ok', { ...GITHUB_FIC, subject: 'x'.repeat(600) });

    for (let i = 0; i < 18; i++) {
      await c.msi.federatedIdentityCredentials.createOrUpdate('rg-ids', n('id-fic'), `ns-${i}`, { ...GITHUB_FIC, subject: `system:serviceaccount:n${i}:app` });
    }
    expect(await collect(c.msi.federatedIdentityCredentials.list('rg-ids', n('id-fic')))).toHaveLength(20);
    const over = await failure(c.msi.federatedIdentityCredentials.createOrUpdate('rg-ids', n('id-fic'), 'ns-21', { ...GITHUB_FIC, subject: 'system:serviceaccount:x:app' }));
    expect(over.statusCode).toBe(400);
    expect(over.message).toContain('20');
    // updating one of the 20 still works
    await c.msi.federatedIdentityCredentials.createOrUpdate('rg-ids', n('id-fic'), 'ns-0', { ...GITHUB_FIC, subject: 'system:serviceaccount:n0:other' });
    await c.msi.federatedIdentityCredentials.delete('rg-ids', n('id-fic'), 'ns-0');
    expect(await collect(c.msi.federatedIdentityCredentials.list('rg-ids', n('id-fic')))).toHaveLength(19);
  });

  test('concurrent writes on one identity: the second gets 409 ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity', async () => {
    await control('PATCH', '/config', { ficWriteInProgressMs: 400 });
    await c.msi.userAssignedIdentities.createOrUpdate('rg-ids', n('id-conc'), { location: 'eastus' });
    const results = await Promise.allSettled([
      c.msi.federatedIdentityCredentials.createOrUpdate('rg-ids', n('id-conc'), 'one', { ...GITHUB_FIC, subject: 's1' }),
      c.msi.federatedIdentityCredentials.createOrUpdate('rg-ids', n('id-conc'), 'two', { ...GITHUB_FIC, subject: 's2' }),
    ]);
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(rejected).toHaveLength(1);
    const e = rejected[0]!.reason as { statusCode: number; code: string };
    expect(e.statusCode).toBe(409);
    expect(e.code).toBe('ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity');
    // sequential writes are fine
    await c.msi.federatedIdentityCredentials.createOrUpdate('rg-ids', n('id-conc'), 'three', { ...GITHUB_FIC, subject: 's3' });
  });

  test('lists are paged with nextLink; a failing page surfaces from the SDK iterator', async () => {
    await control('PATCH', '/config', { ficWriteInProgressMs: 0, armListPageSize: 2 });
    await c.msi.userAssignedIdentities.createOrUpdate('rg-ids', n('id-pages'), { location: 'eastus' });
    for (let i = 0; i < 5; i++) await c.msi.federatedIdentityCredentials.createOrUpdate('rg-ids', n('id-pages'), `page-${i}`, { ...GITHUB_FIC, subject: `s${i}` });
    const all = await collect(c.msi.federatedIdentityCredentials.list('rg-ids', n('id-pages')));
    expect(all.map((f) => f.name)).toEqual(['page-0', 'page-1', 'page-2', 'page-3', 'page-4']);
    await addFault({ service: 'arm', method: 'GET', pathPattern: 'federatedIdentityCredentials\\?.*skiptoken=2', effect: { kind: 'status', status: 400, code: 'BadRequest', message: 'page failed' } });
    const seen: string[] = [];
    const e = await failure(
      (async () => {
        for await (const f of c.msi.federatedIdentityCredentials.list('rg-ids', n('id-pages'))) seen.push(f.name!);
      })(),
    );
    expect(seen).toEqual(['page-0', 'page-1']);
    expect(e.statusCode).toBe(400);
  });

  test('a "404 just after creation" is available as a fault', async () => {
    await c.msi.userAssignedIdentities.createOrUpdate('rg-ids', n('id-late'), { location: 'eastus' });
    await addFault({ service: 'arm', method: 'GET', pathPattern: `userAssignedIdentities/${n('id-late')}\\?`, effect: { kind: 'status', status: 404, code: 'ResourceNotFound' } });
    expect((await failure(c.msi.userAssignedIdentities.get('rg-ids', n('id-late')))).statusCode).toBe(404);
    expect((await c.msi.userAssignedIdentities.get('rg-ids', n('id-late'))).name).toBe(n('id-late'));
  });
});

describe('role assignments and definitions', () => {
  test('role definitions by name, with the built-in GUIDs and data actions', async () => {
    const defs = await collect(c.authorization.roleDefinitions.list(scopeArg(KV_SANDBOX), { filter: "roleName eq 'Key Vault Secrets User'" }));
    expect(defs).toHaveLength(1);
    expect(defs[0]!.name).toBe('4633458b-17de-408a-b874-0445c86b69e6');
    expect(defs[0]!.permissions?.[0]?.dataActions).toContain('Microsoft.KeyVault/vaults/secrets/getSecret/action');
    const officer = await c.authorization.roleDefinitions.get(scopeArg(`/subscriptions/${SUB}`), 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7');
    expect(officer.roleName).toBe('Key Vault Secrets Officer');
    const missing = await failure(c.authorization.roleDefinitions.get(scopeArg(`/subscriptions/${SUB}`), randomUUID()));
    expect(missing.statusCode).toBe(404);
  });

  test('create, RoleAssignmentExists, PrincipalNotFound without principalType, update refused, list, delete', async () => {
    await control('PATCH', '/config', { principalVisibilityMs: 60_000 });
    const mi = await c.msi.userAssignedIdentities.createOrUpdate('rg-ids', n('id-rbac'), { location: 'eastus' });
    const pid = mi.principalId!;

    const notFound = await failure(c.authorization.roleAssignments.create(scopeArg(KV_SANDBOX), randomUUID(), { roleDefinitionId: SECRETS_USER, principalId: pid }));
    expect(notFound.statusCode).toBe(400);
    expect(notFound.code).toBe('PrincipalNotFound');
    expect(notFound.message).toContain('principalType');

    const name = randomUUID();
    const ra = await c.authorization.roleAssignments.create(scopeArg(KV_SANDBOX), name, { roleDefinitionId: SECRETS_USER, principalId: pid, principalType: 'ServicePrincipal' });
    expect(ra.name).toBe(name);
    expect(ra.scope).toBe(KV_SANDBOX);
    expect(ra.id).toBe(`${KV_SANDBOX}/providers/Microsoft.Authorization/roleAssignments/${name}`);
    expect(ra.principalType).toBe('ServicePrincipal');

    const exists = await failure(c.authorization.roleAssignments.create(scopeArg(KV_SANDBOX), randomUUID(), { roleDefinitionId: SECRETS_USER, principalId: pid, principalType: 'ServicePrincipal' }));
    expect(exists.statusCode).toBe(409);
    expect(exists.code).toBe('RoleAssignmentExists');

    const update = await failure(c.authorization.roleAssignments.create(scopeArg(KV_SANDBOX), name, { roleDefinitionId: SECRETS_OFFICER, principalId: pid, principalType: 'ServicePrincipal' }));
    expect(update.code).toBe('RoleAssignmentUpdateNotPermitted');

    const secretScope = `${KV_SANDBOX}/secrets/db-password`;
    const perSecret = await c.authorization.roleAssignments.create(scopeArg(secretScope), randomUUID(), { roleDefinitionId: SECRETS_USER, principalId: pid, principalType: 'ServicePrincipal' });
    expect(perSecret.scope).toBe(secretScope);

    const forPrincipal = await collect(c.authorization.roleAssignments.listForScope(scopeArg(KV_SANDBOX), { filter: `principalId eq '${pid}'` }));
    expect(forPrincipal.map((a) => a.scope).sort()).toEqual([KV_SANDBOX, secretScope].sort());
    const atScope = await collect(c.authorization.roleAssignments.listForScope(scopeArg(KV_SANDBOX), { filter: 'atScope()' }));
    expect(atScope.some((a) => a.scope === secretScope)).toBe(false);
    expect(atScope.some((a) => a.name === name)).toBe(true);
    expect(atScope.some((a) => a.scope === `/subscriptions/${SUB}`)).toBe(true); // the deployer's Owner, inherited

    expect((await c.authorization.roleAssignments.get(scopeArg(KV_SANDBOX), name)).principalId).toBe(pid);
    await c.authorization.roleAssignments.delete(scopeArg(KV_SANDBOX), name);
    expect((await failure(c.authorization.roleAssignments.get(scopeArg(KV_SANDBOX), name))).statusCode).toBe(404);

    const badName = await fetch(`${env.AKV_AKS_ARM_ENDPOINT}${KV_SANDBOX}/providers/Microsoft.Authorization/roleAssignments/not-a-guid?api-version=2022-04-01`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${await armToken()}`, 'content-type': 'application/json' },
      body: JSON.stringify({ properties: { roleDefinitionId: SECRETS_USER, principalId: pid, principalType: 'ServicePrincipal' } }),
    });
    expect(badName.status).toBe(400);
    expect(((await badName.json()) as { error: { code: string } }).error.code).toBe('InvalidRoleAssignmentId');
  });

  test('RoleAssignmentLimitExceeded through a fault', async () => {
    await addFault({
      service: 'arm',
      method: 'PUT',
      pathPattern: 'roleAssignments/',
      effect: { kind: 'status', status: 400, code: 'RoleAssignmentLimitExceeded', message: 'No more role assignments can be created (code: RoleAssignmentLimitExceeded).' },
    });
    const e = await failure(
      c.authorization.roleAssignments.create(scopeArg(KV_SANDBOX), randomUUID(), { roleDefinitionId: SECRETS_USER, principalId: randomUUID(), principalType: 'ServicePrincipal' }),
    );
    expect(e.code).toBe('RoleAssignmentLimitExceeded');
  });
});

describe('key vaults', () => {
  test('get returns the proxy vaultUri and the permission model; access policies can be added', async () => {
    const kv = await c.keyVault.vaults.get('rg-sandbox', 'kv-sandbox');
    expect(kv.properties.vaultUri).toBe(`https://127.0.0.1:${PORTS.vaultProxyBase}/`);
    expect(kv.properties.enableRbacAuthorization).toBe(true);
    expect(kv.properties.tenantId).toBe(env.AKV_AKS_SANDBOX_TENANT_ID);
    expect(kv.properties.sku).toEqual({ family: 'A', name: 'standard' });
    const legacy = await c.keyVault.vaults.get('rg-sandbox', 'kv-legacy');
    expect(legacy.properties.enableRbacAuthorization).toBe(false);
    const deployer = legacy.properties.accessPolicies?.find((p) => p.objectId === '5b0c3c1e-2f6d-4c8a-9d1e-7a3f0b6e4d21');
    expect(deployer?.permissions.secrets).toEqual(expect.arrayContaining(['get', 'list', 'set', 'delete', 'recover', 'purge']));

    const oid = randomUUID();
    const tenantId = env.AKV_AKS_SANDBOX_TENANT_ID!;
    await c.keyVault.vaults.updateAccessPolicy('rg-sandbox', 'kv-legacy', 'add', { properties: { accessPolicies: [{ tenantId, objectId: oid, permissions: { secrets: ['get'] } }] } });
    await c.keyVault.vaults.updateAccessPolicy('rg-sandbox', 'kv-legacy', 'add', { properties: { accessPolicies: [{ tenantId, objectId: oid, permissions: { secrets: ['list'] } }] } });
    const after = await c.keyVault.vaults.get('rg-sandbox', 'kv-legacy');
    const mine = after.properties.accessPolicies?.find((p) => p.objectId === oid);
    expect(mine?.permissions.secrets?.sort()).toEqual(['get', 'list']);
    await c.keyVault.vaults.updateAccessPolicy('rg-sandbox', 'kv-legacy', 'remove', { properties: { accessPolicies: [{ tenantId, objectId: oid, permissions: { secrets: ['get', 'list'] } }] } });
    expect((await c.keyVault.vaults.get('rg-sandbox', 'kv-legacy')).properties.accessPolicies?.some((p) => p.objectId === oid)).toBe(false);

    const missing = await failure(c.keyVault.vaults.get('rg-sandbox', 'kv-nope'));
    expect(missing.statusCode).toBe(404);
  });
});

describe('authentication, api-version, authorization and throttling', () => {
  test('no token, a vault-audience token, a wrong api-version, a caller without a role', async () => {
    const url = `${env.AKV_AKS_ARM_ENDPOINT}${KV_SANDBOX}?api-version=2026-02-01`;
    const none = await fetch(url);
    expect(none.status).toBe(401);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe('AuthenticationFailed');
    const vaultToken = (await federatedCredential(env).getToken(VAULT_SCOPE)).token;
    const wrongAud = await fetch(url, { headers: { authorization: `Bearer ${vaultToken}` } });
    expect(wrongAud.status).toBe(401);
    expect(((await wrongAud.json()) as { error: { code: string } }).error.code).toBe('InvalidAuthenticationTokenAudience');
    const badVersion = await fetch(url.replace('2026-02-01', '2014-01-01'), { headers: { authorization: `Bearer ${await armToken()}` } });
    expect(badVersion.status).toBe(400);
    expect(((await badVersion.json()) as { error: { code: string } }).error.code).toBe('NoRegisteredProviderFound');

    // a managed identity logged in through its own GitHub FIC has no ARM role
    const mi = await c.msi.userAssignedIdentities.createOrUpdate('rg-ids', n('id-norole'), { location: 'eastus' });
    await c.msi.federatedIdentityCredentials.createOrUpdate('rg-ids', n('id-norole'), 'github', GITHUB_FIC);
    const asMi = armClients(env, federatedCredential(env, mi.clientId!));
    const denied = await failure(asMi.msi.userAssignedIdentities.createOrUpdate('rg-ids', n('id-other'), { location: 'eastus' }));
    expect(denied.statusCode).toBe(403);
    expect(denied.code).toBe('AuthorizationFailed');
  });

  test('token buckets: remaining-reads header, 429 with Retry-After, and the SDK waits it out', async () => {
    await control('PATCH', '/config', { armReadCapacity: 2, armReadRefillPerSecond: 1 });
    const token = await armToken();
    const url = `${env.AKV_AKS_ARM_ENDPOINT}${KV_SANDBOX}?api-version=2026-02-01`;
    const r1 = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    expect(r1.headers.get('x-ms-ratelimit-remaining-subscription-reads')).toBe('1');
    const r2 = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    expect(r2.headers.get('x-ms-ratelimit-remaining-subscription-reads')).toBe('0');
    const r3 = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    expect(r3.status).toBe(429);
    expect(Number(r3.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await r3.json()) as { error: { code: string } }).error.code).toBe('SubscriptionRequestsThrottled');

    const mark = await recordMark();
    const started = Date.now();
    const kv = await c.keyVault.vaults.get('rg-sandbox', 'kv-sandbox');
    expect(kv.name).toBe('kv-sandbox');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    const arm = (await recordsSince(mark, 'arm', /vaults\/kv-sandbox\?/)).map((r) => r.status);
    expect(arm[0]).toBe(429);
    expect(arm[arm.length - 1]).toBe(200);
  });

  test('injected latency and a connection reset (retried by the SDK) on ARM', async () => {
    await c.keyVault.vaults.get('rg-sandbox', 'kv-sandbox'); // token cached
    await addFault({ service: 'arm', method: 'GET', pathPattern: 'vaults/kv-sandbox', effect: { kind: 'latency', ms: 400 } });
    const started = Date.now();
    await c.keyVault.vaults.get('rg-sandbox', 'kv-sandbox');
    expect(Date.now() - started).toBeGreaterThanOrEqual(380);
    const resetId = await addFault({ service: 'arm', method: 'GET', pathPattern: 'vaults/kv-sandbox', effect: { kind: 'reset' } });
    const mark = await recordMark();
    expect((await c.keyVault.vaults.get('rg-sandbox', 'kv-sandbox')).name).toBe('kv-sandbox');
    expect((await recordsSince(mark, 'arm', /vaults\/kv-sandbox\?/)).map((r) => r.status)).toEqual([0, 200]);
    const faults = await control<{ faults: Array<{ id: string }> }>('GET', '/faults');
    expect(faults.faults.some((f) => f.id === resetId)).toBe(false);
  });

  test('an injected 429 with Retry-After is honoured by arm-msi', async () => {
    await c.msi.userAssignedIdentities.createOrUpdate('rg-ids', n('id-429'), { location: 'eastus' });
    await addFault({ service: 'arm', method: 'GET', pathPattern: n('id-429'), effect: { kind: 'status', status: 429, retryAfterSeconds: 1 } });
    const started = Date.now();
    expect((await c.msi.userAssignedIdentities.get('rg-ids', n('id-429'))).name).toBe(n('id-429'));
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });
});
