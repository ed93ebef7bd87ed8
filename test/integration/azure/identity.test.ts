// Identities, federation and vault grants through the real ARM SDKs against the sandbox, and the
// proof step exchanging service-account tokens at the Entra simulator as a pod would.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { msiClient } from '../../../src/auth/arm.ts';
import type { AzureSession } from '../../../src/auth/login.ts';
import { IdentityError, ProofError, ensureIdentities, proveAccess } from '../../../src/identity/index.ts';
import { federatedCredentialName, roleAssignmentName } from '../../../src/identity/plan.ts';
import type { Manifest, TargetSpec } from '../../../src/manifest/types.ts';
import { describeVault, syncSecrets } from '../../../src/vault/index.ts';
import { armRecords, control, isWriteMethod, recordMark, world } from '../../support/sandbox.ts';
import { captureStdout, visibleLog } from '../../support/leaks.ts';
import { createTestVault, sandboxSession, type SessionVault } from '../../support/session.ts';
import { shortId } from '../../support/ids.ts';
import { startTestIssuer } from './sa-issuer.ts';
import type { TestIssuer } from './sa-issuer.ts';
import { manifestInstance } from '../../../src/manifest/instance.ts';
import type { VaultInfo } from '../../../src/keyvault/model.ts';

jest.setTimeout(180_000);

const SECRET_VALUE = `db-${Math.random().toString(36).slice(2)}-Qw8`;
const run = `t${shortId(4)}`;
const cluster = `c${run}`;
const NS = `pay-${run}`;
const NS_SECRET_SCOPE = `ps-${run}`;
const ID = `id-${cluster}-${NS}`;
const ID2 = `id-${cluster}-${NS_SECRET_SCOPE}`;

let session: AzureSession;
let tv: SessionVault;
let vault: VaultInfo;
let issuer: TestIssuer;
let capture: ReturnType<typeof captureStdout>;

function target(namespace: string, sa: string, identityName: string, over: Partial<TargetSpec> = {}): TargetSpec {
  return {
    namespace,
    createNamespace: true,
    serviceAccount: sa,
    identity: { mode: 'managed', name: identityName, resourceGroup: 'rg-ids', location: 'westeurope' },
    access: { scope: 'vault', role: 'Key Vault Secrets User' },
    secretProviderClass: `${namespace}-spc`,
    objects: [{ secret: 'db-password', objectType: 'secret' }],
    rotation: 'restart',
    ...over,
  };
}

function manifest(vaultName: string, targets: TargetSpec[]): Manifest {
  return {
    apiVersion: 'akv-aks/v1',
    instance: manifestInstance({ repository: 'contoso/tests', path: 'akv-aks.yaml', cluster: cluster }),
    vault: { name: vaultName, resourceGroup: 'rg-sandbox' },
    cluster: { name: cluster },
    identityDefaults: { resourceGroup: 'rg-ids', location: 'westeurope', tags: { env: 'test' } },
    secrets: [
      { name: 'db-password', source: { kind: 'env', env: 'DB_PASSWORD' }, tags: {}, adopt: false },
      { name: 'api-key', source: { kind: 'generate', length: 24, charset: 'hex' }, tags: {}, adopt: false },
    ],
    targets,
    prune: false,
    purge: false,
  };
}

const mainTargets = (): TargetSpec[] => [target(NS, 'api', ID), target(NS, 'worker', ID), target(NS_SECRET_SCOPE, 'reader', ID2, { access: { scope: 'secret', role: 'Key Vault Secrets User' } })];

const tokenFor = (ns: string, sa: string): Promise<string> => Promise.resolve(issuer.token(ns, sa));
const summary = (items: { kind: string; name: string; action: string }[]): string[] => items.map((i) => `${i.kind}:${i.name}:${i.action}`);

beforeAll(async () => {
  capture = captureStdout();
  issuer = await startTestIssuer();
  session = await sandboxSession();
  tv = await createTestVault(session, { rbac: true, prefix: 'kv-i-' });
  vault = await describeVault(session, manifest(tv.name, []));
  await syncSecrets(session, vault, manifest(tv.name, mainTargets()), { mode: 'apply', env: { DB_PASSWORD: SECRET_VALUE }, now: new Date() });
});

afterAll(async () => {
  capture?.stop();
  await tv?.remove();
  await issuer?.close();
});

describe('ensureIdentities + proveAccess (RBAC vault)', () => {
  it('plan mode lists identities, credentials and role assignments without an ARM write', async () => {
    const since = await recordMark();
    const r = await ensureIdentities(session, vault, manifest(tv.name, mainTargets()), { mode: 'plan', issuer: issuer.url });
    expect(summary(r.items)).toEqual([
      `identity:rg-ids/${ID}:create`,
      `federated-credential:${ID}/${cluster}-${NS}-api:create`,
      `federated-credential:${ID}/${cluster}-${NS}-worker:create`,
      `role-assignment:Key Vault Secrets User for ${ID} at vaults/${tv.name}:create`,
      `identity:rg-ids/${ID2}:create`,
      `federated-credential:${ID2}/${cluster}-${NS_SECRET_SCOPE}-reader:create`,
      `role-assignment:Key Vault Secrets User for ${ID2} at vaults/${tv.name}/secrets/db-password:create`,
    ]);
    expect(r.identities.map((i) => [i.namespace, i.name, i.clientId])).toEqual([
      [NS, ID, undefined],
      [NS_SECRET_SCOPE, ID2, undefined],
    ]);
    const writes = (await armRecords(since, ID, tv.name)).filter((x) => isWriteMethod(x.method));
    expect(writes).toEqual([]);
  });

  it('plan mode warns when a role cannot read what the target mounts (from the role definition ARM returns)', async () => {
    const keyTarget = target(NS, 'api', ID, {
      objects: [
        { secret: 'db-password', objectType: 'secret' },
        { secret: 'signing', objectType: 'key' },
      ],
    });
    const r = await ensureIdentities(session, vault, manifest(tv.name, [keyTarget]), { mode: 'plan', issuer: issuer.url });
    expect(r.warnings).toEqual([
      `${NS}: role "Key Vault Secrets User" does not grant Microsoft.KeyVault/vaults/keys/read, which the CSI provider needs to read key object(s) signing; ` +
        'unless the identity holds it from another grant, those mounts fail (a role that reads secrets, keys and certificates: "Key Vault Certificate User")',
    ]);
    const covered = target(NS, 'api', ID, { ...keyTarget, access: { scope: 'vault', role: 'Key Vault Certificate User' } });
    expect((await ensureIdentities(session, vault, manifest(tv.name, [covered]), { mode: 'plan', issuer: issuer.url })).warnings).toEqual([]);
    expect((await ensureIdentities(session, vault, manifest(tv.name, mainTargets()), { mode: 'plan', issuer: issuer.url })).warnings).toEqual([]);
  });

  it('apply creates them as planned, then the proof waits through the propagation delays and passes', async () => {
    const before = (await control<{ config: Record<string, number> }>('GET', '/config')).config;
    await control('PATCH', '/config', { ficPropagationMs: 3_000, rbacPropagationMs: 4_000 });
    let r;
    try {
      r = await ensureIdentities(session, vault, manifest(tv.name, mainTargets()), { mode: 'apply', issuer: issuer.url });
    } finally {
      await control('PATCH', '/config', { ficPropagationMs: before.ficPropagationMs ?? 0, rbacPropagationMs: before.rbacPropagationMs ?? 0 });
    }
    expect(r.items.filter((i) => i.action !== 'create')).toEqual([]);
    const w = await world();
    const id = w.identities.find((i) => i.name === ID);
    expect(id?.tags).toMatchObject({ 'managed-by': 'akv-aks-action', env: 'test' });
    const mine = r.identities.find((i) => i.namespace === NS);
    expect(mine).toMatchObject({ name: ID, clientId: id?.clientId, principalId: id?.principalId });
    expect(mine?.serviceAccounts).toEqual(['api', 'worker']);
    const fics = w.federatedCredentials.filter((f) => f.clientId === id?.clientId);
    expect(fics.map((f) => [f.name, f.issuer, f.subject]).sort()).toEqual([
      [federatedCredentialName(cluster, NS, 'api'), issuer.url, `system:serviceaccount:${NS}:api`],
      [federatedCredentialName(cluster, NS, 'worker'), issuer.url, `system:serviceaccount:${NS}:worker`],
    ]);
    const ras = (w.roleAssignments as { name: string; scope: string; principalId: string; principalType: string; roleDefinitionId: string }[]).filter(
      (a) => a.principalId === id?.principalId || a.principalId === r.identities.find((i) => i.namespace === NS_SECRET_SCOPE)?.principalId,
    );
    expect(ras.map((a) => [a.scope.toLowerCase(), a.principalType]).sort()).toEqual(
      [
        [tv.id.toLowerCase(), 'ServicePrincipal'],
        [`${tv.id}/secrets/db-password`.toLowerCase(), 'ServicePrincipal'],
      ].sort(),
    );
    for (const a of ras) expect(a.name).toBe(roleAssignmentName(a.scope, a.principalId, a.roleDefinitionId));

    const started = Date.now();
    await proveAccess(session, vault, manifest(tv.name, mainTargets()), r.identities, tokenFor, { timeoutMs: 60_000 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_500);
    const log = visibleLog(capture.text());
    expect(log).toMatch(new RegExp(`proof: ${NS}/api: (federation-mismatch|missing-role)`));
    expect(log).toMatch(new RegExp(`proof: ${NS}/api read 1 object\\(s\\)`));
  });

  it('a second apply writes nothing at ARM', async () => {
    const since = await recordMark();
    const r = await ensureIdentities(session, vault, manifest(tv.name, mainTargets()), { mode: 'apply', issuer: issuer.url });
    expect(r.items.filter((i) => i.action !== 'unchanged')).toEqual([]);
    expect(r.items).toHaveLength(7);
    const writes = (await armRecords(since, ID, tv.name)).filter((x) => isWriteMethod(x.method));
    expect(writes).toEqual([]);
  });

  it('a wrong issuer fails the proof naming both issuers; fixing it updates the credential in place', async () => {
    const wrong = `${issuer.url}/`;
    const m = manifest(tv.name, [target(NS, 'api', ID)]);
    const r = await ensureIdentities(session, vault, m, { mode: 'apply', issuer: wrong });
    expect(summary(r.items)).toContain(`federated-credential:${ID}/${cluster}-${NS}-api:update`);
    expect(r.items.find((i) => i.kind === 'federated-credential')?.reason).toBe('issuer differs');
    const err = await proveAccess(session, vault, m, r.identities, tokenFor, { timeoutMs: 2_500 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProofError);
    expect((err as ProofError).kind).toBe('federation-mismatch');
    const msg = (err as Error).message;
    expect(msg).toContain(`issuer ${JSON.stringify(issuer.url)}`);
    expect(msg).toContain(`issuer ${JSON.stringify(wrong)}`);
    expect(msg).toContain(`system:serviceaccount:${NS}:api`);

    const fixed = await ensureIdentities(session, vault, m, { mode: 'apply', issuer: issuer.url });
    expect(fixed.items.find((i) => i.kind === 'federated-credential')).toMatchObject({ action: 'update', reason: 'issuer differs' });
    await proveAccess(session, vault, m, fixed.identities, tokenFor, { timeoutMs: 30_000 });
  });

  it('a missing role is classified after the timeout', async () => {
    const m = manifest(tv.name, [target(NS, 'api', ID, { objects: [{ secret: 'api-key', objectType: 'secret' }] })]);
    // ID2 was granted db-password only (secret scope): reading api-key as ID2 must fail with a role problem
    const m2 = manifest(tv.name, [target(NS_SECRET_SCOPE, 'reader', ID2, { objects: [{ secret: 'api-key', objectType: 'secret' }] })]);
    const ids = (await ensureIdentities(session, vault, manifest(tv.name, mainTargets()), { mode: 'plan', issuer: issuer.url })).identities;
    const err = await proveAccess(session, vault, m2, ids, tokenFor, { timeoutMs: 2_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProofError);
    expect((err as ProofError).kind).toBe('missing-role');
    expect((err as Error).message).toMatch(/api-key/);
    // the vault-scope identity reads it fine
    await proveAccess(session, vault, m, ids, tokenFor, { timeoutMs: 10_000 });
  });

  it('checks the 20-credential budget before writing', async () => {
    const name = `id-budget-${shortId(4)}`;
    const msi = await msiClient(session);
    const id = await msi.userAssignedIdentities.createOrUpdate('rg-ids', name, { location: 'westeurope' });
    for (let i = 0; i < 19; i++) {
      await msi.federatedIdentityCredentials.createOrUpdate('rg-ids', name, `pre-${i}`, {
        issuer: issuer.url,
        subject: `system:serviceaccount:other:sa${i}`,
        audiences: ['api://AzureADTokenExchange'],
      });
    }
    const since = await recordMark();
    const m = manifest(tv.name, [
      target('budget', 'a', name, { identity: { mode: 'existing', name, resourceGroup: 'rg-ids' } }),
      target('budget', 'b', name, { identity: { mode: 'existing', name, resourceGroup: 'rg-ids' } }),
    ]);
    await expect(ensureIdentities(session, vault, m, { mode: 'apply', issuer: issuer.url })).rejects.toThrow(IdentityError);
    await expect(ensureIdentities(session, vault, m, { mode: 'apply', issuer: issuer.url })).rejects.toThrow(/21 federated credentials.*set `federation: binding`/);
    // plan warns instead, with the same suggestion
    const planned = await ensureIdentities(session, vault, m, { mode: 'plan', issuer: issuer.url });
    expect(planned.warnings.filter((w) => /21 federated credentials/.test(w))).toHaveLength(1);
    expect(planned.warnings.join('\n')).toContain('set `federation: binding`');
    // (the sandbox stamps a record after answering, so the last set-up write may carry a later time)
    const writes = (await armRecords(since, name)).filter((x) => isWriteMethod(x.method) && !/federatedIdentityCredentials\/pre-\d+\?/.test(x.path));
    expect(writes).toEqual([]);
    expect(id.clientId).toBeTruthy();
  });

  it('treats RoleAssignmentExists (by code) as success and honours ARM 429 Retry-After', async () => {
    const name = `id-ra-${shortId(4)}`;
    const m = manifest(tv.name, [target('raexists', 'sa', name)]);
    await control('POST', '/faults', {
      service: 'arm',
      method: 'PUT',
      pathPattern: `${tv.name}/providers/Microsoft.Authorization/roleAssignments`,
      times: 1,
      effect: { kind: 'status', status: 409, code: 'RoleAssignmentExists', message: 'The role assignment already exists.' },
    });
    await control('POST', '/faults', {
      service: 'arm',
      method: 'PUT',
      pathPattern: `${name}/federatedIdentityCredentials`,
      times: 1,
      effect: { kind: 'status', status: 429, code: 'TooManyRequests', retryAfterSeconds: 1 },
    });
    const started = Date.now();
    const r = await ensureIdentities(session, vault, m, { mode: 'apply', issuer: issuer.url });
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(r.items.map((i) => i.action)).toEqual(['create', 'create', 'create']);
    const w = await world();
    const ident = w.identities.find((i) => i.name === name);
    expect(w.federatedCredentials.filter((f) => f.clientId === ident?.clientId)).toHaveLength(1);
    const faults = await control<{ faults: { pathPattern?: string }[] }>('GET', '/faults');
    expect(faults.faults.filter((f) => f.pathPattern?.includes(name) || f.pathPattern?.includes(tv.name))).toEqual([]);
  });

  it('retries through eventual consistency: a new identity 404, a concurrent credential write 409, PrincipalNotFound', async () => {
    const name = `id-ec-${shortId(4)}`;
    const m = manifest(tv.name, [target('eventual', 'sa', name)]);
    const fic = `${name}/federatedIdentityCredentials`;
    await control('POST', '/faults', {
      service: 'arm',
      method: 'PUT',
      pathPattern: fic,
      times: 1,
      effect: { kind: 'status', status: 404, code: 'ParentResourceNotFound', message: 'parent not found' },
    });
    await control('POST', '/faults', {
      service: 'arm',
      method: 'PUT',
      pathPattern: fic,
      times: 1,
      effect: { kind: 'status', status: 409, code: 'ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity', message: 'Too many writes' },
    });
    await control('POST', '/faults', {
      service: 'arm',
      method: 'PUT',
      pathPattern: `${tv.name}/providers/Microsoft.Authorization/roleAssignments`,
      times: 1,
      effect: { kind: 'status', status: 400, code: 'PrincipalNotFound', message: 'Principal does not exist in the directory' },
    });
    const r = await ensureIdentities(session, vault, m, { mode: 'apply', issuer: issuer.url });
    expect(r.items.map((i) => `${i.kind}:${i.action}`)).toEqual(['identity:create', 'federated-credential:create', 'role-assignment:create']);
    const w = await world();
    const ident = w.identities.find((i) => i.name === name);
    expect(w.federatedCredentials.filter((f) => f.clientId === ident?.clientId)).toHaveLength(1);
    expect(w.roleAssignments.filter((a) => a.principalId === ident?.principalId)).toHaveLength(1);
    const left = await control<{ faults: { pathPattern?: string }[] }>('GET', '/faults');
    expect(left.faults.filter((f) => f.pathPattern?.includes(name) || f.pathPattern?.includes(tv.name))).toEqual([]);
  });

  it('kubelet mode: a grant for the kubelet identity (looked up by client id), no federation; external mode: grant only', async () => {
    const msi = await msiClient(session);
    const kubelet = await msi.userAssignedIdentities.createOrUpdate('rg-ids', `id-kubelet-${shortId(4)}`, { location: 'westeurope' });
    const ext = await msi.userAssignedIdentities.createOrUpdate('rg-ids', `id-ext-${shortId(4)}`, { location: 'westeurope' });
    const m = manifest(tv.name, [
      target('kube', 'unused', 'unused', { serviceAccount: undefined, identity: { mode: 'kubelet', clientId: kubelet.clientId ?? '' } }),
      target('ext', 'app', 'unused', { identity: { mode: 'external', clientId: ext.clientId ?? '', principalId: ext.principalId ?? '' } }),
    ]);
    const r = await ensureIdentities(session, vault, m, { mode: 'apply', issuer: issuer.url });
    expect(r.items.map((i) => `${i.kind}:${i.action}`)).toEqual(['role-assignment:create', 'role-assignment:create']);
    const w = await world();
    const granted = (w.roleAssignments as { principalId: string; scope: string }[]).filter((a) => a.scope.toLowerCase() === tv.id.toLowerCase());
    expect(granted.map((a) => a.principalId)).toEqual(expect.arrayContaining([kubelet.principalId, ext.principalId]));
    expect(r.identities.find((i) => i.namespace === 'kube')).toMatchObject({ mode: 'kubelet', clientId: kubelet.clientId, principalId: kubelet.principalId });
    const again = await ensureIdentities(session, vault, m, { mode: 'plan', issuer: issuer.url });
    expect(again.items.map((i) => i.action)).toEqual(['unchanged', 'unchanged']);
  });
});

describe('access-policy vault', () => {
  let legacy: SessionVault;
  let lv: VaultInfo;
  beforeAll(async () => {
    legacy = await createTestVault(session, { rbac: false, prefix: 'kv-ap-' });
    lv = await describeVault(session, manifest(legacy.name, []));
    await syncSecrets(session, lv, manifest(legacy.name, []), { mode: 'apply', env: { DB_PASSWORD: SECRET_VALUE }, now: new Date() });
  });
  afterAll(async () => {
    await legacy?.remove();
  });

  it('adds an access policy with get on secrets (certificates only when mounted), once; the proof passes', async () => {
    expect(lv.rbac).toBe(false);
    const name = `id-ap-${shortId(4)}`;
    const m = manifest(legacy.name, [target('ap', 'app', name)]);
    const r = await ensureIdentities(session, lv, m, { mode: 'apply', issuer: issuer.url });
    expect(r.items.map((i) => `${i.kind}:${i.action}:${i.reason ?? ''}`)).toEqual([
      `identity:create:in westeurope`,
      `federated-credential:create:subject system:serviceaccount:ap:app`,
      `access-policy:create:secrets: get`,
    ]);
    const w = await world();
    const pid = r.identities[0]?.principalId;
    const vaultRec = (w as unknown as { vaults: { name: string; accessPolicies: { objectId: string; permissions: Record<string, string[]> }[] }[] }).vaults.find((v) => v.name === legacy.name);
    expect(vaultRec?.accessPolicies.find((p) => p.objectId === pid)?.permissions).toMatchObject({ secrets: ['get'] });
    await proveAccess(session, lv, m, r.identities, tokenFor, { timeoutMs: 30_000 });

    const fresh = await describeVault(session, m);
    const again = await ensureIdentities(session, fresh, m, { mode: 'plan', issuer: issuer.url });
    expect(again.items.map((i) => i.action)).toEqual(['unchanged', 'unchanged', 'unchanged']);
    const withCert = manifest(legacy.name, [
      target('ap', 'app', name, {
        objects: [
          { secret: 'db-password', objectType: 'secret' },
          { secret: 'tls', objectType: 'cert' },
        ],
      }),
    ]);
    const more = await ensureIdentities(session, fresh, withCert, { mode: 'plan', issuer: issuer.url });
    expect(more.items.find((i) => i.kind === 'access-policy')).toMatchObject({ action: 'update', reason: 'certificates: get' });
  });
});

describe('logs', () => {
  it('never show a secret value', () => {
    const log = visibleLog(capture.text());
    expect(log).toContain('proof:');
    expect(log).not.toContain(SECRET_VALUE);
    expect(capture.text()).toContain(`::add-mask::${SECRET_VALUE}`);
  });
});
