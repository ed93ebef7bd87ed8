// Conformance of the sandbox's Key Vault data plane, through the real SDKs: SecretClient behind
// a ClientAssertionCredential against the Entra simulator (GitHub OIDC tokens minted by the
// sandbox), ARM SDKs for identities and role assignments. Each run works in vaults of its own
// (created through the control API) so it can lower limits and inject faults without touching
// other tests; the one world-wide knob it turns (rbacPropagationMs) is restored at once.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { AuthorizationManagementClient } from '@azure/arm-authorization';
import { ManagedServiceIdentityClient } from '@azure/arm-msi';
import { ClientAssertionCredential, type TokenCredential } from '@azure/identity';
import type { PipelineRequest, PipelineResponse, SendRequest } from '@azure/core-rest-pipeline';
import { SecretClient, type SecretClientOptions } from '@azure/keyvault-secrets';
import { control, sandboxEnv } from '../../support/sandbox.ts';

const FED_AUDIENCE = 'api://AzureADTokenExchange';
const SECRETS_USER = '4633458b-17de-408a-b874-0445c86b69e6';
const SECRETS_OFFICER = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7';
const T = 60_000;

interface VaultInfo {
  name: string;
  vaultUri: string;
  id?: string;
}

interface RestErr {
  statusCode?: number;
  code?: string;
  message: string;
  response?: { bodyAsText?: string | null; headers: { get(n: string): string | undefined } };
}

async function failure(p: Promise<unknown>): Promise<RestErr> {
  try {
    await p;
  } catch (e) {
    return e as RestErr;
  }
  throw new Error('expected the call to fail');
}

// The SDK's RestError keeps the error's code and message, not its inner error: a pipeline policy
// of the test clients keeps the raw body of the last error answer.
let lastErrorBody = '{}';
const captureErrors = {
  name: 'captureErrorBodies',
  async sendRequest(req: PipelineRequest, next: SendRequest): Promise<PipelineResponse> {
    const res = await next(req);
    if (res.status >= 400) lastErrorBody = res.bodyAsText ?? '{}';
    return res;
  },
};

function body(e: RestErr): { error: { code: string; message: string; innererror?: { code: string } } } {
  return JSON.parse(e.response?.bodyAsText ?? lastErrorBody) as { error: { code: string; message: string; innererror?: { code: string } } };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const suffix = randomUUID().slice(0, 8);

let env: Record<string, string>;
let tenant: string;
let sub: string;
let deployer: TokenCredential;
let other: TokenCredential;
let otherPrincipalId: string;
let otherClientId: string;
let msi: ManagedServiceIdentityClient;
let authz: AuthorizationManagementClient;
const created: string[] = [];
const identityName = `id-vaulttest-${suffix}`;

function credentialFor(clientId: string, subject?: string): TokenCredential {
  return new ClientAssertionCredential(tenant, clientId, async () => (await control<{ value: string }>('POST', '/github/token', { audience: FED_AUDIENCE, ...(subject ? { subject } : {}) })).value, {
    authorityHost: env.AKV_AKS_AUTHORITY_HOST,
    disableInstanceDiscovery: true,
  });
}

// The SDK's default api-version unless told otherwise (a lowkey-vault backend serves up to 2025-07-01).
const serviceVersion = process.env.AKV_AKS_KV_SERVICE_VERSION as SecretClientOptions['serviceVersion'] | undefined;

function client(v: VaultInfo, cred: TokenCredential, extra: SecretClientOptions = {}): SecretClient {
  return new SecretClient(v.vaultUri, cred, {
    disableChallengeResourceVerification: true,
    ...(serviceVersion ? { serviceVersion } : {}),
    additionalPolicies: [{ policy: captureErrors, position: 'perRetry' }],
    ...extra,
  });
}

function noRetry(v: VaultInfo, cred: TokenCredential): SecretClient {
  return client(v, cred, { retryOptions: { maxRetries: 0 } });
}

async function newVault(input: Record<string, unknown>): Promise<VaultInfo> {
  const name = `kvt${String(input.tag ?? 'v')}${suffix}`.slice(0, 24);
  const rest = { ...input };
  delete rest.tag;
  const v = await control<VaultInfo>('POST', '/vault/vaults', { name, ...rest });
  created.push(v.name);
  return v;
}

async function assign(scope: string, role: string, principalId: string): Promise<void> {
  await authz.roleAssignments.create(scope.replace(/^\/+/, ''), randomUUID(), {
    roleDefinitionId: `/subscriptions/${sub}/providers/Microsoft.Authorization/roleDefinitions/${role}`,
    principalId,
    principalType: 'ServicePrincipal',
  });
}

let rbacVault: VaultInfo & { id: string };
let deployerOid: string;

beforeAll(async () => {
  env = sandboxEnv();
  tenant = env.AKV_AKS_SANDBOX_TENANT_ID as string;
  sub = env.AKV_AKS_SANDBOX_SUBSCRIPTION_ID as string;
  deployer = credentialFor(env.AKV_AKS_SANDBOX_CLIENT_ID as string);
  const armOpts = { endpoint: env.AKV_AKS_ARM_ENDPOINT, $host: env.AKV_AKS_ARM_ENDPOINT, credentialScopes: ['https://management.azure.com/.default'] };
  msi = new ManagedServiceIdentityClient(deployer, sub, armOpts);
  authz = new AuthorizationManagementClient(deployer, sub, armOpts);

  const world = await control<{ principals: Array<{ clientId: string; objectId: string }> }>('GET', '/world');
  deployerOid = (world.principals.find((p) => p.clientId === env.AKV_AKS_SANDBOX_CLIENT_ID) as { objectId: string }).objectId;

  // A second principal: a user-assigned identity federated with the sandbox's GitHub issuer.
  const subject = `repo:contoso/payments:environment:vaulttest-${suffix}`;
  const id = await msi.userAssignedIdentities.createOrUpdate('rg-ids', identityName, { location: 'eastus' });
  otherPrincipalId = id.principalId as string;
  otherClientId = id.clientId as string;
  await msi.federatedIdentityCredentials.createOrUpdate('rg-ids', identityName, 'github', {
    issuer: env.AKV_AKS_SANDBOX_GITHUB_ISSUER,
    subject,
    audiences: [FED_AUDIENCE],
  });
  other = credentialFor(otherClientId, subject);

  const v = await newVault({ tag: 'r' });
  const rec = (await control<Array<VaultInfo & { id?: string }>>('GET', '/vault/vaults')).find((x) => x.name === v.name);
  const worldNow = await control<{ vaults: Array<{ name: string; id: string }> }>('GET', '/world');
  rbacVault = { ...v, ...(rec ?? {}), id: (worldNow.vaults.find((x) => x.name === v.name) as { id: string }).id };
  await assign(rbacVault.id, SECRETS_OFFICER, deployerOid);
}, T);

afterAll(async () => {
  for (const n of created) await control('DELETE', `/vault/vaults/${n}`).catch(() => undefined);
  await msi?.userAssignedIdentities.delete('rg-ids', identityName).catch(() => undefined);
}, T);

describe('authentication', () => {
  it("answers Key Vault's bearer challenge without a token", async () => {
    const res = await fetch(`${rbacVault.vaultUri}secrets/x?api-version=2025-07-01`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(`Bearer authorization="${env.AKV_AKS_AUTHORITY_HOST}/${tenant}", resource="https://vault.azure.net"`);
    expect(await res.json()).toEqual({ error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer or PoP token.' } });
  });

  it('refuses a token the Entra simulator did not issue', async () => {
    const fake = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url') + '.e30.';
    const res = await fetch(`${rbacVault.vaultUri}secrets?api-version=2025-07-01`, { headers: { authorization: `Bearer ${fake}` } });
    expect(res.status).toBe(401);
    const b = (await res.json()) as { error: { code: string } };
    expect(b.error.code).toBe('Unauthorized');
  });
});

describe('secrets through SecretClient', () => {
  it(
    'sets and gets with contentType and tags, keeps versions, lists by pages of 25',
    async () => {
      const c = client(rbacVault, deployer);
      const first = await c.setSecret('app-config', 'one', { contentType: 'text/plain', tags: { team: 'payments' } });
      const second = await c.setSecret('app-config', 'two');
      expect(second.properties.version).not.toBe(first.properties.version);
      const latest = await c.getSecret('app-config');
      expect(latest.value).toBe('two');
      const old = await c.getSecret('app-config', { version: first.properties.version as string });
      expect(old.value).toBe('one');
      expect(old.properties.contentType).toBe('text/plain');
      expect(old.properties.tags).toEqual({ team: 'payments' });
      expect(new URL(latest.properties.id as string).origin).toBe(new URL(rbacVault.vaultUri).origin);
      const versions: string[] = [];
      for await (const p of c.listPropertiesOfSecretVersions('app-config')) versions.push(p.version as string);
      expect(versions.sort()).toEqual([first.properties.version, second.properties.version].sort());

      for (let i = 0; i < 30; i++) await c.setSecret(`bulk-${String(i).padStart(2, '0')}`, `value-${i}`);
      const sizes: number[] = [];
      const names: string[] = [];
      for await (const page of c.listPropertiesOfSecrets().byPage({ maxPageSize: 25 })) {
        sizes.push(page.length);
        names.push(...page.map((p) => p.name));
      }
      expect(sizes).toEqual([25, 6]);
      expect(names).toContain('bulk-29');
      expect(names).toContain('app-config');

      const updated = await c.updateSecretProperties('app-config', second.properties.version as string, { tags: { rotated: 'yes' } });
      expect(updated.tags).toEqual({ rotated: 'yes' });
    },
    T,
  );

  it(
    'deletes, refuses the name while deleted-but-recoverable, recovers, purges',
    async () => {
      const c = client(rbacVault, deployer);
      await c.setSecret('lifecycle', 'v1');
      await (await c.beginDeleteSecret('lifecycle')).pollUntilDone();
      const deleted = await c.getDeletedSecret('lifecycle');
      expect(deleted.properties.recoveryId).toBe(`${rbacVault.vaultUri}deletedsecrets/lifecycle`);
      const conflict = await failure(c.setSecret('lifecycle', 'v2'));
      expect(conflict.statusCode).toBe(409);
      expect(body(conflict).error.innererror?.code).toBe('ObjectIsDeletedButRecoverable');
      const deletedNames: string[] = [];
      for await (const d of c.listDeletedSecrets()) deletedNames.push(d.name);
      expect(deletedNames).toContain('lifecycle');
      await (await c.beginRecoverDeletedSecret('lifecycle')).pollUntilDone();
      expect((await c.getSecret('lifecycle')).value).toBe('v1');
      await (await c.beginDeleteSecret('lifecycle')).pollUntilDone();
      await c.purgeDeletedSecret('lifecycle');
      const gone = await failure(c.getDeletedSecret('lifecycle'));
      expect(gone.statusCode).toBe(404);
      expect((await c.setSecret('lifecycle', 'v3')).value).toBe('v3');
    },
    T,
  );
});

describe('authorization', () => {
  it(
    'RBAC: no role → 403 ForbiddenByRbac; Secrets User → read, not write; a fresh assignment waits for propagation',
    async () => {
      const v = await newVault({ tag: 'p' });
      const w = await control<{ vaults: Array<{ name: string; id: string }> }>('GET', '/world');
      const id = (w.vaults.find((x) => x.name === v.name) as { id: string }).id;
      await assign(id, SECRETS_OFFICER, deployerOid);
      await client(v, deployer).setSecret('readable', 'r1');

      const denied = await failure(noRetry(v, other).getSecret('readable'));
      expect(denied.statusCode).toBe(403);
      const b = body(denied);
      expect(b.error.code).toBe('Forbidden');
      expect(b.error.innererror?.code).toBe('ForbiddenByRbac');
      expect(b.error.message).toContain('Caller is not authorized to perform action on resource.');
      expect(b.error.message).toContain("Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'");
      expect(b.error.message).toContain(`oid=${otherPrincipalId}`);
      expect(b.error.message).not.toContain('r1');

      const before = (await control<{ config: { rbacPropagationMs: number } }>('GET', '/config')).config.rbacPropagationMs;
      await control('PATCH', '/config', { rbacPropagationMs: 2500 });
      try {
        await assign(id, SECRETS_USER, otherPrincipalId);
      } finally {
        await control('PATCH', '/config', { rbacPropagationMs: before });
      }
      const assignedAt = Date.now();
      const early = await failure(noRetry(v, other).getSecret('readable'));
      expect(early.statusCode).toBe(403);
      expect(body(early).error.innererror?.code).toBe('ForbiddenByRbac');
      await sleep(Math.max(0, assignedAt + 2700 - Date.now()));
      expect((await noRetry(v, other).getSecret('readable')).value).toBe('r1');
      const names: string[] = [];
      for await (const p of noRetry(v, other).listPropertiesOfSecrets()) names.push(p.name);
      expect(names).toEqual(['readable']);
      const write = await failure(noRetry(v, other).setSecret('readable', 'nope'));
      expect(write.statusCode).toBe(403);
      expect(body(write).error.message).toContain("Action: 'Microsoft.KeyVault/vaults/secrets/setSecret/action'");
    },
    T,
  );

  it(
    'access policies: a principal with secrets/get only can read, not list or write',
    async () => {
      const v = await newVault({
        tag: 'a',
        enableRbacAuthorization: false,
        accessPolicies: [
          { tenantId: tenant, objectId: deployerOid, permissions: { secrets: ['get', 'list', 'set', 'delete', 'recover', 'purge'] } },
          { tenantId: tenant, objectId: otherPrincipalId, permissions: { secrets: ['get'] } },
        ],
      });
      await client(v, deployer).setSecret('policy-secret', 'p1');
      expect((await noRetry(v, other).getSecret('policy-secret')).value).toBe('p1');
      const list = await failure(
        (async () => {
          for await (const _ of noRetry(v, other).listPropertiesOfSecrets()) void _;
        })(),
      );
      expect(list.statusCode).toBe(403);
      const b = body(list);
      expect(b.error.code).toBe('Forbidden');
      expect(b.error.innererror?.code).toBe('ForbiddenByPolicy');
      expect(b.error.message).toContain('does not have secrets list permission');
      const set = await failure(noRetry(v, other).setSecret('policy-secret', 'p2'));
      expect(set.statusCode).toBe(403);
      expect(body(set).error.message).toContain('does not have secrets set permission');
    },
    T,
  );
});

describe('throttling', () => {
  it(
    'answers 429 with Retry-After past the write budget, counting 429s for nothing, and the SDK retries after it',
    async () => {
      const v = await newVault({ tag: 't' });
      const w = await control<{ vaults: Array<{ name: string; id: string }> }>('GET', '/world');
      await assign((w.vaults.find((x) => x.name === v.name) as { id: string }).id, SECRETS_OFFICER, deployerOid);
      await control('PUT', '/vault/throttle', { vault: v.name, create: 3, other: 1000, windowMs: 2000 });
      const c = noRetry(v, deployer);
      for (let i = 0; i < 3; i++) await c.setSecret(`t${i}`, 'x');
      const e = await failure(c.setSecret('t3', 'x'));
      expect(e.statusCode).toBe(429);
      expect(body(e).error.code).toBe('Throttled');
      const retryAfter = Number(e.response?.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(2);
      // reads use the other bucket
      expect((await c.getSecret('t0')).value).toBe('x');
      // the SDK's throttling policy honours Retry-After and gets through once the window slides
      const started = Date.now();
      await client(v, deployer).setSecret('t4', 'x');
      expect(Date.now() - started).toBeGreaterThanOrEqual(500);
      const listed = await control<Array<{ name: string; stats: { throttled: number } }>>('GET', '/vault/vaults');
      expect((listed.find((x) => x.name === v.name) as { stats: { throttled: number } }).stats.throttled).toBeGreaterThanOrEqual(2);
      await control('PUT', '/vault/throttle', { vault: v.name, enabled: undefined, create: 300, other: 4000, windowMs: 10_000 });
    },
    T,
  );
});

describe('fault injection', () => {
  it(
    'status faults with and without Retry-After, latency, connection reset; world-wide keyvault faults too',
    async () => {
      const c = noRetry(rbacVault, deployer);
      await client(rbacVault, deployer).setSecret('faulty', 'f1');
      await control('POST', '/vault/faults', { vault: rbacVault.name, method: 'GET', pathPattern: '^/secrets/faulty', effect: { kind: 'status', status: 503, retryAfterSeconds: 1 } });
      const e503 = await failure(c.getSecret('faulty'));
      expect(e503.statusCode).toBe(503);
      expect(e503.response?.headers.get('retry-after')).toBe('1');
      await control('POST', '/vault/faults', { vault: rbacVault.name, method: 'GET', pathPattern: '^/secrets/faulty', effect: { kind: 'status', status: 429 } });
      const e429 = await failure(c.getSecret('faulty'));
      expect(e429.statusCode).toBe(429);
      expect(e429.response?.headers.get('retry-after')).toBeUndefined();
      await control('POST', '/vault/faults', { vault: rbacVault.name, method: 'GET', pathPattern: '^/secrets/faulty', effect: { kind: 'latency', ms: 700 } });
      const t0 = Date.now();
      expect((await c.getSecret('faulty')).value).toBe('f1');
      expect(Date.now() - t0).toBeGreaterThanOrEqual(650);
      await control('POST', '/vault/faults', { vault: rbacVault.name, method: 'GET', pathPattern: '^/secrets/faulty', effect: { kind: 'reset' } });
      const reset = await failure(c.getSecret('faulty'));
      expect(reset.code).toBe('ECONNRESET');
      // with its default retries the SDK gets through a reset
      await control('POST', '/vault/faults', { vault: rbacVault.name, method: 'GET', pathPattern: '^/secrets/faulty', effect: { kind: 'reset' } });
      expect((await client(rbacVault, deployer).getSecret('faulty')).value).toBe('f1');
      // a fault through the world's own control route, for the keyvault service
      await control('POST', '/faults', { service: 'keyvault', method: 'GET', pathPattern: `^/secrets/faulty-world-${suffix}`, effect: { kind: 'status', status: 500 } });
      await client(rbacVault, deployer).setSecret(`faulty-world-${suffix}`, 'w');
      const e500 = await failure(c.getSecret(`faulty-world-${suffix}`));
      expect(e500.statusCode).toBe(500);
      expect((await c.getSecret(`faulty-world-${suffix}`)).value).toBe('w');
    },
    T,
  );

  it(
    'ObjectIsBeingDeleted while a delete settles; a recovered secret answers 404 for a while',
    async () => {
      const c = noRetry(rbacVault, deployer);
      await c.setSecret('settling', 's1');
      await control('PUT', '/vault/settle', { vault: rbacVault.name, deleteMs: 1500, recoverMs: 1500 });
      try {
        const poller = await client(rbacVault, deployer).beginDeleteSecret('settling');
        const busy = await failure(c.setSecret('settling', 's2'));
        expect(busy.statusCode).toBe(409);
        expect(body(busy).error.innererror?.code).toBe('ObjectIsBeingDeleted');
        const notYet = await failure(c.getDeletedSecret('settling'));
        expect(notYet.statusCode).toBe(404);
        await poller.pollUntilDone(); // the SDK polls deletedsecrets until it appears
        expect((await c.getDeletedSecret('settling')).name).toBe('settling');
        const rec = await client(rbacVault, deployer).beginRecoverDeletedSecret('settling');
        const missing = await failure(c.getSecret('settling'));
        expect(missing.statusCode).toBe(404);
        expect(body(missing).error.code).toBe('SecretNotFound');
        await rec.pollUntilDone(); // polls the secret until it answers
        expect((await c.getSecret('settling')).value).toBe('s1');
      } finally {
        await control('PUT', '/vault/settle', { vault: rbacVault.name, deleteMs: 0, recoverMs: 0 });
      }
    },
    T,
  );

  it(
    'fails the Nth page of a LIST once',
    async () => {
      const c = noRetry(rbacVault, deployer);
      for (let i = 0; i < 27; i++) await c.setSecret(`paged-${i}`, 'p');
      await control('POST', '/vault/faults/list-page', { vault: rbacVault.name, op: 'secrets.list', page: 2, status: 500 });
      let pages = 0;
      const e = await failure(
        (async () => {
          for await (const _ of c.listPropertiesOfSecrets().byPage({ maxPageSize: 25 })) {
            void _;
            pages++;
          }
        })(),
      );
      expect(pages).toBe(1);
      expect(e.statusCode).toBe(500);
      pages = 0;
      for await (const _ of c.listPropertiesOfSecrets().byPage({ maxPageSize: 25 })) {
        void _;
        pages++;
      }
      expect(pages).toBeGreaterThanOrEqual(2);
    },
    T,
  );
});
